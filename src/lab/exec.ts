// Running commands: argv arrays, never a shell; inside a lab namespace with
// nsenter --net (not `ip netns exec`, which mounts a fresh /sys and hides bpffs
// pins and cgroup2 from what it starts).
import { spawn } from 'node:child_process';
import type { Host } from './types.js';

export interface RunResult {
  argv: string[];
  /** Exit status; null when killed by a signal or the command could not start. */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string;
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export class LabCommandError extends Error {
  readonly result: RunResult;
  constructor(result: RunResult) {
    const why = result.timedOut
      ? 'timed out'
      : result.status === null
        ? result.signal
          ? `killed by ${result.signal}`
          : 'could not start'
        : `exit ${result.status}`;
    const out = (result.stderr.trim() || result.stdout.trim()).slice(0, 2000);
    super(`${result.argv.join(' ')}: ${why}${out ? `: ${out}` : ''}`);
    this.name = 'LabCommandError';
    this.result = result;
  }
}

/** A small, predictable environment for what the lab runs (no NODE_OPTIONS from a test runner). */
export function labEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
}

export function tryRun(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const result: RunResult = { argv, status: null, signal: null, stdout: '', stderr: '', timedOut: false };
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    } catch (err) {
      result.stderr = String(err);
      resolve(result);
      return;
    }
    const timer = setTimeout(() => {
      result.timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (result.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (result.stderr += d));
    child.on('error', (err) => {
      result.stderr += String(err);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      result.status = status;
      result.signal = signal;
      resolve(result);
    });
    child.stdin.on('error', () => {}); // EPIPE when the command exits without reading
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs argv; resolves to stdout, rejects with LabCommandError unless it exits 0. */
export async function run(argv: string[], opts: RunOptions = {}): Promise<string> {
  const r = await tryRun(argv, opts);
  if (r.status !== 0) throw new LabCommandError(r);
  return r.stdout;
}

/** argv prefix that runs a command inside a host's (or a netns path's) network namespace. */
export function nsenterArgv(where: Host | string, argv: string[]): string[] {
  return ['nsenter', `--net=${netnsPathOf(where)}`, '--', ...argv];
}

/** The namespace file of a host, a netns name or a path. */
export function netnsPathOf(where: Host | string): string {
  return typeof where === 'string' ? (where.startsWith('/') ? where : `/run/netns/${where}`) : where.netnsPath;
}

/** Runs argv inside the host's network namespace; stdout, or a LabCommandError. */
export function execIn(where: Host | string, argv: string[], opts: RunOptions = {}): Promise<string> {
  return run(nsenterArgv(where, argv), opts);
}

/** Like execIn, but resolves with the full result whatever the exit status. */
export function tryExecIn(where: Host | string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return tryRun(nsenterArgv(where, argv), opts);
}

/** `ip -n <netns> -batch -` with the script on stdin. */
export function ipBatch(netns: string | null, script: string): Promise<string> {
  const argv = netns ? ['ip', '-n', netns, '-batch', '-'] : ['ip', '-batch', '-'];
  return run(argv, { input: script, env: labEnv() });
}

/** `sysctl -e -q -w …` inside a namespace (-e: keys absent on this kernel are skipped). */
export function sysctlIn(where: Host | string, settings: string[]): Promise<string> {
  if (!settings.length) return Promise.resolve('');
  return execIn(where, ['sysctl', '-e', '-q', '-w', ...settings], { env: labEnv() });
}
