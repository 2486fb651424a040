import { existsSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { constant } from '../../native/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import type { Dataplane, DataplaneContext, KernelMetric, KernelSample } from '../types.js';
import { DROP_REASONS, EVENTS, MAP, SLOTS_PER_ENTRY, SNAT_PORT_DEFAULT, encodeU32, sumPerCpuCounter } from './abi.js';
import { attachSocketPrograms, cgroup2DirProblem, cgroup2Root, detachSocketPrograms } from './cgroup.js';
import { ConntrackCollector } from './conntrack-gc.js';
import { adoptPreviousFlows, moveV1Flows } from './ct-upgrade.js';
import { mapSizesOf, programConfigOf } from './load-config.js';
import { moveLegacySlots } from './slots-upgrade.js';
import { readSnatOverlap } from './snat-ports.js';
import { ClusterIpWriter, EXTERNAL_IPS } from './cluster-ips.js';
import { DeviceAttacher, detachAll } from './devices.js';
import { loadDatapath, type LoadedDatapath } from './loader.js';
import { everyPort, FullSyncSchedule } from '../full-sync.js';
import { writeSysctl } from '../sysctl.js';
import { UdpFlowCleaner } from './udp-cleaner.js';
import { ServiceWriter } from './writer.js';

const GC_INTERVAL_MS = 10_000;
/**
 * Our socket programs by the name the kernel reports (bpf/sock_lb.bpf.c,
 * cut to BPF_OBJ_NAME_LEN - 1 = 15 characters): cleanup detaches these only.
 */
const SOCK_PROGRAMS = new Set(['connect4', 'connect6', 'sendmsg4', 'sendmsg6', 'recvmsg4', 'recvmsg6', 'getpeername4', 'getpeername6'].map((h) => `sock_${h}`.slice(0, 15)));
const SOCK_ATTACH_TYPES = [
  'BPF_CGROUP_INET4_CONNECT', 'BPF_CGROUP_INET6_CONNECT', 'BPF_CGROUP_UDP4_SENDMSG', 'BPF_CGROUP_UDP6_SENDMSG',
  'BPF_CGROUP_UDP4_RECVMSG', 'BPF_CGROUP_UDP6_RECVMSG', 'BPF_CGROUP_INET4_GETPEERNAME', 'BPF_CGROUP_INET6_GETPEERNAME',
];

class EbpfDataplane implements Dataplane {
  readonly mode = 'ebpf' as const;
  private loaded: LoadedDatapath | null = null;
  private writer: ServiceWriter | null = null;
  private devices: DeviceAttacher | null = null;
  private gcTimer: NodeJS.Timeout | null = null;
  private conntrack = { entries: 0, flows: 0, deleted: 0 };
  private collector: ConntrackCollector | null = null;
  private gcPass: Promise<void> | null = null;
  private udp: UdpFlowCleaner | null = null;
  private readonly fullSyncs: FullSyncSchedule;
  private leftOut = 0;
  private clusterIps: ClusterIpWriter | null = null;
  private externalIps: ClusterIpWriter | null = null;
  private externalIpsError = '';
  private starved = new Set<string>();
  /** Addresses local to this node (NODE_ADDR frontends). */
  private local = new Set<string>();

  constructor(private readonly ctx: DataplaneContext, now: () => number = Date.now) {
    this.fullSyncs = new FullSyncSchedule(now);
  }

  async start(): Promise<void> {
    const { config, log } = this.ctx;
    const sizes = mapSizesOf(config);
    const t0 = performance.now();
    const cgroup = config.cgroupRoot ?? cgroup2Root();
    const cgroupProblem = cgroup2DirProblem(cgroup);
    if (cgroupProblem) throw new Error(cgroupProblem);
    // The node's addresses at start, for the programs' SNAT addresses and the writer's NODE_ADDR flags alike.
    const nodeAddresses = this.ctx.nodeAddresses();
    this.refreshLocal();
    this.loaded = await loadDatapath({ pinDir: config.bpfPinDir, config: programConfigOf(config, nodeAddresses), sizes, log });
    this.collector = new ConntrackCollector(this.loaded.ctGc, (error) =>
      log.warn('conntrack GC: no map iterator on this kernel; each pass visits a map in one run', { error }));
    const m = this.loaded.maps;
    // A previous version's state, in layouts this one replaced; before anything is attached.
    const movedSlots = moveLegacySlots(config.bpfPinDir, m.slots);
    const { carried: carriedFlows, moved: movedFlows } = adoptPreviousFlows(config.bpfPinDir, this.loaded.resizedCt, m);
    this.writer = new ServiceWriter(
      { svc: m.svc, backend: m.backend, slots: m.slots, srcRange: m.srcRange, affinity: m.affinity },
      {
        algorithm: config.lbAlgorithm,
        sizes: { svcIds: m.svcStat.maxEntries, backends: m.backend.maxEntries, slots: m.slots.maxEntries * SLOTS_PER_ENTRY, svcEntries: m.svc.maxEntries },
        isNodeAddress: (a) => this.local.has(a),
      },
    );
    this.clusterIps = new ClusterIpWriter(m.vip, m.vipNet, m.svcCidr, {
      localAddresses: () => this.ctx.localAddresses?.() ?? [],
      max: m.svcCidr.maxEntries,
      warn: (msg, fields) => this.ctx.log.warn(msg, fields),
    });
    this.externalIps = new ClusterIpWriter(m.extVip, null, null, { kinds: EXTERNAL_IPS });
    this.udp = new UdpFlowCleaner({ 4: m.ct4, 6: m.ct });
    const adopted = this.writer.adopt();
    log.info('datapath loaded', {
      pinDir: config.bpfPinDir, ms: Math.round(performance.now() - t0), adoptedEntries: adopted.entries, adoptedBackends: adopted.backends,
      ...(movedFlows ? { conntrackV1EntriesMoved: movedFlows } : {}),
      ...(carriedFlows ? { conntrackEntriesCarriedToResizedMaps: carriedFlows } : {}),
      ...(movedSlots ? { legacySlotsCopied: movedSlots } : {}),
    });

    // A packet rewritten for one of this node's addresses goes in through lo (bpf/lib/pipeline.h,
    // to_loopback), where IPv4 takes a packet from an address of its own only with accept_local.
    // The sources of what we put there are ours (a frontend, the SNAT address), never a sender's.
    const localProblem = writeSysctl('/proc/sys/net/ipv4/conf/lo/accept_local', '1');
    if (localProblem) {
      log.warn('lo will not take IPv4 packets we send in with a source of this node: the node itself cannot use its own NodePorts, nor host-network backends here through frontends, outside the cgroup', { problem: localProblem });
    }
    if (config.masqueradeAll) {
      log.warn('--masquerade-all is not honoured in ebpf mode: pods reaching a ClusterIP keep their address; traffic from outside the cluster CIDRs, and external traffic to remote backends, is SNATed as always', {});
    }
    const overlap = readSnatOverlap(SNAT_PORT_DEFAULT.min, SNAT_PORT_DEFAULT.max);
    if (overlap) log.warn('SNAT ports shared with the node\'s own', { problem: overlap });
    this.devices = new DeviceAttacher({ tc: this.loaded.tc, xdp: this.loaded.xdp }, config.devices, log, config.bpfXdp);
    this.devices.start();
    attachSocketPrograms(this.loaded.sock, cgroup);
    log.info('socket load balancing attached', { cgroup });
    // Flows the previous programs opened in v1 maps until just now; the v1 maps go.
    const lateFlows = moveV1Flows(config.bpfPinDir, m, true);
    if (lateFlows) log.info('conntrack v1 entries moved after attaching', { entries: lateFlows });

    this.gcTimer = setInterval(() => void this.gc(), GC_INTERVAL_MS);
    this.gcTimer.unref();
  }

  /** An LB IP or ExternalIP held by this node: read at each apply, as VIPs move between nodes. */
  private refreshLocal(): void {
    this.local = new Set((this.ctx.localAddresses ?? this.ctx.nodeAddresses)());
  }

  async apply(update: StateUpdate): Promise<void> {
    if (!this.writer) throw new Error('ebpf dataplane not started');
    this.refreshLocal();
    const full = update.changed === 'all' && this.fullSyncs.due();
    // A periodic sync between full ones: every service port, written only where it differs from what we wrote.
    const u: StateUpdate = update.changed === 'all' && !full ? { ...update, changed: everyPort(update.state.services, this.writer.programmedKeys()) } : update;
    let stats;
    try {
      stats = this.writer.apply(u);
    } catch (e) {
      this.fullSyncs.failed();
      throw e;
    }
    this.fullSyncs.committed(full);
    this.ctx.log.debug('maps written', { full, ...stats });
    try {
      this.clusterIps!.apply(u);
    } catch (e) {
      // The services are in place; only the refusal of their unused ports waits for the next apply.
      this.ctx.log.warn('ClusterIPs not written: their unused ports are not refused until the next sync', { error: (e as Error).message });
    }
    try {
      this.externalIps!.apply(u);
      this.externalIpsError = '';
    } catch (e) {
      // Said once per error (a full map fails every sync); tried again every apply.
      const error = (e as Error).message;
      if (error !== this.externalIpsError) this.ctx.log.warn('ExternalIPs and LoadBalancer IPs not written: pings to them are not answered until a sync writes them', { error });
      this.externalIpsError = error;
    }
    // Said once per service and error, not every sync: it is tried again every apply.
    const starved = new Set<string>();
    for (const n of stats.notProgrammed) {
      const said = `${n.service}\n${n.error}`;
      starved.add(said);
      if (!this.starved.has(said)) this.ctx.log.warn('service port not programmed: it keeps what it had', { service: n.service, error: n.error });
    }
    this.starved = starved;
    if (stats.entriesLeftOut !== this.leftOut) {
      if (stats.entriesLeftOut) this.ctx.log.warn('frontends claimed by more than one service: the first keeps each', { entriesLeftOut: stats.entriesLeftOut });
      this.leftOut = stats.entriesLeftOut;
    }
    // After the write: a flow deleted now picks from the new backends with its next datagram.
    // The reconciler walks the maps on the process's first sync and on the tracker's full ones.
    try {
      const notProgrammed = new Set(stats.notProgrammed.map((n) => n.service));
      const d = this.udp!.synced(update.state.services.values(), update.changed, { reconcile: update.changed === 'all', notProgrammed });
      if (d.swept || d.reconciled) this.ctx.log.debug('stale UDP flows deleted', { entries: d.swept, reconciledFlows: d.reconciled });
    } catch (e) {
      // The services are in place; the flows time out on their own, and the next full sync walks again.
      this.ctx.log.warn('UDP conntrack cleanup failed', { error: (e as Error).message });
    }
  }

  async close(): Promise<void> {
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.devices?.stop();
    // A pass in flight reads through its own descriptors; waiting for it keeps close() the end of all map work.
    await this.gcPass;
    // Pins and attachments stay: the kernel keeps serving until the next instance adopts them.
    this.loaded?.close();
    this.loaded = null;
    this.collector = null;
  }

  /** One conntrack GC pass; a pass still running when the next is due is not doubled. Never rejects. */
  gc(): Promise<void> {
    const collector = this.collector;
    if (!collector) return Promise.resolve();
    this.gcPass ??= collector.collect().then(
      (r) => void (this.conntrack = r),
      (e: unknown) => this.ctx.log.warn('conntrack GC failed', { error: (e as Error).message }),
    ).finally(() => (this.gcPass = null));
    return this.gcPass;
  }

  kernelMetrics(): Record<string, KernelMetric> {
    const l = this.loaded;
    const counters = (map: keyof typeof MAP, names: readonly string[], label: string): KernelSample[] => {
      if (!l) return [];
      return names.flatMap((n, i) => {
        const v = l.maps[map].lookup(encodeU32(i));
        const c = v ? sumPerCpuCounter(v) : { packets: 0n };
        return n === 'unspec' ? [] : [{ labels: { [label]: n }, value: Number(c.packets) }];
      });
    };
    const perService = (field: 'packets' | 'bytes'): KernelSample[] => {
      if (!l || !this.writer) return [];
      return [...this.writer.serviceIds()].map(([id, key]) => {
        const v = l.maps.svcStat.lookup(encodeU32(id));
        return { labels: { service: key }, value: Number(v ? sumPerCpuCounter(v)[field] : 0n) };
      });
    };
    const usage = this.writer?.usage();
    return {
      ...this.udp?.kernelMetrics(),
      ekp_drops_total: { help: 'Packets the datapath dropped, by reason', type: 'counter', samples: counters('drop', DROP_REASONS, 'reason') },
      ekp_datapath_events_total: { help: 'Datapath events (conntrack hits, rejects, untouched odd packets…)', type: 'counter', samples: counters('event', EVENTS, 'event') },
      ekp_service_packets_total: { help: 'Packets through each service port', type: 'counter', samples: perService('packets') },
      ekp_service_bytes_total: { help: 'Bytes through each service port', type: 'counter', samples: perService('bytes') },
      ekp_conntrack_entries: { help: 'Conntrack entries at the last GC (two per NATed flow)', type: 'gauge', samples: [{ labels: {}, value: this.conntrack.entries }] },
      ekp_bpf_slots_used: { help: 'Slots of the slot pool in use', type: 'gauge', samples: [{ labels: {}, value: usage?.slots ?? 0 }] },
    };
  }
}

export async function createEbpfDataplane(ctx: DataplaneContext): Promise<Dataplane> {
  return new EbpfDataplane(ctx);
}

/** --cleanup: our programs off every device and the cgroup, and our pins gone. */
export async function cleanupEbpf(ctx: DataplaneContext): Promise<string[]> {
  const removed = detachAll(['xdp_nodeport']);
  let cgroup: string | null = null;
  try {
    cgroup = ctx.config.cgroupRoot ?? cgroup2Root();
  } catch {
    cgroup = null;
  }
  if (cgroup && existsSync(cgroup)) {
    removed.push(...detachSocketPrograms(cgroup, SOCK_ATTACH_TYPES.map(constant), (n) => SOCK_PROGRAMS.has(n)));
  }
  const dir = ctx.config.bpfPinDir;
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)) {
      if (!f.startsWith('ekp_')) continue;
      unlinkSync(join(dir, f));
      removed.push(`pin ${join(dir, f)}`);
    }
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  }
  return removed;
}

