// ipvs mode against a real IPVS kernel. This machine's kernel has no IP_VS (nor dummy
// interfaces), so the test boots Debian's packaged kernel in qemu (TCG), runs the host's own
// userland inside it (src/vm/qemu.ts), and there runs test/e2e/ipvs.test.ts: the same
// scenario table every mode runs, in ipvs mode, in a lab of network namespaces inside the
// guest (dual-stack), plus `auto` falling back to ipvs when loading BPF is refused, and what
// upstream kube-proxy's ipvs mode left removed at start; ipvs with pods
// on a bridge (test/e2e/bridge-cni.test.ts); the guest side of
// `bench sync --vm`; and test/e2e/bpf-kernel.test.ts, every BPF object loaded and run on the guest's
// kernel (Debian 12's 6.1, which no other test reaches). vitest's JSON report comes
// back through a writable 9p share; the serial log is kept next to it.
//
// The global setup (test/vm/global-setup.ts) boots the VM at the start of a run that includes
// this file, and the sequencer runs this file last: it then only waits for the guest's outcome.
// Run with a test name filter (-t), it boots the VM itself.
//
// Locally a machine without qemu or the kernel package skips with the reason; with CI set it
// fails. EKP_VM_KEEP=1 keeps the job directory (serial log, report) after a pass too.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { BPF_KERNEL_TESTS } from '../e2e/bpf-kernel-tests.js';
import { SCENARIOS } from '../e2e/scenarios.js';
import { missingVmCapability } from '../../src/vm/qemu.js';
import { awaitGuestResult, startGuestRun, VM_TIMEOUT_MS } from './guest-run.js';

interface VitestJson {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { name: string; status: string; message?: string; assertionResults: { title: string; fullName: string; status: string; failureMessages: string[] }[] }[];
}

const why = missingVmCapability();
const dualStack = process.env.EKP_VM_IPV6 !== '0';
const vmIt = why === null ? it : process.env.CI ? it : it.skip;

describe('ipvs mode in a qemu VM with a real IPVS kernel', () => {
  vmIt(`runs the e2e scenario table in ipvs mode inside the guest${why ? ` (skipped: ${why})` : ''}`, async () => {
    if (why) throw new Error(`${why}: required in CI`);
    // EKP_VM_FILTER: only the guest tests whose name matches (vitest -t), for working on one scenario.
    const filter = process.env.EKP_VM_FILTER;
    const setupError = inject('ekpVmError');
    if (setupError) throw new Error(`the global setup could not start the VM: ${setupError}`);
    const early = inject('ekpVmJob');
    const run = early ? null : startGuestRun({ dualStack, filter });
    const job = early || run!.job;
    const result = run ? await run.done : await awaitGuestResult(job, VM_TIMEOUT_MS + 60_000);
    const where = `serial log: ${join(job, 'serial.log')}`;
    if (!result) throw new Error(`no outcome from the guest run the global setup started; ${where}`);
    if (result.error) throw new Error(`the VM run failed: ${result.error}; ${where}`);
    const { tail } = result;
    expect(result.timedOut, `VM still running after ${VM_TIMEOUT_MS / 1000} s; ${where}\n${tail}`).toBe(false);
    const reportFile = join(job, 'vitest.json');
    expect(existsSync(reportFile), `no vitest report from the guest; ${where}\n${tail}`).toBe(true);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJson;
    const tests = report.testResults.flatMap((f) => f.assertionResults);
    const failed = tests.filter((t) => t.status !== 'passed' && !(filter && t.status === 'skipped'));
    const summary = `guest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped; boot ${Math.round(result.bootMs / 1000)} s, total ${Math.round(result.ms / 1000)} s${early ? ' (started by the global setup)' : ''}`;
    console.log(`ipvs VM: ${summary}`);
    expect(failed.map((t) => `${t.fullName}: ${t.status}\n${t.failureMessages.join('\n').slice(0, 1500)}`), `${summary}; ${where}`).toEqual([]);
    // A file that failed outside its tests (an import, a hook) has no failed test to show.
    const badFiles = report.testResults.filter((f) => f.status !== 'passed' && !(filter && f.status === 'skipped')).map((f) => `${f.name}: ${f.status} ${f.message ?? ''}`.slice(0, 1500));
    expect(badFiles, `${summary}; ${where}`).toEqual([]);
    // Every scenario ipvs can express ran (dual-stack lab), and the auto fallback.
    const expected = SCENARIOS.filter((s) => !s.notIn?.includes('ipvs') && (!s.needsIPv6 || dualStack)).map((s) => s.name);
    if (!filter) {
      expect(tests.filter((t) => t.status === 'passed').map((t) => t.title)).toEqual(expect.arrayContaining(expected));
      expect(tests.some((t) => t.title.startsWith('picks ipvs') && t.status === 'passed')).toBe(true);
      expect(tests.some((t) => t.title.startsWith('is removed at our start') && t.status === 'passed')).toBe(true);
      expect(tests.some((t) => t.title === 'measures ipvs at 10 services' && t.status === 'passed')).toBe(true);
      expect(tests.some((t) => t.title.startsWith('ipvs: a pod reaches ClusterIPs on its own bridge') && t.status === 'passed')).toBe(true);
      // Every BPF object loaded and run on the guest's kernel: each of those tests ran and passed.
      const bpf = Object.values(BPF_KERNEL_TESTS);
      expect(bpf.filter((title) => !tests.some((t) => t.title === title && t.status === 'passed')), `BPF on the guest's kernel; ${where}`).toEqual([]);
    }
    expect(result.jobStatus, `${summary}; ${where}`).toBe(0);
    if (process.env.EKP_VM_KEEP !== '1') rmSync(job, { recursive: true, force: true });
  }, VM_TIMEOUT_MS + 120_000);
});
