// nftables mode: tables `ip ekp-proxy` and `ip6 ekp-proxy` of our own, one atomic `nft -f -`
// transaction per sync, partial between full syncs (after a failure, and hourly). See ruleset.ts for the design. UDP conntrack
// entries a sync made stale are deleted after it, and the tracker's full syncs reconcile the table (udp-cleaner.ts).
import type { IPFamily } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import { everyPort, FullSyncSchedule } from '../full-sync.js';
import { prefixedRunner, type Runner } from '../run.js';
import type { Dataplane, DataplaneContext, KernelMetric } from '../types.js';
import { UdpConntrackCleaner } from '../udp-cleaner.js';
import { Nft, NftError } from './nft.js';
import { RulesetState } from './ruleset.js';

export { Nft, NftError } from './nft.js';
export { RulesetState, renderFull, TABLE } from './ruleset.js';

export interface NftablesOptions {
  /** Command prefix for nft and conntrack (tests: run them in another netns). */
  nftPrefix?: readonly string[];
  /** Runs conntrack (tests); default: spawn it, after nftPrefix. */
  run?: Runner;
  /** Wall clock in ms, for the full-sync period (tests). */
  now?: () => number;
}

export class NftablesDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  private readonly nft: Nft;
  private readonly rules: RulesetState;
  private syncs = { full: 0, partial: 0, failures: 0 };
  private reported = new Set<string>();
  private readonly udp: UdpConntrackCleaner;
  private readonly fullSyncs: FullSyncSchedule;
  /** Our tables after the last full sync: one gone since means someone flushed it. */
  private written = new Set<IPFamily>();

  constructor(private readonly ctx: DataplaneContext, opts: NftablesOptions = {}) {
    this.fullSyncs = new FullSyncSchedule(opts.now);
    this.nft = new Nft(opts.nftPrefix ?? []);
    this.rules = new RulesetState({ masqueradeBit: ctx.config.masqueradeBit });
    this.udp = new UdpConntrackCleaner(opts.run ?? prefixedRunner(opts.nftPrefix ?? []), ctx.log);
  }

  async start(): Promise<void> {
    // Nothing to load: what a previous instance left keeps serving until our first (full) sync
    // rewrites it in one transaction. Check that nft works at all.
    const r = await this.nft.run(['--version']);
    if (r.code !== 0) throw new Error(`nft does not run: ${r.stderr.trim()}`);
    const tables = await this.nft.listTables();
    this.ctx.log.info('nftables ready', { version: r.stdout.trim(), adopted: [4, 6].filter((f) => tables[f as 4 | 6] !== null).map((f) => `ip${f === 4 ? '' : '6'}`) });
  }

  async apply(update: StateUpdate): Promise<void> {
    let changed = update.changed;
    // The ServiceCIDRs' drop is a rule of a chain every table has, which only a full sync writes.
    const cidrsChanged = this.rules.serviceCIDRsDiffer(update.state);
    if (changed === 'all' && this.rules.hasSynced && !this.fullSyncs.due() && !cidrsChanged) {
      // A periodic sync between full ones (../full-sync.ts): every service port, and only the
      // elements that differ from what we wrote go into the transaction, unless a table we
      // made is gone (deleted, or `nft flush ruleset`): then the full sync rebuilds it. Rules
      // removed from a table that is still there wait for the hourly full sync, as in kube-proxy.
      const present = await this.nft.ourTables();
      const gone = [...this.written].filter((f) => !present.has(f));
      if (gone.length === 0) changed = everyPort(update.state.services, this.rules.programmedKeys());
      else this.ctx.log.info('nftables table gone (deleted or ruleset flushed?): full sync', { families: gone.map((f) => `ip${f === 4 ? '' : '6'}`) });
    }
    const full = changed === 'all' || !this.rules.hasSynced || cidrsChanged;
    const t0 = performance.now();
    const tx = full
      ? this.rules.full(update.state, await this.nft.listTables())
      : this.rules.partial(update.state, changed as ReadonlySet<string>);
    for (const p of tx.problems) {
      if (this.reported.has(p)) continue;
      this.reported.add(p);
      this.ctx.log.warn('service port not fully programmed', { problem: p });
    }
    if (this.reported.size > 10_000) this.reported.clear();
    if (tx.text !== '') {
      try {
        await this.nft.apply(tx.text);
      } catch (e) {
        // A refused transaction, as kube-proxy's sync_proxy_rules_nftables_sync_failures_total counts.
        this.syncs.failures++;
        this.fullSyncs.failed();
        throw e;
      }
    }
    tx.commit();
    this.fullSyncs.committed(full);
    if (full) this.written = await this.nft.ourTables();
    await this.udp.synced(update.state.services.values(), full ? 'all' : update.changed, { reconcile: full || update.changed === 'all' });
    if (full) this.syncs.full++;
    else this.syncs.partial++;
    this.ctx.log.debug('nftables transaction applied', { full, ms: Math.round(performance.now() - t0), bytes: tx.text.length, ...tx.stats });
  }

  async close(): Promise<void> {
    // The tables stay: the kernel keeps serving until the next instance rewrites them.
  }

  kernelMetrics(): Record<string, KernelMetric> {
    return {
      ...this.udp.kernelMetrics(),
      kubeproxy_sync_proxy_rules_nftables_sync_failures_total: {
        help: 'nftables syncs that failed', type: 'counter', samples: [{ labels: {}, value: this.syncs.failures }],
      },
      ekp_nftables_transactions_total: {
        help: 'nftables transactions, by kind (full, partial) and failures',
        type: 'counter',
        samples: [
          { labels: { kind: 'full' }, value: this.syncs.full },
          { labels: { kind: 'partial' }, value: this.syncs.partial },
          { labels: { kind: 'failed' }, value: this.syncs.failures },
        ],
      },
    };
  }
}

export async function createNftablesDataplane(ctx: DataplaneContext, opts: NftablesOptions = {}): Promise<Dataplane> {
  return new NftablesDataplane(ctx, opts);
}

/**
 * --cleanup and mode switches: our two tables go; nothing else is looked at. One listing
 * first: every start of another mode runs this, and finds nothing nearly always.
 */
export async function cleanupNftables(_ctx: DataplaneContext, opts: NftablesOptions = {}): Promise<string[]> {
  const nft = new Nft(opts.nftPrefix ?? []);
  // A machine without nft has nothing of ours to remove; nft refusing to list (no nf_tables, no
  // CAP_NET_ADMIN) is an error the caller says.
  const ours = await nft.ourTables().catch((e: unknown) => {
    if (e instanceof NftError) throw e;
    return null;
  });
  if (!ours?.size) return [];
  return nft.deleteTables();
}
