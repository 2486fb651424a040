// The measuring engine of `bench datapath`: programs synthetic services with the real
// ServiceWriter, prepares flows in conntrack, and times packets through
// BPF_PROG_TEST_RUN, checking the datapath's own counters after every batch so a
// number is only reported for packets that really took the path it is named after.
import {
  DROP_REASONS, EVENT, MAP, SLOTS_PER_ENTRY, decodeCtVal, encodeCtKey, encodeCtVal, encodeU32, reverseKeyOf, sumPerCpuCounter,
  type Config, type CtKey, type MapName,
} from '../../dataplane/ebpf/abi.js';
import { kernelConfigFlags } from '../../dataplane/ebpf/kernel.js';
import { ClusterIpWriter } from '../../dataplane/ebpf/cluster-ips.js';
import { ServiceWriter, type LbAlgorithm } from '../../dataplane/ebpf/writer.js';
import type { BpfMap, BpfObject, BpfProgram, TestRunResult } from '../../native/index.js';
import { TCP, intToIpv4, ipv4ToInt, parseTcp4, sameButTtl, tcp4Frame } from './packet.js';
import { median, type CaseName, type ProgKind } from './report.js';
import { loadObject, loadObjects, type Objects, type Sizes } from './rig.js';
import { NODE_IP, SERVICE_PORT, SyntheticCluster, TARGET_PORT, backendIpOf, clusterIpOf, spread } from './services.js';

const TC_ACT_OK = 0;
const TC_ACT_REDIRECT = 7;
const XDP_PASS = 2;
/** tc forwards a rewritten packet to the device the FIB names (redirect_neigh), or passes it when there is no route. */
const TC_FORWARDED = new Set([TC_ACT_OK, TC_ACT_REDIRECT]);
const SNAT_MIN = 61000;
const SNAT_MAX = 65000;
const PAYLOAD = Buffer.alloc(32, 0x61);

/** tc ingress on a node device ('wire' role) and XDP get the daemon's config: the node address for SNAT. */
export const WIRE_CONFIG: Config = { snatV4: NODE_IP, snatPortMin: SNAT_MIN, snatPortMax: SNAT_MAX, flags: kernelConfigFlags() };

interface Flow {
  client: string;
  sport: number;
  svc: number;
  backend: string;
  snatPort: number;
  established: Buffer;
  reply: Buffer;
  miss: Buffer;
  /** A SYN of a flow that does not exist yet (for XDP, which defers it and so never creates it). */
  syn_vip: Buffer;
}

/** Medians of per-call (repeat=1) kernel durations, ns. */
export interface PerCall {
  syn_vip: number;
  established: number;
  miss: number;
  floor: number;
}

/**
 * What bpf/syn_feed.bpf.c times, one repeat=N run each, N new flows per run: tc_ingress on
 * SYNs to one VIP ('syn') or to VIPs spread over all services ('spread'), the same SYNs
 * through tc_lb_noinsert's tc_ingress, which keeps no flow ('noinsert'), ct_floor's
 * conntrack part of a new flow ('ct') and its single insert ('insert'), and the feed
 * alone, tail-calling tc_feed_return ('feed').
 */
export type NewFlowKind = 'syn' | 'spread' | 'noinsert' | 'ct' | 'insert' | 'feed';

/** First client address of each kind's SYNs: the bench-only programs get ranges of their own, so their flows never meet tc_ingress's. */
const FEED_CLIENTS: Record<NewFlowKind, string> = {
  syn: '198.18.0.1', spread: '198.18.0.1', noinsert: '198.22.0.1', ct: '198.20.0.1', insert: '198.21.0.1', feed: '198.18.0.1',
};

function countEntries(m: BpfMap): number {
  let n = 0;
  for (const _ of m.keys()) n++;
  return n;
}

/** The feed's frames: Ethernet + IPv4 + TCP SYN, no options (syn_feed.bpf.c). */
const FEED_FRAME = 54;
/**
 * New flows per feed run (the frame map holds 8,192). With all of them to one service, the
 * SNAT port draws against its 10 backends x 4,001 ports collide for ~5 % of flows, each a
 * retried insert, as they would for that many concurrent flows to one service (snat_retries).
 */
export const FEED_FLOWS = 4096;

/**
 * Repetitions per test run of a repeat=N mean. A packet tc sends on loses a hop per
 * repetition (bpf/lib/pipeline.h, hop_down), and one with none left to lose is handed to the
 * stack instead: the established and reply frames start with TTL 255, so a run may repeat
 * 254 times. Every repeat=N mean, the floors' and the bare loop's too, is taken over runs of
 * this many, so that what starting a run costs weighs on every case alike. Even: the mirror
 * entries bring a packet back every second repetition.
 */
export const RUN_REPEAT = 254;

/** The mean per repetition of `repeat` repetitions made in runs of RUN_REPEAT; `run(n)` returns one run's mean. */
async function runsOf(repeat: number, run: (n: number) => Promise<number>): Promise<number> {
  let sum = 0;
  for (let left = repeat; left > 0;) {
    const n = Math.min(RUN_REPEAT, left);
    sum += (await run(n)) * n;
    left -= n;
  }
  return sum / repeat;
}

interface Snapshot {
  created: bigint;
  hitFwd: bigint;
  hitRev: bigint;
  snatRetry: bigint;
  insertFail: bigint;
  reuse: bigint;
  xdpToStack: bigint;
  drops: bigint;
}

export interface RigOptions {
  pinRoot: string;
  sizes: Sizes;
  algorithm: LbAlgorithm;
  cluster: SyntheticCluster;
  /** Load xdp_lb and both floors too (the latency rig), or only tc_lb (the memory rig). */
  withXdp: boolean;
  /** Read-only program config; WIRE_CONFIG unless given. */
  config?: Config;
  /**
   * How many times tc_lb and tc_floor are loaded over the same maps (default 1). Each load is
   * JITed to its own place, and where it lands moves an established packet here (most loads
   * within a few ns of each other, some 10-20 ns slower, how often depending on the code); the
   * benchmark cycles its rounds over the loads (useLoad).
   */
  loads?: number;
}

export class DatapathRig {
  readonly objects: Objects;
  readonly xdp: BpfProgram | null;
  /** The floor at XDP (bpf/lib/floor.h); tcFloor is tc's. Each hook's own baseline. */
  readonly floor: BpfProgram | null;
  private readonly tcLoads: BpfProgram[];
  private readonly tcFloorLoads: BpfProgram[];
  /** The loads of tc_lb and tc_floor after the first (opts.loads). */
  private readonly copies: BpfObject[] = [];
  private load = 0;
  /** bpf/ct_floor.bpf.c: the conntrack part of a new flow alone, and a miss with one insert (tc_flow_floor). */
  readonly ctFloor: BpfProgram | null;
  readonly flowFloor: BpfProgram | null;
  /** bpf/tc_lb_noinsert.bpf.c: tc_ingress without the conntrack inserts of a new flow. */
  readonly noInsert: BpfProgram | null;
  /** bpf/syn_feed.bpf.c: N distinct new flows in one repeat=N run. */
  readonly feed: BpfProgram | null;
  readonly feedReturn: BpfProgram | null;
  readonly writer: ServiceWriter;
  /** The ClusterIPs as the daemon writes them: a miss to an address outside their prefix skips the lookup. */
  readonly clusterIps: ClusterIpWriter;
  private services = 0;
  private flows: Flow[] = [];
  private synSeq = 0;
  private repeatSeq = 0;
  private batchSeq = 0;
  /** SNAT port retries seen in syn batches (collisions are part of the real cost). */
  snatRetries = 0n;

  constructor(private readonly opts: RigOptions) {
    const config = opts.config ?? WIRE_CONFIG;
    const specs = [{ object: 'tc_lb', config }];
    if (opts.withXdp) {
      specs.push({ object: 'xdp_lb', config }, { object: 'xdp_floor', config: {} }, { object: 'tc_floor', config: {} }, { object: 'ct_floor', config },
        { object: 'syn_feed', config: {} }, { object: 'tc_lb_noinsert', config });
    }
    this.objects = loadObjects(opts.pinRoot, specs, opts.sizes);
    this.tcLoads = [];
    this.tcFloorLoads = [];
    try {
      this.tcLoads.push(this.objects.prog('tc_lb', 'tc_ingress'));
      if (opts.withXdp) this.tcFloorLoads.push(this.objects.prog('tc_floor', 'tc_floor'));
      for (let i = 1; i < (opts.loads ?? 1); i++) {
        const lb = loadObject('tc_lb', opts.pinRoot, config, opts.sizes);
        this.copies.push(lb);
        this.tcLoads.push(lb.program('tc_ingress'));
        if (!opts.withXdp) continue;
        const fl = loadObject('tc_floor', opts.pinRoot, {}, opts.sizes);
        this.copies.push(fl);
        this.tcFloorLoads.push(fl.program('tc_floor'));
      }
      this.xdp = opts.withXdp ? this.objects.prog('xdp_lb', 'xdp_nodeport') : null;
      this.floor = opts.withXdp ? this.objects.prog('xdp_floor', 'xdp_floor') : null;
      this.ctFloor = opts.withXdp ? this.objects.prog('ct_floor', 'tc_ct_floor') : null;
      this.flowFloor = opts.withXdp ? this.objects.prog('ct_floor', 'tc_flow_floor') : null;
      this.noInsert = opts.withXdp ? this.objects.prog('tc_lb_noinsert', 'tc_ingress') : null;
      this.feed = opts.withXdp ? this.objects.prog('syn_feed', 'tc_syn_feed') : null;
      this.feedReturn = opts.withXdp ? this.objects.prog('syn_feed', 'tc_feed_return') : null;
      const m = (n: MapName) => this.objects.map(n);
      this.writer = new ServiceWriter(
        { svc: m(MAP.svc), backend: m(MAP.backend), slots: m(MAP.slots), srcRange: m(MAP.srcRange) },
        { algorithm: opts.algorithm, sizes: { svcIds: m(MAP.svcStat).maxEntries, backends: m(MAP.backend).maxEntries, slots: m(MAP.slots).maxEntries * SLOTS_PER_ENTRY } },
      );
      this.clusterIps = new ClusterIpWriter(m(MAP.vip), m(MAP.vipNet));
    } catch (e) {
      this.close();
      throw e;
    }
  }

  map(n: MapName): BpfMap {
    return this.objects.map(n);
  }

  /** tc_ingress of the load in use. */
  get tc(): BpfProgram {
    return this.tcLoads[this.load]!;
  }

  /** The tc floor of the load in use. */
  get tcFloor(): BpfProgram | null {
    return this.tcFloorLoads[this.load] ?? null;
  }

  get loads(): number {
    return this.tcLoads.length;
  }

  /** Which load of tc_lb and tc_floor the next runs use: i modulo the number of loads, which is returned. */
  useLoad(i: number): number {
    this.load = i % this.tcLoads.length;
    return this.load;
  }

  /** Runs load i's established, reply and floor cases once, unmeasured, so its first round does not find it cold. */
  async warmLoad(i: number, repeat: number): Promise<void> {
    this.useLoad(i);
    await this.repeatRun('tc:established', repeat);
    await this.repeatRun('tc:reply', repeat);
    if (this.tcFloor) await this.repeatRun('tc-floor', repeat);
  }

  close(): void {
    this.copies.forEach((o) => o.close());
    this.copies.length = 0;
    this.objects.close();
  }

  /** Adds services [current, n) through the ServiceWriter (an incremental sync). */
  growTo(n: number): void {
    if (n <= this.services) return;
    const state = this.opts.cluster.state(n);
    const changed = new Set<string>();
    for (let i = this.services; i < n; i++) changed.add(this.opts.cluster.service(i).key);
    const update = { state, changed: this.services === 0 ? 'all' as const : changed };
    this.writer.apply(update);
    this.clusterIps.apply(update);
    this.services = n;
    const entries = countEntries(this.map(MAP.svc));
    if (entries !== n) throw new Error(`bench: ${n} services written but the service map holds ${entries} entries`);
  }

  get serviceCount(): number {
    return this.services;
  }

  /** Empties conntrack, then opens `count` TCP flows from distinct clients to services spread over the scale. */
  prepareFlows(count: number): void {
    this.clearConntrack();
    this.flows = [];
    for (let j = 0; j < count; j++) {
      const svc = spread(j, this.services);
      const client = intToIpv4(ipv4ToInt('100.64.0.1') + j);
      const sport = 40000 + (j % 20000);
      const vip = clusterIpOf(svc);
      const syn = tcp4Frame({ src: client, dst: vip, sport, dport: SERVICE_PORT, flags: TCP.SYN });
      const r = this.tc.testRun({ data: syn });
      if (!TC_FORWARDED.has(r.retval)) throw new Error(`bench: SYN of flow ${j} returned ${r.retval}`);
      const out = parseTcp4(r.data);
      this.checkNewFlow(out, svc);
      // The handshake's ACK moves the FWD entry to ESTABLISHED, the SYN-ACK the REV one.
      // With every hop a run's repetitions may take (see RUN_REPEAT).
      const est = tcp4Frame({ src: client, dst: vip, sport, dport: SERVICE_PORT, flags: TCP.ACK | TCP.PSH, seq: 1001, ack: 5001, payload: PAYLOAD, ttl: 255 });
      const reply = tcp4Frame({ src: out.dst, dst: out.src, sport: out.dport, dport: out.sport, flags: TCP.ACK | TCP.PSH, seq: 5001, ack: 1033, payload: PAYLOAD, ttl: 255 });
      for (const f of [est, reply]) {
        const rr = this.tc.testRun({ data: f });
        if (!TC_FORWARDED.has(rr.retval)) throw new Error(`bench: handshake of flow ${j} returned ${rr.retval}`);
      }
      const ct = this.map(MAP.ct4);
      const fwdKey = { saddr: client, daddr: vip, sport, dport: SERVICE_PORT, proto: 'tcp' } as const;
      const revKey = { saddr: out.dst, daddr: out.src, sport: out.dport, dport: out.sport, proto: 'tcp' } as const;
      const fwd = ct.lookup(encodeCtKey(fwdKey));
      const rev = ct.lookup(encodeCtKey(revKey));
      if (!fwd || decodeCtVal(fwd, 4).state !== 2 /* ESTABLISHED */ || !rev) throw new Error(`bench: flow ${j} is not established in conntrack`);
      // Mirrors for repeat=N runs: the rewritten packet's tuple maps back to the original,
      // with the same entry type and flags, so every repetition does the same work.
      const fv = decodeCtVal(fwd, 4);
      ct.update(encodeCtKey({ saddr: out.src, daddr: out.dst, sport: out.sport, dport: out.dport, proto: 'tcp' }),
        encodeCtVal({ ...fv, addr: vip, port: SERVICE_PORT, addr2: client, port2: sport }), 'noexist');
      const rv = decodeCtVal(rev, 4);
      ct.update(encodeCtKey({ saddr: vip, daddr: client, sport: SERVICE_PORT, dport: sport, proto: 'tcp' }),
        encodeCtVal({ ...rv, addr: out.dst, port: out.dport, addr2: out.src, port2: out.sport }), 'noexist');
      const miss = tcp4Frame({ src: client, dst: intToIpv4(ipv4ToInt('203.0.113.1') + (j % 250)), sport, dport: SERVICE_PORT, flags: TCP.ACK | TCP.PSH, payload: PAYLOAD });
      const xdpSyn = tcp4Frame({ src: intToIpv4(ipv4ToInt('198.19.0.1') + j), dst: vip, sport, dport: SERVICE_PORT, flags: TCP.SYN });
      this.flows.push({ client, sport, svc, backend: out.dst, snatPort: out.sport, established: est, reply, miss, syn_vip: xdpSyn });
    }
  }

  private conntrackEntries(): number {
    return countEntries(this.map(MAP.ct4));
  }

  clearConntrack(): void {
    const ct = this.map(MAP.ct4);
    const keys = [...ct.keys()];
    if (keys.length) ct.deleteBatch(Buffer.concat(keys));
  }

  private checkNewFlow(out: ReturnType<typeof parseTcp4>, svc: number): void {
    const per = this.opts.cluster.plan.backends;
    const backends = new Set(Array.from({ length: per }, (_, k) => backendIpOf(svc, k, per)));
    if (!backends.has(out.dst) || out.dport !== TARGET_PORT) throw new Error(`bench: new flow to service ${svc} went to ${out.dst}:${out.dport}, not one of its backends`);
    if (out.src !== NODE_IP || out.sport < SNAT_MIN || out.sport > SNAT_MAX) throw new Error(`bench: new flow not SNATed to ${NODE_IP}:${SNAT_MIN}-${SNAT_MAX} (got ${out.src}:${out.sport})`);
    if (!out.checksumsOk) throw new Error('bench: rewritten packet has a bad checksum');
  }

  private counters(): Snapshot {
    const ev = this.map(MAP.event);
    const read = (i: number) => {
      const v = ev.lookup(encodeU32(i));
      return v ? sumPerCpuCounter(v).packets : 0n;
    };
    const dm = this.map(MAP.drop);
    let drops = 0n;
    for (let i = 1; i < DROP_REASONS.length; i++) {
      const v = dm.lookup(encodeU32(i));
      if (v) drops += sumPerCpuCounter(v).packets;
    }
    return {
      created: read(EVENT.ct_created), hitFwd: read(EVENT.ct_hit_fwd), hitRev: read(EVENT.ct_hit_rev), snatRetry: read(EVENT.snat_retry),
      insertFail: read(EVENT.ct_insert_fail), reuse: read(EVENT.ct_expired_reuse), xdpToStack: read(EVENT.xdp_to_stack), drops,
    };
  }

  /**
   * `calls` rounds of four repeat=1 runs, interleaved call by call so drift on this shared
   * machine hits all alike: a SYN that opens a new flow (a fresh client:port per call, to
   * the VIP of the next prepared flow, in turn), that flow's established packet, its miss
   * packet (all with tc_ingress), and the tc floor on the established packet. Returns the
   * medians of the kernel's per-call durations: single packets, with what a syscall leaves
   * of the caches, where newFlowRun's figures are means over back-to-back packets. Throws
   * unless the counters show exactly one conntrack creation per SYN, one FWD hit per
   * established packet and one service hit per floor run. The new flows are deleted afterwards.
   */
  perCallBatch(calls: number): PerCall {
    const f = this.flows[this.batchSeq++ % this.flows.length]!;
    const frames: Buffer[] = [];
    const fwdKeys: CtKey[] = [];
    for (let i = 0; i < calls; i++) {
      const { frame, key } = this.newSyn('198.18.0.1', f.svc);
      frames.push(frame);
      fwdKeys.push(key);
    }
    const pass = new Set([TC_ACT_OK]);
    const before = this.counters();
    const out = { syn: new Array<number>(calls), est: new Array<number>(calls), miss: new Array<number>(calls), floor: new Array<number>(calls) };
    for (let i = 0; i < calls; i++) {
      const rs = this.run(this.tc, frames[i]!, TC_FORWARDED, 'tc syn_vip');
      if (i === 0) this.checkNewFlow(parseTcp4(rs.data), f.svc);
      out.syn[i] = rs.durationNs;
      out.est[i] = this.run(this.tc, f.established, TC_FORWARDED, 'tc established').durationNs;
      const rm = this.run(this.tc, f.miss, pass, 'tc miss');
      if (!rm.data.subarray(0, f.miss.length).equals(f.miss)) throw new Error('bench: tc miss: the packet was modified');
      out.miss[i] = rm.durationNs;
      out.floor[i] = this.run(this.tcFloor!, f.established, pass, 'tc floor').durationNs;
    }
    const after = this.counters();
    // The floor counts a found VIP as a FWD hit, hence 2 per call.
    this.expectDelta('tc per-call batch', before, after, { created: calls, hitFwd: 2 * calls, hitRev: 0, drops: 0, insertFail: 0, reuse: 0 });
    this.snatRetries += after.snatRetry - before.snatRetry;
    this.forgetFlows(fwdKeys);
    return { syn_vip: median(out.syn), established: median(out.est), miss: median(out.miss), floor: median(out.floor) };
  }

  /** A SYN of a flow that does not exist yet, from `firstClient`'s range, to service `svc`'s VIP. */
  private newSyn(firstClient: string, svc: number): { frame: Buffer; key: CtKey; svc: number } {
    const seq = this.synSeq++;
    const src = intToIpv4(ipv4ToInt(firstClient) + ((seq >>> 14) % 100_000));
    const sport = 1024 + (seq & 0x3fff);
    const dst = clusterIpOf(svc);
    return { frame: tcp4Frame({ src, dst, sport, dport: SERVICE_PORT, flags: TCP.SYN }), key: { saddr: src, daddr: dst, sport, dport: SERVICE_PORT, proto: 'tcp' }, svc };
  }

  private run(p: BpfProgram, data: Buffer, verdicts: ReadonlySet<number>, what: string): TestRunResult {
    const r = p.testRun({ data, dataOutSize: data.length + 64 });
    if (!verdicts.has(r.retval)) throw new Error(`bench: ${what}: verdict ${r.retval}, expected one of ${[...verdicts].join('/')}`);
    this.noteVerdict(what, r.retval);
    return r;
  }

  /**
   * The mean cost of a new flow over FEED_FLOWS different ones, back to back: one
   * repeat=FEED_FLOWS run of tc_syn_feed (bpf/syn_feed.bpf.c), which writes the next SYN
   * frame over the packet before each repetition and tail-calls the program measured.
   * 'syn' sends them to one VIP (the next prepared flow's, in turn), 'spread' to VIPs
   * spread over all services, 'noinsert' (from a client range of its own) to one VIP through
   * tc_lb_noinsert, 'ct' and 'insert' likewise to ct_floor's two programs, and 'feed' to
   * tc_feed_return: what the feed adds, which the caller subtracts. Throws unless every frame
   * was fed and the counters show one creation per flow (none for 'feed'), no drop, no
   * failed insert; through a tc_ingress, the last packet must come out DNATed and SNATed to a
   * backend of its service. The flows are deleted afterwards ('noinsert' must have kept none).
   */
  async newFlowRun(kind: NewFlowKind): Promise<number> {
    const viaTc = kind === 'syn' || kind === 'spread' || kind === 'noinsert';
    const home = kind === 'syn' || kind === 'noinsert' ? this.flows[this.batchSeq++ % this.flows.length]!.svc : undefined;
    const client = FEED_CLIENTS[kind];
    const syns = Array.from({ length: FEED_FLOWS }, () => this.newSyn(client, home ?? spread(this.synSeq, this.services)));
    const frames = this.objects.ownMap('syn_feed', 'syn_feed_frames');
    if (frames.maxEntries < FEED_FLOWS) throw new Error(`bench: syn_feed_frames holds ${frames.maxEntries} frames, not ${FEED_FLOWS}`);
    const keys = Buffer.alloc(4 * FEED_FLOWS);
    const values = Buffer.alloc(frames.valueSize * FEED_FLOWS);
    syns.forEach((s, i) => {
      if (s.frame.length !== FEED_FRAME) throw new Error(`bench: a feed frame is ${s.frame.length} bytes, not ${FEED_FRAME}`);
      keys.writeUInt32LE(i, 4 * i);
      s.frame.copy(values, frames.valueSize * i);
    });
    frames.updateBatch(keys, values);
    const state = this.objects.ownMap('syn_feed', 'syn_feed_state');
    state.update(encodeU32(0), Buffer.concat([encodeU32(0), encodeU32(FEED_FLOWS)])); // next, frames
    const target = { syn: this.tc, spread: this.tc, noinsert: this.noInsert!, ct: this.ctFloor!, insert: this.flowFloor!, feed: this.feedReturn! }[kind];
    this.objects.ownMap('syn_feed', 'syn_feed_next').update(encodeU32(0), encodeU32(target.fd));
    const entriesBefore = kind === 'noinsert' ? this.conntrackEntries() : 0;
    const before = this.counters();
    const r = await this.feed!.testRunAsync({ data: syns[0]!.frame, repeat: FEED_FLOWS, dataOutSize: FEED_FRAME + 64 });
    const after = this.counters();
    const what = `new flows (${kind})`;
    const fed = state.lookup(encodeU32(0))!.readUInt32LE(0);
    if (fed !== FEED_FLOWS) throw new Error(`bench: ${what}: ${fed} of ${FEED_FLOWS} frames fed`);
    const verdicts = viaTc ? TC_FORWARDED : new Set([TC_ACT_OK]);
    if (!verdicts.has(r.retval)) throw new Error(`bench: ${what}: verdict ${r.retval}`);
    this.noteVerdict(`${what} (repeat)`, r.retval);
    if (viaTc) this.checkNewFlow(parseTcp4(r.data), syns[FEED_FLOWS - 1]!.svc);
    this.expectDelta(what, before, after, { created: kind === 'feed' ? 0 : FEED_FLOWS, hitFwd: 0, hitRev: 0, drops: 0, insertFail: 0, reuse: 0 });
    this.snatRetries += after.snatRetry - before.snatRetry;
    if (kind === 'noinsert') {
      // It counts a creation per flow, as tc_lb does, but must have kept no entry, FWD or REV.
      const kept = this.conntrackEntries() - entriesBefore;
      if (kept !== 0) throw new Error(`bench: ${what}: conntrack holds ${kept} more entries than before`);
    } else if (kind !== 'feed') {
      this.forgetFlows(syns.map((x) => x.key), kind !== 'insert');
    }
    return r.durationNs;
  }

  /** tc_feed_return run bare, repeat=N: the test-run loop's own cost per repetition, which the floor's figure holds too. */
  async bareReturnRun(repeat: number): Promise<number> {
    const data = this.flows[0]!.established;
    return runsOf(repeat, async (n) => {
      const r = await this.feedReturn!.testRunAsync({ data, repeat: n });
      if (r.retval !== TC_ACT_OK) throw new Error(`bench: tc_feed_return: verdict ${r.retval}`);
      return r.durationNs;
    });
  }

  /** Verdicts seen per path (tc: pass, or redirect after the FIB lookup). */
  readonly verdicts: Record<string, number[]> = {};

  private noteVerdict(what: string, v: number): void {
    const seen = (this.verdicts[what] ??= []);
    if (!seen.includes(v)) seen.push(v);
  }

  /**
   * The kernel's mean over repeat=N on one packet buffer, in runs of RUN_REPEAT. The test
   * run does not restore the packet between repetitions, so tc's established and reply
   * packets are run against a mirror conntrack entry (see prepareFlows) that translates
   * the rewritten packet back: every repetition is a real FWD (or REV) hit with a full
   * DNAT+SNAT rewrite and forwarding decision, and each run (of an even count) leaves the
   * packet as it came in but for the hops its repetitions took, which is checked. XDP
   * hands SNAT flows (and all replies) to tc untouched, so its cases, syn_vip included,
   * measure what XDP costs before tc: every repetition must count one xdp_to_stack event
   * and leave the packet as it was.
   */
  async repeatRun(which: 'floor' | 'tc-floor' | `tc:${'established' | 'reply' | 'miss'}` | `xdp:${CaseName}`, repeat: number): Promise<number> {
    if (repeat % 2) repeat++;
    const f = this.flows[this.repeatSeq++ % this.flows.length]!;
    const [kind, c]: ['floor' | 'tc-floor' | ProgKind, CaseName] = which === 'floor' || which === 'tc-floor' ? [which, 'established'] : which.split(':') as [ProgKind, CaseName];
    const prog = kind === 'floor' ? this.floor! : kind === 'tc-floor' ? this.tcFloor! : kind === 'tc' ? this.tc : this.xdp!;
    const data = f[c];
    // A packet tc sends on loses a hop per repetition.
    const sentOn = kind === 'tc' && c !== 'miss';
    const before = this.counters();
    const mean = await runsOf(repeat, async (n) => {
      const r = await prog.testRunAsync({ data, repeat: n, dataOutSize: data.length + 64 });
      const ok = kind === 'tc' ? (c === 'miss' ? r.retval === TC_ACT_OK : TC_FORWARDED.has(r.retval)) : kind === 'tc-floor' ? r.retval === TC_ACT_OK : r.retval === XDP_PASS;
      if (!ok) throw new Error(`bench: ${which} repeat: verdict ${r.retval}`);
      this.noteVerdict(`${which} (repeat)`, r.retval);
      const out = r.data.subarray(0, data.length);
      // Every repetition sent on took its hop (none where there is no route and tc passes).
      const back = parseTcp4(out);
      const hops = parseTcp4(data).ttl - back.ttl;
      const hopsWanted = sentOn && r.retval === TC_ACT_REDIRECT ? n : 0;
      if (!sameButTtl(data, out) || !back.checksumsOk || hops !== hopsWanted) {
        throw new Error(`bench: ${which} repeat: the packet did not come back to itself after ${n} runs (${hops} hops taken, ${hopsWanted} expected)`);
      }
      return r.durationNs;
    });
    const after = this.counters();
    const none = { created: 0, hitFwd: 0, hitRev: 0, drops: 0, xdpToStack: 0 };
    const exp: Partial<Record<keyof Snapshot, number>> = kind === 'floor' || kind === 'tc-floor' ? { ...none, hitFwd: repeat }
      : kind === 'xdp' ? { ...none, xdpToStack: c === 'miss' ? 0 : repeat }
        : c === 'established' ? { ...none, hitFwd: repeat } : c === 'reply' ? { ...none, hitRev: repeat } : none;
    this.expectDelta(`${which} repeat`, before, after, exp);
    return mean;
  }

  private expectDelta(what: string, before: Snapshot, after: Snapshot, want: Partial<Record<keyof Snapshot, number>>): void {
    for (const [k, v] of Object.entries(want) as [keyof Snapshot, number][]) {
      const got = Number(after[k] - before[k]);
      if (got !== v) throw new Error(`bench: ${what}: counter ${k} moved by ${got}, expected ${v}: the packets did not all take the measured path`);
    }
  }

  /**
   * Deletes the FWD entries of flows a syn batch created, and their REV entries unless
   * `withRev` is false (tc_flow_floor makes none), so conntrack stays the same size. Every
   * one must be there: the counters said each was created, and nothing evicts in a table
   * this far from full.
   */
  private forgetFlows(keys: CtKey[], withRev = true): void {
    const ct = this.map(MAP.ct4);
    const del: Buffer[] = [];
    for (const k of keys) {
      const kb = encodeCtKey(k);
      const v = ct.lookup(kb);
      if (!v) throw new Error(`bench: the new flow ${k.saddr}:${k.sport} -> ${k.daddr}:${k.dport} is not in conntrack`);
      del.push(kb);
      if (withRev) del.push(encodeCtKey(reverseKeyOf(k, decodeCtVal(v, 4))));
    }
    const gone = del.length ? ct.deleteBatch(Buffer.concat(del)) : 0;
    if (gone !== del.length) throw new Error(`bench: ${del.length - gone} of the new flows' ${del.length} conntrack entries were not there to delete`);
  }
}
