// One benchmark suite run inside the qemu VM (src/vm/qemu.ts) through scripts/vm/bench-guest.sh:
// boot, show the guest's progress, read the suite's JSON result from the job share. Used by
// `bench lab --vm` and `bench sync --vm`.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native/paths.js';
import { buildInitramfs, findVmKernel, missingVmCapability, prepareJobDir, runVm } from '../vm/qemu.js';

const quote = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;

/** The job script: bench-guest.sh runs `bench SUITE ARGS --json` in the guest, with `env` exported. */
export function benchJobScript(root: string, node: string, suite: string, args: readonly string[], env: Record<string, string> = {}): string {
  const argv = [join(root, 'scripts/vm/bench-guest.sh'), root, node, suite, ...args];
  return ['#!/bin/sh', ...Object.entries(env).map(([k, v]) => `export ${k}=${v}`), `exec /bin/sh ${argv.map(quote).join(' ')}`, ''].join('\n');
}

export interface BenchVmJob {
  suite: string;
  args: readonly string[];
  env?: Record<string, string>;
  memoryMB: number;
  timeoutMs: number;
  /** A guest console line as the host shows it: a progress line (redrawn on a terminal), a line to keep, or nothing. */
  show(line: string): { text: string; keep: boolean } | null;
}

export async function runBenchInVm<T>(job: BenchVmJob): Promise<{ result: T; ms: number }> {
  const why = missingVmCapability();
  if (why) throw new Error(`--vm: ${why}`);
  const root = packageRoot();
  const kernel = findVmKernel()!;
  const cache = join(tmpdir(), 'ekp-vm-cache');
  mkdirSync(cache, { recursive: true });
  const initrd = buildInitramfs(kernel, join(cache, `initramfs-${kernel.version}.cpio`));
  const dir = mkdtempSync(join(tmpdir(), `ekp-vm-${job.suite}-`));
  const shares = prepareJobDir(dir, root, benchJobScript(root, process.execPath, job.suite, job.args, job.env));
  const logFile = join(dir, 'serial.log');
  const tty = process.stderr.isTTY === true;
  process.stderr.write(`bench ${job.suite} --vm: booting Debian's ${kernel.version} under qemu (TCG); serial log ${logFile}\n`);
  const vm = await runVm({
    kernel, initrd, shares, memoryMB: job.memoryMB, cpus: 2, timeoutMs: job.timeoutMs, logFile,
    onLine: (l) => {
      const s = job.show(l);
      if (!s) return;
      if (s.keep) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${s.text}\n`);
      else process.stderr.write(tty ? `\r\x1b[K${s.text}` : `${s.text}\n`);
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const resultFile = join(dir, 'result.json');
  const tail = vm.log.split('\n').slice(-40).join('\n');
  if (vm.timedOut) throw new Error(`the VM was still running after ${Math.round(job.timeoutMs / 1000)} s; serial log ${logFile}\n${tail}`);
  if (vm.jobStatus !== 0 || !existsSync(resultFile)) throw new Error(`bench ${job.suite} in the VM failed (exit ${vm.jobStatus}); serial log ${logFile}\n${tail}`);
  const result = JSON.parse(readFileSync(resultFile, 'utf8')) as T;
  rmSync(dir, { recursive: true, force: true });
  return { result, ms: vm.ms };
}
