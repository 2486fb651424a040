// Running system commands from tests: argv arrays, never a shell, and failures
// that say what ran and what it printed.
import { spawnSync } from 'node:child_process';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function tryRun(argv: string[], input?: string): RunResult {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, timeout: 30_000 });
  return { status: r.error ? null : r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? String(r.error ?? '') };
}

export function run(argv: string[], input?: string): string {
  const r = tryRun(argv, input);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
