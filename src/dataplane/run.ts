// Running a tool the netfilter modes drive: argv and stdin, never a shell; a result, never a throw.
import { spawn } from 'node:child_process';

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type Runner = (argv: string[], input?: string) => Promise<CommandResult>;

/**
 * A tool still running after this long is killed and its sync fails. EKP_COMMAND_TIMEOUT_S
 * raises it where everything is emulated: in `bench sync --vm`'s guest, ipvs mode's
 * `ipset restore` of 1,000 services outlasted 60 s.
 */
export function commandTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.EKP_COMMAND_TIMEOUT_S);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 60_000;
}

export const runCommand: Runner = (argv, input) =>
  new Promise((resolve) => {
    const r: CommandResult = { status: null, stdout: '', stderr: '' };
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      r.stderr = String(e);
      resolve(r);
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), commandTimeoutMs());
    child.stdout.setEncoding('utf8').on('data', (d: string) => (r.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (r.stderr += d));
    child.on('error', (e) => (r.stderr += String(e)));
    child.on('close', (status) => {
      clearTimeout(timer);
      r.status = status;
      resolve(r);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });

/** A runner that puts `prefix` before every command (tests: `nsenter --net=… --`). */
export function prefixedRunner(prefix: readonly string[], run: Runner = runCommand): Runner {
  return prefix.length ? (argv, input) => run([...prefix, ...argv], input) : run;
}
