// ipvs mode: kube-proxy's IPVS design on our desired state.
//
//   ekp-ipvs0 (dummy)   holds every ClusterIP, external IP and load-balancer IP, so IPVS sees
//                       their packets at LOCAL_IN (NodePorts are on the node's own addresses)
//   IPVS                one virtual server per frontend address:port/protocol, masq forwarding,
//                       the configured scheduler, -p <timeout> for ClientIP affinity, weight 1
//                       per endpoint; a removed TCP endpoint goes to weight 0 and is deleted
//                       once IPVS counts no connection on it (UDP/SCTP ones at once)
//   ipset + iptables    a constant set of rules over EKP-* sets: masquerade (hairpin, off-cluster
//                       ClusterIP sources, eTP Cluster external traffic), source ranges, REJECT
//                       or DROP for frontends without endpoints (see rules.ts)
//
// Every sync reads the kernel (`ipvsadm -Sn`, `ipset save`, the device's addresses) and writes
// only the difference: `ipset -exist restore`, `ipvsadm --restore` and `ip -batch` on stdin;
// the rules are rewritten with `iptables-restore --noflush` when they change and on full syncs.
// Then the UDP conntrack entries the sync made stale are deleted, and on the tracker's full syncs
// the table is reconciled (udp-cleaner.ts).
// Nothing is flushed at start or removed at stop, so a restarted proxy adopts what is there and
// established connections never notice; --cleanup removes all of it.
import { existsSync, realpathSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { IPFamily } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import type { Dataplane, DataplaneContext, KernelMetric } from '../types.js';
import { UdpConntrackCleaner } from '../udp-cleaner.js';
import { mustRun, runCommand, type Runner } from './exec.js';
import { diffIpsets, parseIpsetSave, type KernelSet } from './ipset.js';
import { deleteAll, diffIpvs, parseIpvsConnections, parseIpvsSave, type KernelVirtualServer } from './ipvsadm.js';
import { CHAINS, IPVS_DEVICE, isOurSet, setName } from './names.js';
import { buildPlan, ipPortEntry, type IpvsPlan } from './plan.js';
import { cleanupRestore, missingJumps, outFirewallRestore, rulesRestore, type Jump } from './rules.js';
import { writeSysctl } from '../sysctl.js';

export { IPVS_DEVICE } from './names.js';

/** How often draining real servers are looked at between syncs. */
const DRAIN_CHECK_MS = 10_000;

type Backend = 'nft' | 'legacy';

function iptablesBin(family: IPFamily, backend: Backend, tool: '' | '-save' | '-restore'): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}-${backend}${tool}`;
}

/** Whether the system's `iptables` command (the first found; Debian's alternatives symlink) is iptables-legacy. */
export function systemIptablesIsLegacy(): boolean {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    try {
      return /legacy/.test(realpathSync(`${dir}/iptables`));
    } catch {
      // not here
    }
  }
  return false;
}

/**
 * Which iptables backend to program: the one already holding our chains, else the one the
 * system's `iptables` command is (Debian's alternatives symlink), else nft where it works, else
 * legacy (a kernel without nf_tables). Also returns the chosen backend's IPv4 `-save` output when
 * it was read, for the first sync to reuse.
 */
export async function chooseBackend(run: Runner): Promise<{ backend: Backend; save?: string }> {
  const r = await run([iptablesBin(4, 'nft', '-save')]);
  if (r.status === 0 && r.stdout.includes(`:${CHAINS.nat.services} `)) return { backend: 'nft', save: r.stdout };
  // Legacy tables exist only once the legacy modules are in use.
  if (existsSync('/proc/net/ip_tables_names')) {
    const l = await run([iptablesBin(4, 'legacy', '-save')]);
    if (l.status === 0 && l.stdout.includes(`:${CHAINS.nat.services} `)) return { backend: 'legacy', save: l.stdout };
  }
  if (systemIptablesIsLegacy()) return { backend: 'legacy' };
  if (r.status === 0) return { backend: 'nft', save: r.stdout };
  const legacy = await run([iptablesBin(4, 'legacy', '-save')]);
  if (legacy.status === 0) return { backend: 'legacy', save: legacy.stdout };
  return { backend: 'nft' }; // neither reads: the first sync says why
}

interface DeviceState {
  up: boolean;
  /** Addresses, no link-local ones. */
  addresses: Set<string>;
}

/** The device, or null when it does not exist. */
async function readDevice(run: Runner): Promise<DeviceState | null> {
  const r = await run(['ip', '-j', 'addr', 'show', 'dev', IPVS_DEVICE]);
  if (r.status !== 0) return null;
  const links = JSON.parse(r.stdout || '[]') as { flags?: string[]; addr_info?: { local?: string; scope?: string }[] }[];
  const addresses = new Set<string>();
  for (const link of links) {
    for (const a of link.addr_info ?? []) if (a.local && a.scope !== 'link') addresses.add(a.local);
  }
  return { up: links.some((l) => l.flags?.includes('UP')), addresses };
}

/** A virtual server on one of our VIPs, or on a node address:port we recorded in a NODE-PORT set. */
function ownership(vips: ReadonlySet<string>, sets: ReadonlyMap<string, KernelSet>, plan?: IpvsPlan) {
  return (vs: KernelVirtualServer): boolean => {
    if (vips.has(vs.address) || plan?.vips.has(vs.address)) return true;
    const entry = ipPortEntry(vs.address, vs.protocol, vs.port);
    return (['nodePort', 'nodePortLocal'] as const).some((k) => sets.get(setName(k, vs.family))?.entries.has(entry) || plan?.sets.get(setName(k, vs.family))?.has(entry));
  };
}

/** Waits for every step (none is left running behind a failure), then throws the first error. */
async function settled(steps: (Promise<unknown> | null)[]): Promise<void> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

class IpvsDataplane implements Dataplane {
  readonly mode = 'ipvs' as const;
  private backend: Backend = 'nft';
  private lastRules = new Map<IPFamily, string>();
  /** Families whose mangle table refused the out firewall: said once. */
  private readonly outFirewallRefused = new Set<IPFamily>();
  /** `iptables-save` output read at start, used once by the first sync. */
  private savedV4: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private lastUpdate: StateUpdate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reported = new Set<string>();
  private stats = { virtualServers: 0, realServers: 0, draining: 0, vips: 0 };

  private readonly run: Runner;
  private readonly sysctl: (path: string, value: string) => string | null;
  private readonly udp: UdpConntrackCleaner;

  constructor(private readonly ctx: DataplaneContext, host: IpvsHost = {}) {
    this.run = host.run ?? runCommand;
    this.sysctl = host.writeSysctl ?? writeSysctl;
    this.udp = new UdpConntrackCleaner(this.run, ctx.log);
  }

  async start(): Promise<void> {
    const { log, config } = this.ctx;
    // ipvsadm loads ip_vs itself (modprobe) when the kernel does not know it yet.
    if (!existsSync('/proc/net/ip_vs')) await mustRun(this.run, ['ipvsadm', '-Ln']);
    const problems = [
      // IPVS connections get conntrack entries, so iptables can masquerade them.
      this.sysctl('/proc/sys/net/ipv4/vs/conntrack', '1'),
      // A deleted real server's remaining flows end at their next packet instead of hanging.
      this.sysctl('/proc/sys/net/ipv4/vs/expire_nodest_conn', '1'),
      this.sysctl('/proc/sys/net/ipv4/vs/expire_quiescent_template', '1'),
      ...(config.ipvsStrictARP
        ? [this.sysctl('/proc/sys/net/ipv4/conf/all/arp_ignore', '1'), this.sysctl('/proc/sys/net/ipv4/conf/all/arp_announce', '2')]
        : []),
    ].filter((p): p is string => p !== null);
    if (problems.length) log.warn('cannot set ipvs sysctls', { problems });
    const { tcpS, tcpFinS, udpS } = config.ipvsTimeouts;
    if (tcpS || tcpFinS || udpS) {
      // Per network namespace; a 0 leaves that one as the kernel has it. kube-proxy logs and goes on too.
      const r = await this.run(['ipvsadm', '--set', String(tcpS), String(tcpFinS), String(udpS)]);
      if (r.status !== 0) log.warn('cannot set the ipvs timeouts', { tcpTimeout: tcpS, tcpFinTimeout: tcpFinS, udpTimeout: udpS, error: r.stderr.trim() });
    }
    // The device is made by the first sync, which reads it anyway.
    const chosen = await chooseBackend(this.run);
    this.backend = chosen.backend;
    if (chosen.save !== undefined) this.savedV4 = chosen.save;
    log.info('ipvs dataplane ready', { device: IPVS_DEVICE, iptables: this.backend, scheduler: config.ipvsScheduler });
    this.timer = setInterval(() => {
      if (this.stats.draining > 0 && this.lastUpdate) {
        void this.serial(() => this.sync(this.lastUpdate!, false)).catch((e) => log.warn('ipvs drain check failed', { error: (e as Error).message }));
      }
    }, DRAIN_CHECK_MS);
    this.timer.unref();
  }

  apply(update: StateUpdate): Promise<void> {
    return this.serial(() => this.sync(update, update.changed === 'all'));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // Wait for a sync in flight; everything stays in the kernel, serving.
    await this.queue.catch(() => {});
  }

  kernelMetrics(): Record<string, KernelMetric> {
    const s = this.stats;
    return {
      ...this.udp.kernelMetrics(),
      ekp_ipvs_virtual_servers: { help: 'IPVS virtual servers programmed (one per frontend address:port)', type: 'gauge', samples: [{ labels: {}, value: s.virtualServers }] },
      ekp_ipvs_real_servers: {
        help: 'IPVS real servers, by state (draining: removed endpoints at weight 0 until their connections end)',
        type: 'gauge',
        samples: [{ labels: { state: 'active' }, value: s.realServers }, { labels: { state: 'draining' }, value: s.draining }],
      },
      ekp_ipvs_addresses: { help: `Addresses on ${IPVS_DEVICE}`, type: 'gauge', samples: [{ labels: {}, value: s.vips }] },
    };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  /** Creates the device and brings it up, as needed; returns its addresses. */
  private async ensureDevice(dev: DeviceState | null): Promise<Set<string>> {
    if (dev?.up) return dev.addresses;
    const lines = [...(dev ? [] : [`link add ${IPVS_DEVICE} type dummy`]), `link set dev ${IPVS_DEVICE} up`];
    await mustRun(this.run, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
    if (!dev) this.ctx.log.info('created the ipvs device', { device: IPVS_DEVICE });
    return dev?.addresses ?? new Set();
  }

  private async sync(update: StateUpdate, full: boolean): Promise<void> {
    const { config, log } = this.ctx;
    const run = this.run;
    this.lastUpdate = update;
    const plan = buildPlan(update.state, { scheduler: config.ipvsScheduler, localAddresses: deviceAddresses() });
    for (const s of plan.skipped) {
      if (!this.reported.has(s)) log.warn('frontend not programmed', { reason: s });
    }
    this.reported = new Set(plan.skipped);

    const [setsText, ipvsText, dev] = await Promise.all([
      mustRun(run, ['ipset', 'save']),
      mustRun(run, ['ipvsadm', '-Sn']),
      readDevice(run),
    ]);
    const vips = await this.ensureDevice(dev);
    const kernelSets = parseIpsetSave(setsText);
    const kernelIpvs = parseIpvsSave(ipvsText);

    // 1. Sets gain their new entries before anything refers to them.
    const sets = diffIpsets(kernelSets, plan.sets);
    if (sets.before.length) await mustRun(run, ['ipset', '-exist', 'restore'], `${sets.before.join('\n')}\n`);

    // 2. Rules, new VIPs (so IPVS sees their packets locally), virtual and real servers: these
    //    only need the sets, not each other.
    const isOurs = ownership(vips, kernelSets, plan);
    let diff = diffIpvs(kernelIpvs, plan.virtualServers, { isOurs });
    if (diff.draining.length) {
      const conns = parseIpvsConnections(await mustRun(run, ['ipvsadm', '-Ln']));
      diff = diffIpvs(kernelIpvs, plan.virtualServers, { isOurs, connections: conns });
    }
    const addLines = [...plan.vips].filter((a) => !vips.has(a)).map((a) => `addr add ${a}/${a.includes(':') ? '128 nodad' : '32'} dev ${IPVS_DEVICE}`);
    await settled([
      this.writeRules(plan, full),
      addLines.length ? mustRun(run, ['ip', '-force', '-batch', '-'], `${addLines.join('\n')}\n`) : null,
      diff.commands.length ? mustRun(run, ['ipvsadm', '--restore'], `${diff.commands.join('\n')}\n`) : null,
    ]);

    // 3. VIPs and set entries nothing refers to any more.
    const delLines = [...vips].filter((a) => !plan.vips.has(a)).map((a) => `addr del ${a}/${a.includes(':') ? '128' : '32'} dev ${IPVS_DEVICE}`);
    await settled([
      delLines.length ? mustRun(run, ['ip', '-force', '-batch', '-'], `${delLines.join('\n')}\n`) : null,
      sets.after.length ? mustRun(run, ['ipset', '-exist', 'restore'], `${sets.after.join('\n')}\n`) : null,
    ]);

    // Every sync reconciles the whole plan, so every service port is compared; the conntrack
    // table is read on full syncs (not the drain checks).
    await this.udp.synced(update.state.services.values(), 'all', { reconcile: full });

    let reals = 0;
    for (const vs of plan.virtualServers.values()) reals += vs.reals.length;
    this.stats = { virtualServers: plan.virtualServers.size, realServers: reals, draining: diff.draining.length, vips: plan.vips.size };
    if (diff.commands.length || sets.added || sets.deleted || addLines.length || delLines.length) {
      log.debug('ipvs synced', { full, ...diff.counts, draining: diff.draining.length, setAdds: sets.added, setDeletes: sets.deleted, vipAdds: addLines.length, vipDeletes: delLines.length });
    }
  }

  /**
   * The source ranges for this node's own connections (mangle), in a restore of their own: a
   * kernel without the mangle table (legacy backend, no iptable_mangle) serves everything else,
   * and lets the node past the ranges, as kube-proxy's ipvs mode did before KUBE-IPVS-OUT-FILTER.
   */
  private async writeOutFirewall(family: 4 | 6, jumps: readonly Jump[]): Promise<void> {
    try {
      await mustRun(this.run, [iptablesBin(family, this.backend, '-restore'), '--noflush'], outFirewallRestore(family, jumps));
    } catch (e) {
      if (this.outFirewallRefused.has(family)) return;
      this.outFirewallRefused.add(family);
      this.ctx.log.warn('no iptables mangle table: loadBalancerSourceRanges do not apply to this node\'s own connections', { family, error: (e as Error).message });
    }
  }

  /**
   * The constant rules of each family that has services (and of any family written before),
   * when they change; on full syncs the jumps from the built-in chains are checked too.
   */
  private async writeRules(plan: IpvsPlan, full: boolean): Promise<void> {
    const { config } = this.ctx;
    const run = this.run;
    for (const family of [4, 6] as const) {
      if (!plan.masquerade[family] && !this.lastRules.has(family)) continue;
      const opts = {
        family, masqueradeBit: config.masqueradeBit, dropInvalid: !this.ctx.conntrackTcpLiberal,
        ...(plan.masquerade[family] ? { masquerade: plan.masquerade[family] } : {}),
      };
      const rules = rulesRestore(opts, []);
      if (!full && this.lastRules.get(family) === rules) continue;
      // Jumps are looked for when this process has not seen them yet, and on every full sync.
      let jumps: Jump[] = [];
      if (full || !this.lastRules.has(family)) {
        const save = family === 4 && this.savedV4 !== null ? this.savedV4 : await mustRun(run, [iptablesBin(family, this.backend, '-save')]);
        if (family === 4) this.savedV4 = null;
        jumps = missingJumps(save);
      }
      await mustRun(run, [iptablesBin(family, this.backend, '-restore'), '--noflush'], rulesRestore(opts, jumps));
      await this.writeOutFirewall(family, jumps);
      this.lastRules.set(family, rules);
    }
  }
}

export async function createIpvsDataplane(ctx: DataplaneContext): Promise<Dataplane> {
  return new IpvsDataplane(ctx);
}

/** What the dataplane does to the machine besides files it only reads; replaceable in tests. */
export interface IpvsHost {
  run?: Runner;
  /** Returns a problem, or null. */
  writeSysctl?: (path: string, value: string) => string | null;
}

/** For tests: a dataplane whose commands and sysctl writes go to `host`. */
export function createIpvsDataplaneWith(ctx: DataplaneContext, host: IpvsHost): Dataplane {
  return new IpvsDataplane(ctx, host);
}

/**
 * --cleanup: our virtual servers (on ekp-ipvs0 addresses or recorded in our NODE-PORT sets),
 * the jumps to our chains and the chains (iptables and ip6tables, both backends), our sets and
 * the device. What is not loaded (ip_vs, ip_set, legacy tables) holds nothing of ours and is
 * not looked at, so as not to load it.
 */
export async function cleanupIpvs(_ctx: DataplaneContext, run: Runner = runCommand): Promise<string[]> {
  const removed: string[] = [];
  // What is not loaded holds nothing of ours: looking would only load modules.
  const setsSave = existsSync('/sys/module/ip_set') ? await run(['ipset', 'save']) : null;
  const kernelSets = setsSave?.status === 0 ? parseIpsetSave(setsSave.stdout) : new Map<string, KernelSet>();
  const dev = await readDevice(run);
  const vips = dev?.addresses ?? new Set<string>();
  if (existsSync('/proc/net/ip_vs')) {
    const save = await run(['ipvsadm', '-Sn']);
    if (save.status === 0) {
      const cmds = deleteAll(parseIpvsSave(save.stdout), ownership(vips, kernelSets));
      if (cmds.length) {
        await mustRun(run, ['ipvsadm', '--restore'], `${cmds.join('\n')}\n`);
        removed.push(...cmds.map((c) => `ipvs virtual server ${c.split(' ').slice(1).join(' ')}`));
      }
    }
  }
  for (const backend of ['nft', 'legacy'] as const) {
    for (const family of [4, 6] as const) {
      if (backend === 'legacy' && !existsSync(`/proc/net/${family === 4 ? 'ip' : 'ip6'}_tables_names`)) continue;
      const save = await run([iptablesBin(family, backend, '-save')]);
      if (save.status !== 0) continue;
      const text = cleanupRestore(save.stdout);
      if (!text) continue;
      await mustRun(run, [iptablesBin(family, backend, '-restore'), '--noflush'], text);
      removed.push(`${iptablesBin(family, backend, '')} chains and jumps of ipvs mode`);
    }
  }
  for (const name of kernelSets.keys()) {
    if (!isOurSet(name)) continue;
    await mustRun(run, ['ipset', 'destroy', name]);
    removed.push(`ipset ${name}`);
  }
  if (dev) {
    await mustRun(run, ['ip', 'link', 'del', IPVS_DEVICE]);
    removed.push(`interface ${IPVS_DEVICE}`);
  }
  return removed;
}

/** Addresses local on any device but ekp-ipvs0: a VIP that is one of them is a node's, never refused. */
function deviceAddresses(): Set<string> {
  const out = new Set<string>();
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name !== IPVS_DEVICE) for (const a of addrs ?? []) out.add(a.address);
  }
  return out;
}
