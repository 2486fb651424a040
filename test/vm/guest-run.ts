// One run of the guest job (scripts/vm/ipvs-guest.sh) in the qemu VM, started by whoever comes
// first: the global setup (test/vm/global-setup.ts) at the start of a run that includes the VM
// test, so the VM works beside the host's files, or the VM test itself when it runs alone.
// The outcome lands in the job directory as result.json, which a test in another worker can read.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInitramfs, findVmKernel, prepareJobDir, runVm } from '../../src/vm/qemu.js';

const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
/** The guest runs under software emulation, beside the host's own tests: give the whole run this long. */
export const VM_TIMEOUT_MS = 20 * 60_000;

export interface GuestResult {
  timedOut: boolean;
  /** The job's exit status, null if it never said. */
  jobStatus: number | null;
  /** Boot to the job, and the whole run. */
  bootMs: number;
  ms: number;
  /** The serial log's last lines, for a failure message. */
  tail: string;
  /** The run itself failed (qemu would not start, the result could not be written). */
  error?: string;
}

export interface GuestRun {
  job: string;
  /** Kills qemu if it is still running. */
  stop(): void;
  done: Promise<GuestResult>;
}

const RESULT = 'result.json';
/** result.json once the VM test has read it: a rerun must not take it for a new outcome. */
const READ = 'result.read.json';

/**
 * Boots the VM and runs the guest job; result.json appears in the job directory when it ends.
 * `beside`: the host's test files run meanwhile. qemu then gets a higher priority: the guest's
 * time limits (a request's 2 s, a sync's 30 s) are a few times what its steps take under
 * emulation, the host's a hundred times, so the host is the side that can wait. At equal
 * priority a guest sync once took over 10 s.
 */
export function startGuestRun(opts: { dualStack: boolean; filter?: string; beside?: boolean }): GuestRun {
  const kernel = findVmKernel();
  if (!kernel) throw new Error('no VM kernel (missingVmCapability says why)');
  const cache = join(tmpdir(), 'ekp-vm-cache');
  mkdirSync(cache, { recursive: true });
  const t0 = Date.now();
  const initrd = buildInitramfs(kernel, join(cache, `initramfs-${kernel.version}.cpio`));
  const job = mkdtempSync(join(tmpdir(), 'ekp-vm-job-'));
  const quote = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const script = [
    '#!/bin/sh',
    ...(process.env.CI ? [`export CI=${quote(process.env.CI)}`] : []),
    // The dual-stack lab and the IPv6 scenarios.
    ...(opts.dualStack ? ['export EKP_IPVS_IPV6=1'] : []),
    `exec /bin/sh ${quote(`${ROOT}/scripts/vm/ipvs-guest.sh`)} ${quote(ROOT)} ${quote(process.execPath)}${opts.filter ? ` -t ${quote(opts.filter)}` : ''}`,
    '',
  ].join('\n');
  const shares = prepareJobDir(job, ROOT, script);
  let booted = 0;
  const ac = new AbortController();
  const done = runVm({
    kernel, initrd, shares, memoryMB: 3072, cpus: 2, timeoutMs: VM_TIMEOUT_MS, logFile: join(job, 'serial.log'), signal: ac.signal,
    ...(opts.beside ? { niceness: -5 } : {}),
    onLine: (l) => {
      if (!booted && l.startsWith('EKP-VM: booted')) booted = Date.now() - t0;
    },
  }).then(
    (r): GuestResult => ({ timedOut: r.timedOut, jobStatus: r.jobStatus, bootMs: booted, ms: r.ms, tail: r.log.split('\n').slice(-80).join('\n') }),
    (e: unknown): GuestResult => ({ timedOut: false, jobStatus: null, bootMs: booted, ms: Date.now() - t0, tail: '', error: String(e) }),
  ).then((result) => {
    // Whole or not at all: a test in another process polls for the file.
    try {
      writeFileSync(join(job, `${RESULT}.tmp`), JSON.stringify(result));
      renameSync(join(job, `${RESULT}.tmp`), join(job, RESULT));
    } catch {
      // the job directory is gone (the run was stopped and cleaned up)
    }
    return result;
  });
  return { job, done, stop: () => ac.abort() };
}

/** Waits for the result of a run another process started (its job directory), and marks it read. */
export async function awaitGuestResult(job: string, timeoutMs: number): Promise<GuestResult | null> {
  const file = join(job, RESULT);
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const result = JSON.parse(readFileSync(file, 'utf8')) as GuestResult;
  renameSync(file, join(job, READ));
  return result;
}

/** Whether the VM test has read this run's outcome. */
export function outcomeRead(job: string): boolean {
  return existsSync(join(job, READ));
}
