// Running the tools ipvs mode drives (ipvsadm, ipset, iptables, ip): argv and stdin, never a shell.
import { spawn } from 'node:child_process';

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type Runner = (argv: string[], input?: string) => Promise<CommandResult>;

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
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
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

export class CommandError extends Error {
  constructor(argv: string[], r: CommandResult, input?: string) {
    const firstBad = input ? ` (input: ${input.split('\n').slice(0, 3).join(' | ')}${input.split('\n').length > 3 ? ' …' : ''})` : '';
    super(`${argv.join(' ')}: ${r.status === null ? 'could not run' : `exit ${r.status}`}: ${(r.stderr || r.stdout).trim().slice(0, 1000)}${firstBad}`);
    this.name = 'CommandError';
  }
}

/** Runs and returns stdout; throws CommandError unless it exits 0. */
export async function mustRun(run: Runner, argv: string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.status !== 0) throw new CommandError(argv, r, input);
  return r.stdout;
}
