// vitest's file order, with the VM test last: its guest has been running since the global setup
// (test/vm/global-setup.ts), and the test only waits for it, so every host file runs meanwhile.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The VM test, as the end of a spec's path. */
export const VM_TEST_FILE = '/test/vm/ipvs.test.ts';

export class VmLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isVm = (f: TestSpecification) => f.moduleId.endsWith(VM_TEST_FILE);
    return [...sorted.filter((f) => !isVm(f)), ...sorted.filter(isVm)];
  }
}
