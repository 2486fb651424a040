// vitest's global setup: a run that includes the VM test boots the VM at its start, so the
// guest's ~6 minutes under emulation pass beside the host's files (which run one at a time,
// leaving a core mostly idle) instead of after them. The sequencer (test/vm/sequencer.ts) runs
// the VM test last; it reads the guest's outcome from the job directory this provides.
// Runs that leave the VM test out (a file filter, a test name filter) boot nothing; the VM
// test run alone with -t boots its VM itself.
import type { TestProject } from 'vitest/node';
import { missingVmCapability } from '../../src/vm/qemu.js';
import { startGuestRun, type GuestRun } from './guest-run.js';
import { VM_TEST_FILE } from './sequencer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The job directory of the guest run the global setup started, or ''. */
    ekpVmJob: string;
  }
}

async function vmTestInRun(project: TestProject): Promise<boolean> {
  if (project.config.testNamePattern) return false;
  // The command line's file filters (vitest keeps them on the instance before the global setup runs).
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  const { testFiles } = await project.globTestFiles(filters);
  return testFiles.some((f) => f.endsWith(VM_TEST_FILE));
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  project.provide('ekpVmJob', '');
  // The guest's own vitest (EKP_IN_VM) runs the e2e files it is given, never this.
  if (process.env.EKP_IN_VM === '1' || missingVmCapability() !== null || !(await vmTestInRun(project))) return undefined;
  const run: GuestRun = startGuestRun({ dualStack: process.env.EKP_VM_IPV6 !== '0', filter: process.env.EKP_VM_FILTER, beside: true });
  project.provide('ekpVmJob', run.job);
  // A run that ends before the guest does (a bail, ^C) must not leave qemu behind.
  return () => run.stop();
}
