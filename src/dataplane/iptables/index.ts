// The iptables mode: kube-proxy's iptables proxier, written from the shared desired state with one
// `iptables-restore --noflush` per family and sync. Full syncs read iptables-save (stale chains,
// missing jumps from the built-in chains) and rewrite every chain of ours; partial syncs rewrite the
// shared chains and only the changed services' own chains (KEP-3453), deleting the ones they no
// longer use. Established connections keep their backend through conntrack; UDP entries a sync
// made stale are deleted, and the tracker's full syncs reconcile the table (udp-cleaner.ts).
import { everyPort, FullSyncSchedule } from '../full-sync.js';
import type { DesiredService, IPFamily } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import type { Dataplane, DataplaneContext, KernelMetric, KernelSample } from '../types.js';
import { binaries, chainExists, commandRunner, detectBackend, restore, save, type Backend, type CommandRunner } from './exec.js';
import { KUBE_MASQ_OFF_CLUSTER, KUBE_NFACCT_PROBE, KUBE_PROXY_CANARY } from './names.js';
import {
  cidrHas, endpointCount, LARGE_CLUSTER_ENDPOINTS, LOCALNET_JUMPS, markOf, renderRestore, sameRules, sameShared, serviceRules,
  type GenOptions, type Jump, type ServiceRules,
} from './rules.js';
import { COUNTERS, kernelNfacct, type CounterKind, type Nfacct } from './nfacct.js';
import { cleanupRestore, missingJumps, parseSave, staleChains } from './save.js';
import { UdpConntrackCleaner } from '../udp-cleaner.js';

export { renderRestore, serviceRules, markOf, type ServiceRules } from './rules.js';
export type { Backend, CommandRunner } from './exec.js';

export interface IptablesOptions {
  /** Backend binaries; default: whatever detectBackend finds. */
  backend?: Backend;
  /** Run every command in this network namespace (a /run/netns path); default: our own. */
  netns?: string;
  /** Replaces command execution entirely (tests). */
  runner?: CommandRunner;
  /** The nfacct counters; default the kernel's (of `netns`), none with a runner of a test's. */
  nfacct?: Nfacct | null;
  /** Wall clock in ms, for FULL_SYNC_PERIOD_MS (tests). */
  now?: () => number;
}

interface FamilyState {
  /** What the kernel holds for each service port of this family, as last written. */
  rules: Map<string, ServiceRules>;
  comments: boolean;
  /** Whether we ever wrote this family (IPv6 is left alone until a Service has an IPv6 port). */
  written: boolean;
}

export interface SyncStats {
  family: IPFamily;
  full: boolean;
  servicesWritten: number;
  chains: number;
  rules: number;
  rulesByTable: { filter: number; nat: number };
  deleted: number;
  bytes: number;
  /** Rules and restore input built (without the iptables-save of a full sync). */
  generateMs: number;
  saveMs: number;
  restoreMs: number;
}

const familyOfKey = (key: string): IPFamily => (key.endsWith('@IPv6') ? 6 : 4);

/** The family's clusterCIDRs the masquerade rules test; an interface detector replaces them (and their KUBE-MASQ-OFF-CLUSTER chain). */
const masqClusterCIDRs = (services: readonly DesiredService[]): readonly string[] =>
  services[0]?.masquerade.podInterface ? [] : services[0]?.masquerade.clusterCIDRs ?? [];

// kube-proxy's fullSyncPeriod (../full-sync.ts). In between, a periodic sync (the tracker's 'all')
// rewrites only the service ports whose rules differ from what we wrote, as long as the canary
// chains are there: a full sync at 10,000 services reads and rewrites 320,000 rules.
const CANARY_TABLES = ['mangle', 'nat', 'filter'] as const;

export class IptablesDataplane implements Dataplane {
  readonly mode = 'iptables' as const;
  private readonly run: CommandRunner;
  private backend: Backend | null;
  private readonly families: Record<IPFamily, FamilyState> = {
    4: { rules: new Map(), comments: true, written: false },
    6: { rules: new Map(), comments: true, written: false },
  };
  private readonly udp: UdpConntrackCleaner;
  /** When a full sync is due (the clock is injectable for tests). */
  private readonly fullSyncs: FullSyncSchedule;
  private counters = { syncs: 0, partial: 0, failures: 0, partialFailures: 0 };
  /** Rules the last sync that wrote any wrote, by table, both families added up (kube-proxy has a proxier, and this gauge, per family). */
  private lastRules = { filter: 0, nat: 0 };
  /** Per-sync numbers of the last apply, for benchmarks and logs. */
  lastSync: SyncStats[] = [];
  /** IPv4 NodePorts on 127.0.0.1 as well (start decides: the setting, nodePortAddresses, route_localnet). */
  private localhostNodePorts = false;
  private readonly nfacct: Nfacct | null;
  /** The nfacct counters start made, which the rules feed and the metrics read. */
  private readonly counted = new Set<CounterKind>();

  constructor(private readonly ctx: DataplaneContext, opts: IptablesOptions = {}) {
    this.run = opts.runner ?? commandRunner(opts.netns);
    this.nfacct = opts.nfacct !== undefined ? opts.nfacct : opts.runner ? null : kernelNfacct(opts.netns);
    this.backend = opts.backend ?? null;
    this.udp = new UdpConntrackCleaner(this.run, ctx.log);
    this.fullSyncs = new FullSyncSchedule(opts.now);
  }

  get backendInUse(): Backend | null {
    return this.backend;
  }

  async start(): Promise<void> {
    this.backend ??= await detectBackend(this.run);
    const r = await this.run([binaries(this.backend, 4).restore, '--version']);
    if (r.status !== 0) throw new Error(`${binaries(this.backend, 4).restore} does not run: ${r.stderr.trim()}`);
    // Nothing is flushed here: the rules a previous instance left keep serving until the first
    // (full) sync rewrites them in one transaction.
    this.ctx.log.info('iptables backend', { backend: this.backend, version: (r.stdout || r.stderr).trim() });
    await this.enableLocalhostNodePorts();
    if (this.ensureCounters()) await this.probeNfacctMatch();
  }

  /**
   * kube-proxy's nfacct counters, for the metrics that count packets: both, as kube-proxy makes
   * them whatever localhostNodePorts says (without it the localhost one counts nothing, and its
   * metric stays where it was). A kernel without nfacct (nfnetlink_acct) goes without them: the
   * rules then carry no match, and the metrics are not reported, as kube-proxy does. Whether any
   * was made.
   */
  private ensureCounters(): boolean {
    if (!this.nfacct) return false;
    for (const kind of ['invalid', 'localhost'] as const) {
      try {
        this.nfacct.ensure(COUNTERS[kind].name);
        this.counted.add(kind);
      } catch (e) {
        this.ctx.log.info('nfacct counter unavailable: its metric is not reported', { counter: COUNTERS[kind].name, error: (e as Error).message });
      }
    }
    return this.counted.size > 0;
  }

  /**
   * The counters exist, but the rules that feed them need the nfacct match too (xt_nfacct in the
   * kernel, libxt_nfacct in iptables): without it every restore carrying one would fail, and the
   * mode with it. So a scratch chain with such a rule is written and deleted first; if the kernel
   * or iptables refuses it, the rules go without the match and the metrics without counts.
   * kube-proxy does not check this.
   */
  private async probeNfacctMatch(): Promise<void> {
    const counter = COUNTERS[[...this.counted][0]!].name;
    try {
      await restore(this.run, this.backend!, 4, `*filter\n:${KUBE_NFACCT_PROBE} - [0:0]\n-A ${KUBE_NFACCT_PROBE} -m nfacct --nfacct-name ${counter}\nCOMMIT\n`);
    } catch (e) {
      this.counted.clear();
      this.ctx.log.info('no nfacct match in iptables or the kernel: the packet-counting metrics are not reported', { error: (e as Error).message });
      return;
    } finally {
      // Deleted whatever happened (a leftover is ours: --cleanup removes it too).
      await restore(this.run, this.backend!, 4, `*filter\n:${KUBE_NFACCT_PROBE} - [0:0]\n-X ${KUBE_NFACCT_PROBE}\nCOMMIT\n`).catch(() => {});
    }
  }

  /**
   * kube-proxy's localhostNodePorts: a NodePort answers on 127.0.0.1 when nodePortAddresses leaves
   * loopback in (unset does; "primary" does not). A packet from 127.0.0.1 DNATed to a pod must be
   * let out through another device, which route_localnet (this namespace's, left on at exit, as
   * kube-proxy leaves it) allows; KUBE-FIREWALL drops the martians it would let in. Without the
   * sysctl there are no localhost NodePorts, said once; everything else is served.
   */
  private async enableLocalhostNodePorts(): Promise<void> {
    const { iptablesLocalhostNodePorts: wanted, nodePortAddresses: cidrs } = this.ctx.config;
    if (!wanted) return;
    // As kube-proxy decides it, for IPv4 alone: no IPv4 CIDR given means every address.
    const v4 = cidrs.filter((c) => !c.includes(':'));
    if (v4.length > 0 && !v4.some((c) => c !== 'primary' && (c.startsWith('127.') || cidrHas(c, '127.0.0.0')))) {
      this.ctx.log.info('localhost NodePorts off: nodePortAddresses leaves out 127.0.0.0/8', { nodePortAddresses: cidrs });
      return;
    }
    const r = await this.run(['sysctl', '-w', 'net.ipv4.conf.all.route_localnet=1']);
    if (r.status !== 0) {
      this.ctx.log.warn('localhost NodePorts off: cannot set net.ipv4.conf.all.route_localnet', { error: r.stderr.trim() });
      return;
    }
    this.localhostNodePorts = true;
  }

  /** Whether nodePortAddresses leaves `family` every local address: no CIDR of that family, and not "primary" (kube-proxy decides per family). */
  private everyLocalAddress(family: IPFamily): boolean {
    return !(this.ctx.config.nodePortAddresses ?? []).some((c) => c === 'primary' || (c.includes(':') ? 6 : 4) === family);
  }

  async apply(update: StateUpdate): Promise<void> {
    if (!this.backend) throw new Error('iptables dataplane not started');
    let changed = update.changed;
    if (changed === 'all' && !this.fullSyncs.due()) {
      // A periodic sync: every service port is compared with what we wrote, and only the ones
      // that differ are written, unless someone flushed the tables (the canaries are gone).
      const gone = await this.missingCanary();
      if (gone === null) changed = everyPort(update.state.services, this.families[4].rules.keys(), this.families[6].rules.keys());
      else this.ctx.log.info('iptables canary chain gone (tables flushed?): full sync', { missing: gone });
    }
    const full = changed === 'all' || this.fullSyncs.pending;
    const byFamily: Record<IPFamily, DesiredService[]> = { 4: [], 6: [] };
    for (const s of update.state.services.values()) byFamily[s.family].push(s);
    this.lastSync = [];
    const lastRules = { filter: 0, nat: 0 };
    let wrote = false;
    try {
      for (const family of [4, 6] as const) {
        const st = this.families[family];
        const services = byFamily[family];
        // IPv6 is left alone until it has a service, except that a full sync looks for leftovers.
        if (family === 6 && services.length === 0 && !st.written && !full) continue;
        const keys = full ? 'all' : new Set([...(changed as ReadonlySet<string>)].filter((k) => familyOfKey(k) === family));
        if (keys !== 'all' && keys.size === 0) continue;
        const stats = await this.syncFamily(family, services, keys);
        this.lastSync.push(stats);
        lastRules.filter += stats.rulesByTable.filter;
        lastRules.nat += stats.rulesByTable.nat;
        wrote ||= stats.bytes > 0;
      }
      // A sync that wrote nothing (a periodic one with no difference) keeps the last one's figure.
      if (wrote) this.lastRules = lastRules;
      this.fullSyncs.committed(full);
      await this.udp.synced(update.state.services.values(), full ? 'all' : changed, { reconcile: full || update.changed === 'all' });
      this.counters.syncs++;
      if (!full) this.counters.partial++;
    } catch (e) {
      this.fullSyncs.failed();
      throw e;
    }
    this.ctx.log.debug('iptables synced', { full, families: this.lastSync });
  }

  /** "FAMILY TABLE" of the first canary chain missing from a family we wrote, or null. */
  private async missingCanary(): Promise<string | null> {
    const checks = ([4, 6] as const).filter((f) => this.families[f].written)
      .flatMap((f) => CANARY_TABLES.map(async (t) => ((await chainExists(this.run, this.backend!, f, t, KUBE_PROXY_CANARY)) ? null : `IPv${f} ${t}`)));
    return (await Promise.all(checks)).find((x) => x !== null) ?? null;
  }

  /**
   * The mangle canary, which kube-proxy checks first, in a restore of its own after the full
   * sync's: nothing else of ours is in mangle, and a kernel without it (legacy backend, no
   * iptable_mangle) must not fail the sync. Without it every periodic sync is full.
   */
  private async mangleCanary(family: IPFamily): Promise<void> {
    try {
      await restore(this.run, this.backend!, family, `*mangle\n:${KUBE_PROXY_CANARY} - [0:0]\nCOMMIT\n`);
    } catch (e) {
      this.ctx.log.warn('cannot create the mangle canary chain: every periodic sync will be full', { family, error: (e as Error).message });
    }
  }

  private genOptions(family: IPFamily, comments: boolean): GenOptions {
    return { mark: markOf(this.ctx.config.masqueradeBit), comments, localhostCounter: family === 4 && this.localhostNodePorts && this.counted.has('localhost') };
  }

  private async syncFamily(family: IPFamily, services: DesiredService[], changed: ReadonlySet<string> | 'all'): Promise<SyncStats> {
    const backend = this.backend!;
    const st = this.families[family];
    const t0 = performance.now();
    const comments = endpointCount(services) <= LARGE_CLUSTER_ENDPOINTS;
    // Switching in or out of large-cluster mode changes every rule: write them all.
    if (comments !== st.comments && changed !== 'all') changed = 'all';
    const opts = this.genOptions(family, comments);
    let rules: Map<string, ServiceRules>;
    let deleteChains: string[];
    let jumps: readonly Jump[];
    // Partial syncs rewrite a table's shared chains only when a changed port's lines there differ.
    const shared = { filter: true, nat: true };
    let saveMs = 0;
    if (changed === 'all') {
      rules = new Map(services.map((s) => [s.key, serviceRules(s, opts)]));
      const ts = performance.now();
      let saved;
      try {
        saved = parseSave(await save(this.run, backend, family));
        saveMs = performance.now() - ts;
      } catch (e) {
        if (family === 6 && services.length === 0) return this.skipped(family);
        throw e;
      }
      const active = new Set<string>();
      for (const r of rules.values()) for (const c of r.chains.keys()) active.add(c);
      // The rules written below jump to it: a `-X` of it would fail the whole restore.
      if (masqClusterCIDRs(services).length > 1) active.add(KUBE_MASQ_OFF_CLUSTER);
      deleteChains = staleChains(saved, active);
      if (family === 6 && services.length === 0 && deleteChains.length === 0 && !saved.get('nat')?.chains.has('KUBE-SERVICES')) return this.skipped(family);
      jumps = missingJumps(saved, family === 4 && this.localhostNodePorts ? LOCALNET_JUMPS : []);
    } else {
      rules = new Map(st.rules);
      const byKey = new Map(services.map((s) => [s.key, s]));
      const gone = new Set<string>();
      const write = new Set<string>();
      shared.filter = false;
      shared.nat = false;
      for (const key of changed) {
        const s = byKey.get(key);
        const before = st.rules.get(key);
        const after = s ? serviceRules(s, opts) : undefined;
        // The kernel has exactly these rules already (a periodic sync, or a change that does not
        // show in the rules): nothing to write for this port.
        if (before && after && sameRules(before, after)) continue;
        if (!before && !after) continue;
        if (!sameShared('filter', before, after)) shared.filter = true;
        if (!sameShared('nat', before, after)) shared.nat = true;
        if (after) {
          rules.set(key, after);
          write.add(key);
        } else {
          rules.delete(key);
        }
        for (const c of before?.chains.keys() ?? []) if (!after?.chains.has(c)) gone.add(c);
      }
      if (write.size === 0 && gone.size === 0 && rules.size === st.rules.size) return this.unchanged(family, performance.now() - t0);
      // Keep key order: the rules are written from it (KUBE-SERVICES on the nft backend then re-sorted by jump target).
      rules = new Map([...rules].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
      deleteChains = [...gone].sort();
      jumps = [];
      changed = write;
    }
    const clusterCIDRs = masqClusterCIDRs(services);
    const { text, stats } = renderRestore({
      services: rules, write: changed, deleteChains, jumps, mark: opts.mark, clusterCIDRs, comments, dropInvalid: !this.ctx.conntrackTcpLiberal, countInvalid: this.counted.has('invalid'),
      listAll: changed === 'all' && backend === 'nft', descendingChains: backend === 'legacy', descendingTargets: backend === 'nft', canary: changed === 'all', shared,
      localhostNodePorts: family === 4 && this.localhostNodePorts,
      ...(this.everyLocalAddress(family) ? { nodePortsOnLocal: family } : {}),
    });
    const t2 = performance.now();
    try {
      await restore(this.run, backend, family, text);
    } catch (e) {
      // kube-proxy's restore failure counters: every failed iptables-restore, and those of partial writes.
      this.counters.failures++;
      if (changed !== 'all') this.counters.partialFailures++;
      throw e;
    }
    const t3 = performance.now();
    st.rules = rules;
    st.comments = comments;
    st.written = true;
    if (changed === 'all') await this.mangleCanary(family);
    return {
      family, full: changed === 'all', servicesWritten: changed === 'all' ? rules.size : changed.size,
      chains: stats.chains, rules: stats.rules, rulesByTable: stats.rulesByTable, deleted: stats.deleted, bytes: text.length,
      generateMs: t2 - t0 - saveMs, saveMs, restoreMs: t3 - t2,
    };
  }

  private skipped(family: IPFamily): SyncStats {
    return { family, full: true, servicesWritten: 0, chains: 0, rules: 0, rulesByTable: { filter: 0, nat: 0 }, deleted: 0, bytes: 0, generateMs: 0, saveMs: 0, restoreMs: 0 };
  }

  private unchanged(family: IPFamily, generateMs: number): SyncStats {
    return { family, full: false, servicesWritten: 0, chains: 0, rules: 0, rulesByTable: { filter: 0, nat: 0 }, deleted: 0, bytes: 0, generateMs, saveMs: 0, restoreMs: 0 };
  }

  async close(): Promise<void> {
    // The rules stay and keep serving; the next instance's first full sync adopts them.
  }

  kernelMetrics(): Record<string, KernelMetric> {
    const perTable = (table: 'filter' | 'nat'): number => {
      let n = 0;
      for (const f of [4, 6] as const) {
        for (const r of this.families[f].rules.values()) {
          n += table === 'nat'
            ? r.natServices.length + r.natNodePorts.length + [...r.chains.values()].reduce((a, c) => a + c.length, 0)
            : r.filterServices.length + r.filterExternal.length + r.filterNodePorts.length + r.filterFirewall.length;
        }
      }
      return n;
    };
    return {
      ...this.udp.kernelMetrics(),
      kubeproxy_sync_proxy_rules_iptables_total: {
        help: 'Service rules the iptables proxier wrote, by table', type: 'gauge',
        samples: (['filter', 'nat'] as const).map((t) => ({ labels: { table: t }, value: perTable(t) })),
      },
      kubeproxy_sync_proxy_rules_iptables_last: {
        help: 'Rules the last iptables sync wrote, by table', type: 'gauge',
        samples: (['filter', 'nat'] as const).map((t) => ({ labels: { table: t }, value: this.lastRules[t] })),
      },
      kubeproxy_sync_proxy_rules_iptables_restore_failures_total: {
        help: 'iptables-restore runs that failed', type: 'counter', samples: [{ labels: {}, value: this.counters.failures }],
      },
      kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total: {
        help: 'iptables-restore runs of partial syncs that failed', type: 'counter', samples: [{ labels: {}, value: this.counters.partialFailures }],
      },
      ekp_iptables_partial_syncs_total: {
        help: 'Syncs that wrote only the changed services\' chains', type: 'counter', samples: [{ labels: {}, value: this.counters.partial }],
      },
      ...Object.fromEntries([...this.counted].map((kind) => [COUNTERS[kind].metric, {
        help: COUNTERS[kind].help, type: 'counter' as const, samples: this.packets(kind),
      }])),
    };
  }

  /** A counter's one sample, or none when it cannot be read now (someone deleted it). */
  private packets(kind: CounterKind): KernelSample[] {
    try {
      return [{ labels: {}, value: this.nfacct!.packets(COUNTERS[kind].name) }];
    } catch {
      return [];
    }
  }
}

export async function createIptablesDataplane(ctx: DataplaneContext, opts: IptablesOptions = {}): Promise<Dataplane> {
  return new IptablesDataplane(ctx, opts);
}

/**
 * --cleanup: our chains and the jumps into them, in both backends and both families; nothing of a
 * user's own rules. (The nft backend leaves its then-empty nat and filter tables behind.)
 */
export async function cleanupIptables(_ctx: DataplaneContext, opts: Omit<IptablesOptions, 'backend'> & { backends?: Backend[] } = {}): Promise<string[]> {
  const run = opts.runner ?? commandRunner(opts.netns);
  const removed: string[] = [];
  for (const backend of opts.backends ?? (['nft', 'legacy'] as const)) {
    for (const family of [4, 6] as const) {
      let text: string;
      try {
        text = await save(run, backend, family);
      } catch {
        continue; // this backend or family is not usable here: nothing of ours in it either
      }
      const plan = cleanupRestore(parseSave(text));
      if (!plan) continue;
      await restore(run, backend, family, plan.text);
      removed.push(...plan.removed.map((r) => `${binaries(backend, family).save.replace(/-save$/, '')} ${r}`));
    }
  }
  return removed;
}
