import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private bpffs for a benchmark run: nothing lands in /sys/fs/bpf, and unmounting removes it all. */
export function scratchBpffs(): { path: string; dispose(): void } {
  // The pid in the name lets a parent clean up after a worker it had to kill.
  const path = mkdtempSync(join(tmpdir(), `ekp-bench-bpffs-${process.pid}-`));
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', path], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    throw new Error(`cannot mount a scratch bpffs at ${path}: ${r.stderr || r.error?.message}`);
  }
  return {
    path,
    dispose() {
      spawnSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function progress(msg: string): void {
  process.stderr.write(`\r\x1b[K${msg}`);
}

/** Removes what a killed worker (pid) left: its scratch bpffs mounts. */
export function cleanupScratch(pid: number): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(`ekp-bench-bpffs-${pid}-`)) continue;
    const path = join(tmpdir(), name);
    spawnSync('umount', [path]);
    rmSync(path, { recursive: true, force: true });
  }
}
