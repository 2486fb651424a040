// The netfilter modes' (nftables, iptables, ipvs) deletion of stale UDP conntrack entries, after
// each sync that reached the kernel. Two ways to find them, because their costs differ:
// - the diff (udp-conntrack.ts), after every sync: what this sync made stale, from what the
//   previous one wrote. It costs nothing and acts on an endpoint change at once, but cannot
//   see what changed before this process started (its first sync deletes nothing), nor an entry
//   a failed deletion left.
// - the reconciler (udp-reconcile.ts), kube-proxy's since v1.32: lists the UDP entries (one
//   `conntrack -L` per family that has UDP service ports) and deletes each one sent to a UDP
//   frontend and not answered by one of its endpoints. It reads the whole table, so it runs on
//   this process's first sync (after a restart: what changed while no proxy ran) and on every
//   full one: the tracker's periodic sync (every syncPeriod, 30 s by default), the one after a
//   failed apply, and a node change. The event-driven partial syncs in between have the diff.
//   kube-proxy runs it after every sync and dropped the diff; here an entry the diff missed
//   lives at most one syncPeriod.
// On a full sync the diff still goes first: only it knows the frontends that went away (a
// deleted Service, a removed external IP), which the reconciler, knowing today's alone, cannot
// see. The reconciler's metric counts the entries it deleted itself: what the diff did not see.
// TCP entries stay: established connections keep their backend.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredService } from '../model/index.js';
import type { Logger } from '../observe/index.js';
import { parseConntrackList } from './conntrack-list.js';
import { ReconcilerMetrics } from './reconciler-metrics.js';
import type { CommandResult, Runner } from './run.js';
import type { KernelMetric } from './types.js';
import { conntrackLine, UdpFlowHistory } from './udp-conntrack.js';
import { entryDeleteLine, staleUdpEntries } from './udp-reconcile.js';

export interface UdpSyncOptions {
  /** A full sync: read the conntrack table too (the process's first sync always does). */
  reconcile?: boolean;
}

/** Exit statuses of a tool that did not run at all (spawn's ENOENT, nsenter's 127). */
const cannotRun = (r: CommandResult) => r.status === null || r.status < 0 || r.status === 127;

/** Remembers the UDP service ports last synced, and deletes the entries a sync made stale (see above). */
export class UdpConntrackCleaner {
  private readonly history = new UdpFlowHistory();
  private readonly metrics = new ReconcilerMetrics();
  private batch = true;
  private reconciledOnce = false;
  private missingSaid = false;
  /** A failing listing is said once, and again only after one worked. */
  private listingSaid = false;

  constructor(private readonly run: Runner, private readonly log: Logger) {}

  /**
   * Call after `services` reached the kernel; `changed` is what the sync wrote ('all': every
   * service port). Returns the deletion lines it ran: the diff's, then the reconciler's.
   * Failures are logged, never thrown: the rules are in place, and the entries time out on their own.
   */
  async synced(services: Iterable<DesiredService>, changed: ReadonlySet<string> | 'all', opts: UdpSyncOptions = {}): Promise<string[]> {
    const all = [...services];
    const lines = [...new Set(this.history.synced(all, changed).map(conntrackLine))];
    if (lines.length) await this.delete(lines);
    if (opts.reconcile || !this.reconciledOnce) {
      this.reconciledOnce = true;
      lines.push(...await this.reconcile(all));
    }
    return lines;
  }

  /** kubeproxy_conntrack_reconciler_*, for the dataplane's kernelMetrics. */
  kernelMetrics(): Record<string, KernelMetric> {
    return this.metrics.kernelMetrics();
  }

  private async reconcile(services: DesiredService[]): Promise<string[]> {
    const out: string[] = [];
    for (const family of [4, 6] as const) {
      const udp = services.filter((s) => s.protocol === 'UDP' && s.family === family);
      // No UDP frontend of this family: no entry of it can be stale, and the listing is all the cost.
      if (udp.length === 0) continue;
      const t0 = performance.now();
      const argv = ['conntrack', '-L', '-p', 'udp', '-f', family === 4 ? 'ipv4' : 'ipv6'];
      const r = await this.run(argv);
      if (r.status !== 0) {
        if (!this.listingSaid) this.warn(r, argv.join(' '));
        this.listingSaid = true;
        continue;
      }
      this.listingSaid = false;
      const lines = [...new Set(staleUdpEntries(parseConntrackList(r.stdout), udp).map(entryDeleteLine))];
      const deleted = lines.length ? await this.delete(lines) : 0;
      this.metrics.reconciled(family, (performance.now() - t0) / 1000, deleted);
      out.push(...lines);
    }
    return out;
  }

  /** Runs the deletions; returns how many entries conntrack deleted (it prints each one). */
  private async delete(lines: string[]): Promise<number> {
    try {
      return await this.deleteLines(lines);
    } catch (e) {
      this.warn({ status: null, stdout: '', stderr: (e as Error).message }, 'conntrack');
      return 0;
    }
  }

  private async deleteLines(lines: string[]): Promise<number> {
    if (this.batch) {
      // One process for all of them (conntrack-tools 1.4.7+). From a file: `-R -` opens
      // /dev/stdin, which fails on the socket Node gives a child as its stdin.
      const dir = mkdtempSync(join(tmpdir(), 'ekp-conntrack-'));
      const file = join(dir, 'delete');
      try {
        writeFileSync(file, `${lines.join('\n')}\n`);
        const r = await this.run(['conntrack', '-R', file]);
        if (r.status === 0) return parseConntrackList(r.stdout).length;
        if (!/invalid option|unknown option|unrecognized option/i.test(r.stderr)) {
          this.warn(r, `conntrack -R (${lines.length} deletions)`);
          return parseConntrackList(r.stdout).length;
        }
        this.batch = false;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    let deleted = 0;
    for (const line of lines) {
      const r = await this.run(['conntrack', ...line.split(' ')]);
      deleted += parseConntrackList(r.stdout).length;
      // Exit 1 with "0 flow entries have been deleted" is the common case, not an error.
      if (r.status !== 0 && !(r.status === 1 && /0 flow entries/.test(r.stderr))) {
        this.warn(r, `conntrack ${line}`);
        break;
      }
    }
    return deleted;
  }

  private warn(r: CommandResult, command: string): void {
    // A conntrack that is not there is said once: the modes work without it.
    if (cannotRun(r) && this.missingSaid) return;
    if (cannotRun(r)) this.missingSaid = true;
    this.log.warn('UDP conntrack cleanup failed', { command, status: r.status, error: r.stderr.trim().slice(0, 500) });
  }
}
