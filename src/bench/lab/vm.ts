// `bench lab --vm`: the same benchmark inside the qemu VM (src/vm/qemu.ts),
// whose kernel (Debian's) has IP_VS. Every mode runs there on that one
// kernel, so ipvs is compared with the others on equal terms. The guest is
// emulated (TCG): its absolute rates are far below the host's; the ratios
// between modes are what the run is for.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../native/paths.js';
import { buildInitramfs, findVmKernel, missingVmCapability, prepareJobDir, runVm } from '../../vm/qemu.js';
import type { LabBenchOptions } from './options.js';
import type { LabBenchResult } from './report.js';

/** Flags for the guest's `bench lab`: everything explicit, so its defaults cannot differ from ours. */
export function guestArgs(o: LabBenchOptions): string[] {
  return [
    '--modes', o.modes.join(','), '--scales', o.scales.join(','), '--filler-endpoints', String(o.fillerEndpoints),
    '--duration', String(o.durationS), '--rounds', String(o.rounds), '--connections', String(o.connections),
    '--threads', String(o.threads), '--program-timeout', String(o.programTimeoutS), '--lab-name', o.labName,
  ];
}

/** An upper bound for the whole guest run: every programming may take its timeout, every measurement its length plus setup. */
export function vmTimeoutMs(o: LabBenchOptions): number {
  const proxies = o.modes.filter((m) => m !== 'direct').length;
  const perScale = proxies * (o.programTimeoutS + 60) + o.rounds * 2 * o.modes.length * (o.durationS + 30) + 120;
  return (600 + o.scales.length * perScale) * 1000;
}

const quote = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;

export async function runLabBenchInVm(o: LabBenchOptions): Promise<LabBenchResult> {
  const why = missingVmCapability();
  if (why) throw new Error(`--vm: ${why}`);
  if (spawnSync('wrk', ['--version']).error) throw new Error('--vm: wrk is not installed (apt-get install wrk); the guest runs the host\'s userland');
  const root = packageRoot();
  const kernel = findVmKernel()!;
  const cache = join(tmpdir(), 'ekp-vm-cache');
  mkdirSync(cache, { recursive: true });
  const initrd = buildInitramfs(kernel, join(cache, `initramfs-${kernel.version}.cpio`));
  const job = mkdtempSync(join(tmpdir(), 'ekp-vm-bench-'));
  const script = [
    '#!/bin/sh',
    `exec /bin/sh ${quote(join(root, 'scripts/vm/bench-guest.sh'))} ${quote(root)} ${quote(process.execPath)} lab ${[...guestArgs(o), '--out', '/run/ekp-vm/results'].map(quote).join(' ')}`,
    '',
  ].join('\n');
  const shares = prepareJobDir(job, root, script);
  const logFile = join(job, 'serial.log');
  const tty = process.stderr.isTTY === true;
  process.stderr.write(`bench lab --vm: booting Debian's ${kernel.version} under qemu (TCG); serial log ${logFile}\n`);
  const result = await runVm({
    kernel, initrd, shares, memoryMB: 8192, cpus: 2, timeoutMs: vmTimeoutMs(o), logFile,
    // The guest's progress lines are the run's progress bar.
    onLine: (l) => {
      if (l.startsWith('[')) process.stderr.write(tty ? `\r\x1b[K${l}` : `${l}\n`);
      else if (l.startsWith('EKP-VM') || l.startsWith('bench lab:')) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${l}\n`);
    },
  });
  const resultFile = join(job, 'result.json');
  const tail = result.log.split('\n').slice(-40).join('\n');
  if (result.timedOut) throw new Error(`the VM was still running after ${Math.round(vmTimeoutMs(o) / 1000)} s; serial log ${logFile}\n${tail}`);
  if (result.jobStatus !== 0 || !existsSync(resultFile)) throw new Error(`bench lab in the VM failed (exit ${result.jobStatus}); serial log ${logFile}\n${tail}`);
  const r = JSON.parse(readFileSync(resultFile, 'utf8')) as LabBenchResult;
  r.options.vm = true;
  rmSync(job, { recursive: true, force: true });
  return r;
}
