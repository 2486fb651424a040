import { native } from './binding.js';

export interface RunStats {
  runTimeNs: number;
  runCount: number;
}

/**
 * Turns on the kernel's per-program run-time accounting (BPF_ENABLE_STATS)
 * until the returned function is called. Counting costs a clock read per run,
 * so it stays on only while something measures.
 */
export function enableRunTimeStats(): () => void {
  const fd = native().enableRunTimeStats();
  let open = true;
  return () => {
    if (open) native().closeFd(fd);
    open = false;
  };
}

/** Cumulative run time and run count of program `id` (zero while stats are off). */
export function progRunStats(id: number): RunStats {
  if (!Number.isInteger(id) || id <= 0) throw new RangeError(`program id must be a positive integer, got ${id}`);
  const { runTimeNs, runCount } = native().progInfoById(id);
  return { runTimeNs, runCount };
}
