// ipvs mode against a real IPVS kernel. This machine's kernel has no IP_VS (nor dummy
// interfaces), so the test boots Debian's packaged kernel in qemu (TCG), runs the host's own
// userland inside it (test/vm/qemu.ts), and there runs test/e2e/ipvs.test.ts: the same
// scenario table every mode runs, in ipvs mode, in a lab of network namespaces inside the
// guest (dual-stack), plus `auto` falling back to ipvs when loading BPF is refused; ipvs with pods
// on a bridge (test/e2e/bridge-cni.test.ts); the guest side of
// `bench sync --vm`; and test/e2e/bpf-kernel.test.ts, every BPF object loaded and run on the guest's
// kernel (Debian 12's 6.1, which no other test reaches). vitest's JSON report comes
// back through a writable 9p share; the serial log is kept next to it.
//
// Locally a machine without qemu or the kernel package skips with the reason; with CI set it
// fails. EKP_VM_KEEP=1 keeps the job directory (serial log, report) after a pass too.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPF_KERNEL_TESTS } from '../e2e/bpf-kernel-tests.js';
import { SCENARIOS } from '../e2e/scenarios.js';
import { buildInitramfs, findVmKernel, missingVmCapability, prepareJobDir, runVm } from '../../src/vm/qemu.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/** The guest runs under software emulation: give the whole run this long. */
const VM_TIMEOUT_MS = 12 * 60_000;

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
    const kernel = findVmKernel()!;
    const cache = join(tmpdir(), 'ekp-vm-cache');
    mkdirSync(cache, { recursive: true });
    const t0 = Date.now();
    const initrd = buildInitramfs(kernel, join(cache, `initramfs-${kernel.version}.cpio`));
    const job = mkdtempSync(join(tmpdir(), 'ekp-vm-job-'));
    // EKP_VM_FILTER: only the guest tests whose name matches (vitest -t), for working on one scenario.
    const filter = process.env.EKP_VM_FILTER;
    const quote = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
    const script = [
      '#!/bin/sh',
      ...(process.env.CI ? [`export CI=${quote(process.env.CI)}`] : []),
      // The dual-stack lab and the IPv6 scenarios, unless EKP_VM_IPV6=0.
      ...(dualStack ? ['export EKP_IPVS_IPV6=1'] : []),
      `exec /bin/sh ${quote(`${ROOT}/scripts/vm/ipvs-guest.sh`)} ${quote(ROOT)} ${quote(process.execPath)}${filter ? ` -t ${quote(filter)}` : ''}`,
      '',
    ].join('\n');
    const shares = prepareJobDir(job, ROOT, script);
    const logFile = join(job, 'serial.log');
    let booted = 0;
    const result = await runVm({
      kernel, initrd, shares, memoryMB: 3072, cpus: 2, timeoutMs: VM_TIMEOUT_MS, logFile,
      onLine: (l) => {
        if (!booted && l.startsWith('EKP-VM: booted')) booted = Date.now() - t0;
      },
    });
    const tail = result.log.split('\n').slice(-80).join('\n');
    const where = `serial log: ${logFile}`;
    expect(result.timedOut, `VM still running after ${VM_TIMEOUT_MS / 1000} s; ${where}\n${tail}`).toBe(false);
    const reportFile = join(job, 'vitest.json');
    expect(existsSync(reportFile), `no vitest report from the guest; ${where}\n${tail}`).toBe(true);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as VitestJson;
    const tests = report.testResults.flatMap((f) => f.assertionResults);
    const failed = tests.filter((t) => t.status !== 'passed' && !(filter && t.status === 'skipped'));
    const summary = `guest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped; boot ${Math.round(booted / 1000)} s, total ${Math.round(result.ms / 1000)} s`;
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
