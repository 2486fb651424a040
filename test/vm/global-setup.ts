// vitest's global setup: a run that includes the VM test boots the VM at its start, so the
// guest's 6–10 minutes under emulation pass beside the host's files (which run one at a time,
// leaving a core mostly idle) instead of after them. The sequencer (test/vm/sequencer.ts) runs
// the VM test last; it reads the guest's outcome from the job directory this provides.
// Runs that may leave the VM test out (a test name filter, --changed, --related, --shard) boot
// nothing here; the VM test, if it runs in them, boots its VM itself.
import { existsSync, rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { missingVmCapability } from '../../src/vm/qemu.js';
import { outcomeRead, startGuestRun, type GuestRun } from './guest-run.js';
import { VM_TEST_FILE } from './sequencer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The job directory of the guest run the global setup started, or ''. */
    ekpVmJob: string;
    /** Why the global setup could not start it, or ''. */
    ekpVmError: string;
  }
}

async function vmTestInRun(project: TestProject): Promise<boolean> {
  const c = project.vitest.config;
  if (c.testNamePattern || c.changed || c.related?.length || c.shard) return false;
  // The command line's file filters (vitest keeps them on the instance before the global setup runs).
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  const { testFiles } = await project.globTestFiles(filters);
  return testFiles.some((f) => f.endsWith(VM_TEST_FILE));
}

export default async function setup(project: TestProject): Promise<(() => void) | undefined> {
  project.provide('ekpVmJob', '');
  project.provide('ekpVmError', '');
  if (!(await vmTestInRun(project)) || missingVmCapability() !== null) return undefined;
  let run: GuestRun;
  try {
    run = startGuestRun({ dualStack: process.env.EKP_VM_IPV6 !== '0', filter: process.env.EKP_VM_FILTER, beside: true });
  } catch (e) {
    // The VM test fails with this; every other file still runs.
    project.provide('ekpVmError', (e as Error).stack ?? String(e));
    return undefined;
  }
  project.provide('ekpVmJob', run.job);
  // A rerun in watch mode boots a VM of its own: this one's outcome is spent.
  project.onTestsRerun(() => project.provide('ekpVmJob', ''));
  return () => {
    // A run that ends before the guest does (a bail, ^C) must not leave qemu behind, nor a job
    // directory the VM test never read (one it read is its to keep or remove).
    run.stop();
    if (!outcomeRead(run.job) && existsSync(run.job)) rmSync(run.job, { recursive: true, force: true });
  };
}
