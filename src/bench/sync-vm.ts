// `bench sync --vm`: the same benchmark inside the qemu VM (src/vm/qemu.ts), whose kernel
// (Debian's) has IP_VS. Every mode runs there on that one kernel, interleaved as on the host,
// so ipvs is compared with the others on equal terms. The guest is emulated (TCG): its times
// are far above the host's; the comparison between modes is what the run is for.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native/paths.js';
import { buildInitramfs, findVmKernel, missingVmCapability, prepareJobDir, runVm } from '../vm/qemu.js';
import { syncGuestArgs, syncVmTimeoutMs, type SyncBenchOptions } from './sync-options.js';
import type { SyncBenchReport } from './sync-report.js';

const quote = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;

/** The job script: scripts/vm/bench-guest.sh runs `bench sync` with these flags and --json. */
export function syncJobScript(root: string, node: string, o: SyncBenchOptions): string {
  const argv = [join(root, 'scripts/vm/bench-guest.sh'), root, node, 'sync', ...syncGuestArgs(o)];
  // Every tool a mode runs is emulated too: give each the worker's whole timeout, not 60 s.
  return ['#!/bin/sh', `export EKP_COMMAND_TIMEOUT_S=${o.timeoutS}`, `exec /bin/sh ${argv.map(quote).join(' ')}`, ''].join('\n');
}

export async function runSyncBenchInVm(o: SyncBenchOptions): Promise<SyncBenchReport> {
  const why = missingVmCapability();
  if (why) throw new Error(`--vm: ${why}`);
  const root = packageRoot();
  const kernel = findVmKernel()!;
  const cache = join(tmpdir(), 'ekp-vm-cache');
  mkdirSync(cache, { recursive: true });
  const initrd = buildInitramfs(kernel, join(cache, `initramfs-${kernel.version}.cpio`));
  const job = mkdtempSync(join(tmpdir(), 'ekp-vm-sync-'));
  const shares = prepareJobDir(job, root, syncJobScript(root, process.execPath, o));
  const logFile = join(job, 'serial.log');
  const tty = process.stderr.isTTY === true;
  const timeoutMs = syncVmTimeoutMs(o);
  process.stderr.write(`bench sync --vm: booting Debian's ${kernel.version} under qemu (TCG); serial log ${logFile}\n`);
  const result = await runVm({
    kernel, initrd, shares, memoryMB: 4096, cpus: 2, timeoutMs, logFile,
    // The guest's progress lines ("sync: ipvs at 1000 services…") are the run's progress.
    onLine: (l) => {
      const text = l.replace(/^.*\r?\x1b\[K/, '');
      if (text.startsWith('sync:') || text.startsWith('EKP-VM') || text.startsWith('bench sync:')) process.stderr.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const resultFile = join(job, 'result.json');
  const tail = result.log.split('\n').slice(-40).join('\n');
  if (result.timedOut) throw new Error(`the VM was still running after ${Math.round(timeoutMs / 1000)} s; serial log ${logFile}\n${tail}`);
  if (result.jobStatus !== 0 || !existsSync(resultFile)) throw new Error(`bench sync in the VM failed (exit ${result.jobStatus}); serial log ${logFile}\n${tail}`);
  const r = JSON.parse(readFileSync(resultFile, 'utf8')) as SyncBenchReport;
  r.notes.push(`the VM run took ${Math.round(result.ms / 1000)} s (boot included)`);
  rmSync(job, { recursive: true, force: true });
  return r;
}
