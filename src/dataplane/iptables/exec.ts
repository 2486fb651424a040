// Running iptables-save and iptables-restore: argument arrays and stdin, never a shell. A netns
// option runs them through nsenter (tests and benchmarks; the daemon already runs in its netns).
import { spawn } from 'node:child_process';
import type { IPFamily } from '../../model/index.js';

export type Backend = 'nft' | 'legacy';

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Drop stdout as it arrives (a restore's listing of a whole table); `stdout` comes back empty. */
  discardStdout?: boolean;
}

export type CommandRunner = (argv: readonly string[], stdin?: string, opts?: RunOptions) => Promise<CommandResult>;

/** Spawns argv (inside `netns`, a /run/netns path, when given), feeds stdin, collects the output. */
export function commandRunner(netns?: string): CommandRunner {
  return (argv, stdin, opts) => new Promise((resolve) => {
    const full = netns ? ['nsenter', `--net=${netns}`, '--', ...argv] : [...argv];
    const child = spawn(full[0]!, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => {
      if (!opts?.discardStdout) out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => resolve({ status: null, stdout: '', stderr: e.message }));
    child.on('close', (code) => resolve({ status: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    // A restore that fails early closes its stdin; the exit status tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}

export function binaries(backend: Backend, family: IPFamily): { cmd: string; save: string; restore: string } {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  return { cmd: `${base}-${backend}`, save: `${base}-${backend}-save`, restore: `${base}-${backend}-restore` };
}

/** Whether `chain` exists in `table` (`iptables -S CHAIN`: with nft, it fetches that chain alone). */
export async function chainExists(run: CommandRunner, backend: Backend, family: IPFamily, table: string, chain: string): Promise<boolean> {
  const r = await run([binaries(backend, family).cmd, ...(backend === 'legacy' ? ['-w', '5'] : []), '-t', table, '-S', chain], undefined, { discardStdout: true });
  return r.status === 0;
}

export async function save(run: CommandRunner, backend: Backend, family: IPFamily, table?: string): Promise<string> {
  const r = await run([binaries(backend, family).save, ...(table ? ['-t', table] : [])]);
  if (r.status !== 0) throw new Error(`${binaries(backend, family).save} failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** One `iptables-restore --noflush`; on failure the error names the offending line. */
export async function restore(run: CommandRunner, backend: Backend, family: IPFamily, input: string): Promise<void> {
  const bin = binaries(backend, family).restore;
  // The legacy backend serializes writers through the xtables lock; nft has its own transactions.
  const r = await run([bin, '--noflush', ...(backend === 'legacy' ? ['-w', '5'] : [])], input, { discardStdout: true });
  if (r.status === 0) return;
  const err = r.stderr.trim();
  const m = /line:? (\d+)/i.exec(err);
  const at = m ? `\n  line ${m[1]}: ${input.split('\n')[Number(m[1]) - 1] ?? '?'}` : '';
  throw new Error(`${bin} failed (${r.status}): ${err}${at}`);
}

/** Which backend is usable and which already holds our rules; `EKP_IPTABLES_BACKEND` (nft|legacy) overrides. */
export async function detectBackend(run: CommandRunner): Promise<Backend> {
  const forced = process.env.EKP_IPTABLES_BACKEND;
  if (forced === 'nft' || forced === 'legacy') return forced;
  const probe = async (b: Backend) => {
    const r = await run([binaries(b, 4).save]);
    return { ok: r.status === 0, kube: r.status === 0 ? (r.stdout.match(/^:KUBE-/gm) ?? []).length : 0 };
  };
  const [nft, legacy] = [await probe('nft'), await probe('legacy')];
  // Like iptables-wrapper: keep to the backend our (or kubelet's) rules are already in; else prefer nft.
  if (legacy.ok && legacy.kube > nft.kube) return 'legacy';
  if (nft.ok) return 'nft';
  if (legacy.ok) return 'legacy';
  throw new Error('neither iptables-nft-save nor iptables-legacy-save works here');
}
