// The tools ipvs mode drives (ipvsadm, ipset, iptables, ip): a failure as an error naming the command.
import type { CommandResult, Runner } from '../run.js';

export { runCommand, type CommandResult, type Runner } from '../run.js';

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
