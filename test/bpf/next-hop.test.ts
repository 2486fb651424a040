// A flow's next hop is kept in its conntrack entry (bpf/lib/pipeline.h, reroute): within
// one epoch (~1 s) a rerouted packet of that direction goes where the kept answer says;
// the next epoch, a packet that came in on another device, or one bigger than the kept
// MTU (not GSO) looks it up again; only a forwarded answer is kept (not a local
// destination), and nothing at tc egress. A packet sent to a backend also keeps the answer
// for that backend (ekp_benh_v1), on the same terms, where a new flow finds it. Packets run
// through BPF_PROG_TEST_RUN inside a namespace of the test's own with forwarding on and
// routes to the backends and the client, so the FIB lookup succeeds as on a node. Whether
// the program used a flow's kept answer is told by a sentinel next hop planted in the
// entry, which a lookup replaces; whether it used a backend's, by making the backend's
// address local, whose lookup sends the packet in through lo with zeroed MACs. What tc
// sends on loses a hop; a request it cannot send on (no hop left, bigger than the next
// device's MTU) is answered to its sender, quoting it as it came.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { LAYOUT, MAP, SIZE, SVC_F, decodeAddr, encodeAddr, encodeCtKey, encodeU32, type CtKey } from '../../src/dataplane/ebpf/abi.js';
import { withNetns } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';
import { buildPacket, fragmentPacket, parsePacket, type PacketSpec } from '../support/packet.js';
import { skbCtx, TEST_SKB_CHECKSUM_COMPLETE } from './cases.js';
import { datapathFixture, TC } from './datapath.js';
import { FROM_HOST, FROM_PODS, FROM_WIRE, V4, V6, type Net } from './fixtures.js';

const it = kernelIt();
const it611 = kernelIt([6, 11]);
const F = LAYOUT.ekp_ct_val.fields;
const B = LAYOUT.ekp_backend_nh.fields;
const NODEPORT = 30080;
const GW = '172.18.0.1';
const GW2 = '172.18.0.3';
const GW6 = 'fd00:172:18::1';

const SENTINEL = '198.51.100.99'; // a next hop no lookup here answers
const SENTINEL6 = '2001:db8:99::99';

/** __sk_buff with the device the packet is on and came in by, and a GSO size. */
const onDevice = (ifindex: number, gsoSize = 0) => skbCtx(ifindex, ifindex, gsoSize);

/**
 * The programs' epoch (CLOCK_MONOTONIC ns >> 30; process.hrtime is that clock), waiting
 * first if an epoch boundary is less than 50 ms away on either side: their coarse clock
 * lags by a tick, and the step that follows must fall inside this epoch.
 */
function stableEpoch(): number {
  const span = 1n << 30n;
  const margin = 50_000_000n;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const t = process.hrtime.bigint();
    const into = t % span;
    if (into > margin && into < span - margin) return Number(t >> 30n);
    Atomics.wait(cell, 0, 0, 2 * Number(margin / 1_000_000n));
  }
}

describe('next hop kept per flow direction (tc, IPv4, routed namespace)', () => {
  const fx = datapathFixture();
  let ns: TestNetns | undefined;
  const ifindex: Record<string, number> = {};

  beforeAll(() => {
    if (process.getuid?.() !== 0) return;
    ns = TestNetns.create('nh');
    for (const [a, b] of [['ekpn0', 'ekpn1'], ['ekpn2', 'ekpn3']]) {
      ns.ip('link', 'add', a!, 'type', 'veth', 'peer', 'name', b!);
      ns.ip('link', 'set', a!, 'up');
      ns.ip('link', 'set', b!, 'up');
    }
    ns.ip('addr', 'add', `${V4.node}/24`, 'dev', 'ekpn0');
    ns.ip('addr', 'add', '172.19.0.2/24', 'dev', 'ekpn2');
    for (const gw of [GW, GW2]) ns.ip('neigh', 'add', gw, 'lladdr', '02:00:00:00:00:01', 'dev', 'ekpn0', 'nud', 'permanent');
    ns.ip('route', 'add', '10.244.0.0/16', 'via', GW, 'dev', 'ekpn0');
    ns.ip('route', 'add', '192.0.2.0/24', 'via', GW, 'dev', 'ekpn0');
    ns.ip('-6', 'addr', 'add', `${V6.node}/64`, 'dev', 'ekpn0', 'nodad');
    ns.ip('-6', 'neigh', 'add', GW6, 'lladdr', '02:00:00:00:00:01', 'dev', 'ekpn0', 'nud', 'permanent');
    ns.ip('-6', 'route', 'add', 'fd00:10:244::/48', 'via', GW6, 'dev', 'ekpn0');
    ns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    ns.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    for (const dev of ['ekpn0', 'ekpn2']) ifindex[dev] = (JSON.parse(ns.ip('-j', 'link', 'show', 'dev', dev)) as { ifindex: number }[])[0]!.ifindex;
  });
  afterAll(() => ns?.destroy());

  const send = (spec: PacketSpec, dev = 'ekpn0', gsoSize = 0, role = FROM_WIRE, flags = 0) => {
    const prog = fx.dp.program('tc_ingress', role);
    const r = withNetns(ns!.path, () => prog.testRun({ data: buildPacket(spec), ctx: onDevice(ifindex[dev]!, gsoSize), flags }));
    return { verdict: r.retval, out: parsePacket(r.data), raw: r.data };
  };
  /**
   * r is the ICMP error `icmp` (and `mtu`) about `spec`, sent back out the device it came in
   * by, from the frontend spec went to, to its sender: as the stack forwarding it answers. Its
   * quote is spec's L3 header and 8 bytes as they came, byte for byte: the rewrite undone, as
   * conntrack puts back the quote of an error about a NATed flow.
   */
  const answered = (r: ReturnType<typeof send>, spec: PacketSpec, net: Net, icmp: { type: number; code: number; mtu?: number }, what: string) => {
    expect(r.verdict, what).toBe(TC.redirect);
    const v6 = net.family === 6;
    expect(r.out, what).toMatchObject({ src: spec.dst, dst: spec.src, proto: v6 ? 58 : 1, icmp: { type: icmp.type, code: icmp.code }, l4ChecksumOk: true });
    if (!v6) expect(r.out.ipChecksumOk, what).toBe(true);
    const quote = buildPacket(spec).subarray(14, 14 + (v6 ? 48 : 28));
    expect(Buffer.from(r.raw.subarray(14 + (v6 ? 48 : 28))).toString('hex'), `${what}: the quote`).toBe(quote.toString('hex'));
    if (icmp.mtu !== undefined) expect(r.raw.readUInt32BE(14 + (v6 ? 40 : 20) + 4) & (v6 ? 0xffffffff : 0xffff), `${what}: the MTU`).toBe(icmp.mtu);
  };
  const entry = (k: CtKey) => {
    const v = fx.dp.map(MAP.ct4).lookup(encodeCtKey(k));
    expect(v, `conntrack entry ${JSON.stringify(k)}`).not.toBeNull();
    return v!;
  };
  const nhOf = (v: Buffer) => ({
    oif: v.readUInt32LE(F.nh_oif.offset),
    iif: v.readUInt32LE(F.nh_iif.offset),
    epoch: v.readUInt32LE(F.nh_epoch.offset),
    family: v.readUInt8(F.nh_family.offset),
    mtu: v.readUInt16LE(F.nh_mtu.offset),
    nh: `${v[F.nh.offset]}.${v[F.nh.offset + 1]}.${v[F.nh.offset + 2]}.${v[F.nh.offset + 3]}`,
  });
  /** What ekp_benh_v1 keeps for backend 1. */
  const backendNh = () => {
    const v = fx.dp.map(MAP.backendNh).lookup(encodeU32(1))!;
    const family = v.readUInt8(B.family.offset), dstFamily = v.readUInt8(B.dst_family.offset);
    return {
      seq: v.readUInt32LE(B.seq.offset), oif: v.readUInt32LE(B.oif.offset), iif: v.readUInt32LE(B.iif.offset),
      epoch: v.readUInt32LE(B.epoch.offset), family, proto: v.readUInt8(B.proto.offset), mtu: v.readUInt16LE(B.mtu.offset), dstFamily,
      nh: decodeAddr(v, family === 10 ? 6 : 4, B.nh.offset), dst: decodeAddr(v, dstFamily === 6 ? 6 : 4, B.dst.offset),
    };
  };
  /**
   * Writes a kept answer for backend 1 (the sentinel next hop; IPv6 with `v6`), or nothing
   * kept. `dstFamily` alone tells another family than the address's.
   */
  const plantBackendNh = (f: { epoch: number; seq?: number; iif?: number; proto?: number; v6?: boolean; dstFamily?: number; dst?: string } | null) => {
    const v = Buffer.alloc(SIZE.ekp_backend_nh);
    if (f) {
      v.writeUInt32LE(f.seq ?? 2, B.seq.offset);
      v.writeUInt32LE(ifindex.ekpn0!, B.oif.offset);
      v.writeUInt32LE(f.iif ?? ifindex.ekpn0!, B.iif.offset);
      v.writeUInt32LE(f.epoch, B.epoch.offset);
      v.writeUInt8(f.v6 ? 10 : 2, B.family.offset);
      v.writeUInt8(f.proto ?? 6, B.proto.offset);
      v.writeUInt16LE(1500, B.mtu.offset);
      v.writeUInt8(f.dstFamily ?? (f.v6 ? 6 : 4), B.dst_family.offset);
      encodeAddr(f.v6 ? SENTINEL6 : SENTINEL).copy(v, B.nh.offset);
      encodeAddr(f.dst ?? (f.v6 ? V6.remoteBe : V4.remoteBe)).copy(v, B.dst.offset);
    }
    fx.dp.map(MAP.backendNh).update(encodeU32(1), v);
  };
  /**
   * Writes a kept answer into the entry: the sentinel next hop unless told otherwise. The
   * backend's kept answer goes, so that a packet that cannot use the entry's looks it up.
   */
  const plant = (k: CtKey, f: { epoch: number; iif?: number; mtu?: number; nh?: string }) => {
    plantBackendNh(null);
    const v = Buffer.from(entry(k));
    v.writeUInt32LE(ifindex.ekpn0!, F.nh_oif.offset);
    v.writeUInt32LE(f.iif ?? ifindex.ekpn0!, F.nh_iif.offset);
    v.writeUInt32LE(f.epoch, F.nh_epoch.offset);
    v.writeUInt8(2, F.nh_family.offset);
    v.writeUInt16LE(f.mtu ?? 1500, F.nh_mtu.offset);
    Buffer.from((f.nh ?? SENTINEL).split('.').map(Number)).copy(v, F.nh.offset);
    fx.dp.map(MAP.ct4).update(encodeCtKey(k), v);
  };

  /**
   * A NodePort on net's node address to backend 1 (remoteBe:8080), nothing else; returns a
   * sender of new flows' SYNs from external, each from the next port (firstPort on).
   */
  const nodePortSyns = (net: Net, svcId: number, firstPort: number) => {
    fx.dp.reset();
    fx.dp.setBackend(1, { addr: net.remoteBe, port: 8080 });
    fx.dp.setService({ frontend: { addr: net.node, port: NODEPORT, proto: 'tcp' }, svcId, slots: [1], flags: SVC_F.NODEPORT });
    let sport = firstPort;
    return (dev = 'ekpn0') => {
      const port = sport++;
      return { ...send({ src: net.external, dst: net.node, proto: 'tcp', sport: port, dport: NODEPORT }, dev), port };
    };
  };
  /** Runs fn with addr held by ekpn2, so that a lookup for it goes in through lo (zeroed MACs). */
  const whileLocal = (addr: string, fn: () => void) => {
    const v6 = addr.includes(':');
    const cmd = v6 ? ['-6', 'addr'] : ['addr'];
    const prefix = `${addr}/${v6 ? 128 : 32}`;
    ns!.ip(...cmd, 'add', prefix, 'dev', 'ekpn2', ...(v6 ? ['nodad'] : []));
    try {
      fn();
    } finally {
      ns!.ip(...cmd, 'del', prefix, 'dev', 'ekpn2');
    }
  };

  it('keeps the answer for the epoch; looks it up again after it, on another device, above the MTU; keeps no local answer', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: V4.remoteBe, port: 8080 });
    dp.setService({ frontend: { addr: V4.node, port: NODEPORT, proto: 'tcp' }, svcId: 40, slots: [1], flags: SVC_F.NODEPORT });
    const fwdKey: CtKey = { saddr: V4.external, daddr: V4.node, sport: 50000, dport: NODEPORT, proto: 'tcp' };
    const ack = (seq: number, payload?: string): PacketSpec =>
      ({ src: V4.external, dst: V4.node, proto: 'tcp', sport: 50000, dport: NODEPORT, tcpFlags: { ack: true }, seq, ...(payload ? { payload } : {}) });

    const syn = send({ src: V4.external, dst: V4.node, proto: 'tcp', sport: 50000, dport: NODEPORT });
    expect(syn.verdict, 'SYN rerouted to the remote backend').toBe(TC.redirect);
    expect(syn.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080 });
    expect(nhOf(entry(fwdKey)).oif, 'a new flow keeps nothing in its entry').toBe(0);
    expect(backendNh(), 'but keeps the answer for its backend').toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 2, proto: 6, mtu: 1500, nh: GW, dst: V4.remoteBe });
    expect(backendNh().seq % 2, 'written whole').toBe(0);

    // The flow's next packet looks the next hop up and keeps it.
    plantBackendNh(null);
    const before = dp.counters().events.redirect;
    const e0 = stableEpoch();
    expect(send(ack(1001)).verdict).toBe(TC.redirect);
    expect(dp.counters().events.redirect - before).toBe(1n);
    const kept = nhOf(entry(fwdKey));
    expect(kept).toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 2, mtu: 1500, nh: GW });
    expect(Math.abs(kept.epoch - e0)).toBeLessThanOrEqual(1); // the coarse clock lags by a tick

    // Within the epoch the kept answer is used, whatever the FIB says: the sentinel stays.
    plant(fwdKey, { epoch: stableEpoch() });
    const r = send(ack(1002));
    expect(r.verdict).toBe(TC.redirect);
    expect(r.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080, l4ChecksumOk: true });
    expect(nhOf(entry(fwdKey)).nh, 'the kept next hop was used, not looked up').toBe(SENTINEL);
    // So is it for a GSO packet above the MTU (segmented later).
    plant(fwdKey, { epoch: stableEpoch(), mtu: 100 });
    expect(send(ack(1003, 'x'.repeat(200)), 'ekpn0', 100).verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey)).nh).toBe(SENTINEL);

    // A packet above the kept MTU, not GSO, is looked up (the lookup checks the MTU).
    plant(fwdKey, { epoch: stableEpoch(), mtu: 100 });
    expect(send(ack(1004, 'x'.repeat(200))).verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW, mtu: 1500 });
    // And one above the device's MTU, without DF, goes to the stack (which would fragment it):
    // nothing kept. (With DF its sender is answered: below.)
    ns!.ip('link', 'set', 'ekpn0', 'mtu', '1280');
    plant(fwdKey, { epoch: stableEpoch(), mtu: 1280 });
    expect(send(ack(1005, 'x'.repeat(1400))).verdict, 'frag-needed: to the stack').toBe(TC.pass);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: SENTINEL, mtu: 1280 });
    ns!.ip('link', 'set', 'ekpn0', 'mtu', '1500');

    // The next epoch: looked up again.
    plant(fwdKey, { epoch: stableEpoch() - 1 });
    expect(send(ack(1006)).verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW, iif: ifindex.ekpn0 });

    // A packet of the flow on another device: looked up for that device.
    plant(fwdKey, { epoch: stableEpoch() });
    expect(send(ack(1007), 'ekpn2').verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW, iif: ifindex.ekpn2 });

    // The backend's address becomes local: that answer (in through lo) is not kept, and the
    // flow keeps asking; once it is gone, the next hop is kept again.
    ns!.ip('addr', 'add', `${V4.remoteBe}/32`, 'dev', 'ekpn2');
    const stale = stableEpoch() - 1;
    plant(fwdKey, { epoch: stale });
    const viaLo = dp.counters().events.redirect;
    for (const seq of [1008, 1009]) expect(send(ack(seq)).verdict).toBe(TC.redirect);
    expect(dp.counters().events.redirect - viaLo).toBe(2n);
    expect(nhOf(entry(fwdKey)), 'a local answer is not kept').toMatchObject({ nh: SENTINEL, epoch: stale });
    ns!.ip('addr', 'del', `${V4.remoteBe}/32`, 'dev', 'ekpn2');
    expect(send(ack(1010)).verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW });
    expect(nhOf(entry(fwdKey)).epoch).toBeGreaterThan(stale);
  });

  it('a new flow to a backend takes the answer kept for it, if it is for that address, protocol, device and epoch', () => {
    const syn = nodePortSyns(V4, 43, 51000);
    const first = syn();
    expect(first.verdict).toBe(TC.redirect);
    expect(first.out.eth.dst, 'routed by the FIB: the frame is untouched').toBe('02:00:00:00:00:02');
    const kept = backendNh();
    expect(kept).toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 2, proto: 6, mtu: 1500, nh: GW, dst: V4.remoteBe, dstFamily: 4, seq: 2 });
    expect(Math.abs(kept.epoch - stableEpoch())).toBeLessThanOrEqual(1);

    // The backend's address becomes local: a lookup now sends the packet in through lo, with
    // zeroed MACs; a kept answer sends it on untouched.
    whileLocal(V4.remoteBe, () => {
      const viaLo = (f: Parameters<typeof plantBackendNh>[0], dev = 'ekpn0') => {
        plantBackendNh(f);
        const r = syn(dev);
        expect(r.verdict).toBe(TC.redirect);
        expect(r.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080 });
        return r.out.eth.dst === '00:00:00:00:00:00';
      };
      expect(viaLo({ epoch: stableEpoch() }), 'the kept answer is used').toBe(false);
      expect(backendNh(), 'and left as it was').toMatchObject({ nh: SENTINEL, seq: 2 });
      expect(viaLo({ epoch: stableEpoch() - 1 }), 'from the last epoch: looked up').toBe(true);
      expect(backendNh(), 'taken for the lookup, and left with nothing kept: its answer was local').toMatchObject({ oif: 0, seq: 4, dst: V4.remoteBe });
      expect(viaLo({ epoch: stableEpoch(), dst: '192.0.2.77' }), 'for another address (the id given to another backend)').toBe(true);
      expect(viaLo({ epoch: stableEpoch(), proto: 17 }), 'for UDP').toBe(true);
      expect(viaLo({ epoch: stableEpoch(), dstFamily: 6 }), 'for an IPv6 address').toBe(true);
      expect(viaLo({ epoch: stableEpoch() }, 'ekpn2'), 'for another device').toBe(true);
      expect(viaLo({ epoch: stableEpoch(), seq: 3 }), 'while a CPU writes it').toBe(true);
      expect(backendNh(), 'a local answer is not kept').toMatchObject({ nh: SENTINEL, seq: 3 });
      plantBackendNh(null);
      expect(syn().out.eth.dst).toBe('00:00:00:00:00:00');
      expect(backendNh().oif, 'a local answer is not kept').toBe(0);

      // The next packet of a flow with nothing kept takes its backend's answer into its entry.
      plantBackendNh({ epoch: stableEpoch() });
      const next = syn();
      expect(next.out.eth.dst).toBe('02:00:00:00:00:02');
      const port = next.port;
      const ack: PacketSpec = { src: V4.external, dst: V4.node, proto: 'tcp', sport: port, dport: NODEPORT, tcpFlags: { ack: true }, seq: 1001 };
      expect(send(ack).out.eth.dst).toBe('02:00:00:00:00:02');
      const fwdKey: CtKey = { saddr: V4.external, daddr: V4.node, sport: port, dport: NODEPORT, proto: 'tcp' };
      expect(nhOf(entry(fwdKey))).toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 2, mtu: 1500, nh: SENTINEL });
    });
  });

  it('a backend\'s answer is not written over one being written, nor over this epoch\'s for another device', () => {
    const newFlow = nodePortSyns(V4, 44, 52000);
    const syn = (dev = 'ekpn0') => newFlow(dev).verdict;

    plantBackendNh({ epoch: stableEpoch() - 1, seq: 3 });
    expect(syn(), 'looked up').toBe(TC.redirect);
    expect(backendNh(), 'a CPU is writing it: left to that CPU').toMatchObject({ nh: SENTINEL, seq: 3 });

    plantBackendNh({ epoch: stableEpoch() });
    expect(syn('ekpn2')).toBe(TC.redirect);
    expect(backendNh(), 'this epoch\'s answer for ekpn0 stays').toMatchObject({ nh: SENTINEL, iif: ifindex.ekpn0, seq: 2 });

    plantBackendNh({ epoch: stableEpoch() - 1 });
    expect(syn('ekpn2')).toBe(TC.redirect);
    expect(backendNh(), 'the last epoch\'s is replaced').toMatchObject({ nh: GW, iif: ifindex.ekpn2, seq: 4 });
  });

  it('tc on a pod\'s veth neither uses nor keeps a backend\'s answer (a hairpin flow, rerouted)', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: V4.pod, port: 8080 });
    dp.setService({ frontend: { addr: V4.clusterIp, port: 80, proto: 'tcp' }, svcId: 45, slots: [1] });
    let sport = 53000;
    const hairpin = () => send({ src: V4.pod, dst: V4.clusterIp, proto: 'tcp', sport: sport++, dport: 80 }, 'ekpn0', 0, FROM_PODS);
    const first = hairpin();
    expect(first.verdict).toBe(TC.redirect);
    expect(first.out).toMatchObject({ src: V4.hairpin, dst: V4.pod, dport: 8080 });
    expect(first.out.eth.dst, 'routed by the FIB').toBe('02:00:00:00:00:02');
    expect(backendNh().oif, 'nothing kept').toBe(0);
    whileLocal(V4.pod, () => {
      plantBackendNh({ epoch: stableEpoch(), dst: V4.pod });
      expect(hairpin().out.eth.dst, 'a kept answer is not used: looked up, in through lo').toBe('00:00:00:00:00:00');
    });
  });

  it('IPv6: a new flow keeps its backend\'s answer, and the next new flow takes it', () => {
    const syn = nodePortSyns(V6, 46, 54000);
    const first = syn();
    expect(first.verdict).toBe(TC.redirect);
    expect(first.out).toMatchObject({ src: V6.node, dst: V6.remoteBe, dport: 8080 });
    expect(first.out.eth.dst).toBe('02:00:00:00:00:02');
    expect(backendNh()).toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 10, proto: 6, dstFamily: 6, nh: GW6, dst: V6.remoteBe, seq: 2 });

    whileLocal(V6.remoteBe, () => {
      plantBackendNh({ epoch: stableEpoch(), v6: true });
      expect(syn().out.eth.dst, 'the kept answer is used').toBe('02:00:00:00:00:02');
      plantBackendNh({ epoch: stableEpoch() - 1, v6: true });
      expect(syn().out.eth.dst, 'from the last epoch: looked up, in through lo').toBe('00:00:00:00:00:00');
    });
  });

  it('tc egress (host-originated) keeps nothing: each packet is looked up', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: V4.remoteBe, port: 8080 });
    dp.setService({ frontend: { addr: V4.clusterIp, port: 80, proto: 'tcp' }, svcId: 42, slots: [1] });
    const fwdKey: CtKey = { saddr: '172.18.0.2', daddr: V4.clusterIp, sport: 45000, dport: 80, proto: 'tcp' };
    const pkt = (flags: PacketSpec['tcpFlags']): PacketSpec => ({ src: '172.18.0.2', dst: V4.clusterIp, proto: 'tcp', sport: 45000, dport: 80, tcpFlags: flags });
    const egress = (spec: PacketSpec) => {
      const prog = dp.program('tc_egress', FROM_HOST);
      return withNetns(ns!.path, () => prog.testRun({ data: buildPacket(spec), ctx: onDevice(ifindex.ekpn0!) })).retval;
    };
    expect(egress(pkt(undefined))).toBe(TC.redirect);
    expect(egress(pkt({ ack: true }))).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey)).oif, 'nothing kept at egress').toBe(0);
    expect(backendNh().oif, 'nor for the backend').toBe(0);
    plant(fwdKey, { epoch: stableEpoch() });
    expect(egress(pkt({ ack: true }))).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey)).nh, 'a planted answer is not used at egress').toBe(SENTINEL);
  });

  describe('a packet tc sends on loses a hop, as the stack forwarding it would take one', () => {
    /** A NodePort on net's node address to backend `id` at `be` (svc 47 + id); its packets from the external client. */
    const nodePort = (net: Net, id: number, be: string, port: number) => {
      fx.dp.setBackend(id, { addr: be, port: 8080 });
      fx.dp.setService({ frontend: { addr: net.node, port, proto: 'tcp' }, svcId: 47 + id, slots: [id], flags: SVC_F.NODEPORT });
      return (sport: number, ttl: number, tcpFlags?: PacketSpec['tcpFlags']): PacketSpec =>
        ({ src: net.external, dst: net.node, proto: 'tcp', sport, dport: port, ttl, ...(tcpFlags ? { tcpFlags } : {}) });
    };
    const fwdKey = (net: Net, sport: number, dport = NODEPORT): CtKey => ({ saddr: net.external, daddr: net.node, sport, dport, proto: 'tcp' });
    const exceeded = () => fx.dp.counters().events.ttl_exceeded;

    it('on each way tc sends a packet on; with none to spare a request is answered with a time exceeded, a reply goes to the stack translated', () => {
      fx.dp.reset();
      const from = nodePort(V4, 1, V4.remoteBe, NODEPORT);
      const took = (r: ReturnType<typeof send>, ttl: number, what: string) => {
        expect(r.verdict, what).toBe(TC.redirect);
        expect(r.out, what).toMatchObject({ ttl, ipChecksumOk: true, l4ChecksumOk: true });
      };
      // A new flow, its backend's next hop looked up; a new flow taking the one kept for the
      // backend; the first's next packet, by the one kept in its entry (the sentinel's).
      took(send(from(55000, 64)), 63, 'a new flow, looked up');
      expect(backendNh().oif, 'kept for the backend').toBe(ifindex.ekpn0);
      took(send(from(55001, 2)), 1, 'a new flow by its backend\'s kept answer');
      plant(fwdKey(V4, 55000), { epoch: stableEpoch() });
      took(send(from(55000, 64, { ack: true })), 63, 'the next packet by the flow\'s kept answer');
      expect(nhOf(entry(fwdKey(V4, 55000))).nh).toBe(SENTINEL);
      // The backend's reply, on its way back to the client.
      const snat = send(from(55005, 64)).out.sport!;
      const reply = send({ src: V4.remoteBe, dst: V4.node, proto: 'tcp', sport: 8080, dport: snat, tcpFlags: { syn: true, ack: true }, ttl: 9 });
      took(reply, 8, 'the reply');
      expect(reply.out).toMatchObject({ src: V4.node, sport: NODEPORT, dst: V4.external, dport: 55005 });
      // A backend behind a gateway whose neighbour is not resolved yet: the redirect resolves it.
      ns!.ip('route', 'add', '10.99.0.0/24', 'via', '172.18.0.9', 'dev', 'ekpn0');
      try {
        const unresolved = nodePort(V4, 2, '10.99.0.5', NODEPORT + 1);
        took(send(unresolved(55010, 64)), 63, 'to a next hop not resolved');
        const before = exceeded();
        answered(send(unresolved(55011, 1)), unresolved(55011, 1), V4, { type: 11, code: 0 }, 'none to spare, to a next hop not resolved');
        expect(exceeded() - before).toBe(1n);
      } finally {
        ns!.ip('route', 'del', '10.99.0.0/24');
      }

      // With none to spare, each way answers a request's sender; a reply goes to the stack, translated.
      const before = exceeded();
      const answers = fx.dp.counters().events.sender_answered;
      plantBackendNh(null);
      answered(send(from(55002, 1)), from(55002, 1), V4, { type: 11, code: 0 }, 'a new flow, looked up');
      expect(backendNh().oif, 'the answer looked up is kept for the backend').toBe(ifindex.ekpn0);
      answered(send(from(55003, 0)), from(55003, 0), V4, { type: 11, code: 0 }, 'a new flow by its backend\'s kept answer');
      plant(fwdKey(V4, 55000), { epoch: stableEpoch() });
      answered(send(from(55000, 1, { ack: true })), from(55000, 1, { ack: true }), V4, { type: 11, code: 0 }, 'the next packet by the flow\'s kept answer');
      const back = send({ src: V4.remoteBe, dst: V4.node, proto: 'tcp', sport: 8080, dport: snat, tcpFlags: { ack: true }, ttl: 1 });
      expect(back.verdict, 'the reply').toBe(TC.pass);
      expect(back.out, 'the reply').toMatchObject({ src: V4.node, dst: V4.external, ttl: 1, ipChecksumOk: true, l4ChecksumOk: true });
      expect(exceeded() - before).toBe(4n);
      expect(fx.dp.counters().events.sender_answered - answers).toBe(3n);
    });

    it('into the host through lo, and from the host (tc egress), no hop is taken', () => {
      fx.dp.reset();
      const from = nodePort(V4, 1, V4.remoteBe, NODEPORT);
      whileLocal(V4.remoteBe, () => {
        const r = send(from(55020, 1));
        expect(r.verdict).toBe(TC.redirect);
        expect(r.out).toMatchObject({ eth: { dst: '00:00:00:00:00:00' }, dst: V4.remoteBe, ttl: 1 });
      });
      fx.dp.setService({ frontend: { addr: V4.clusterIp, port: 80, proto: 'tcp' }, svcId: 49, slots: [1] });
      const prog = fx.dp.program('tc_egress', FROM_HOST);
      const spec: PacketSpec = { src: V4.node, dst: V4.clusterIp, proto: 'tcp', sport: 45001, dport: 80, ttl: 1 };
      const r = withNetns(ns!.path, () => prog.testRun({ data: buildPacket(spec), ctx: onDevice(ifindex.ekpn0!) }));
      expect(r.retval, 'sent on').toBe(TC.redirect);
      expect(parsePacket(r.data)).toMatchObject({ dst: V4.remoteBe, ttl: 1, ipChecksumOk: true });
    });

    it611('IPv6: the hop limit, which no checksum covers, goes down with skb->csum kept the packet\'s sum (CHECKSUM_COMPLETE); with none to spare, the sender is answered', () => {
      fx.dp.reset();
      const from = nodePort(V6, 1, V6.remoteBe, NODEPORT);
      // The test run fails with EBADMSG where skb->csum is not the packet's sum after the program.
      const r = send(from(55030, 64), 'ekpn0', 0, FROM_WIRE, TEST_SKB_CHECKSUM_COMPLETE);
      expect(r.verdict).toBe(TC.redirect);
      expect(r.out).toMatchObject({ src: V6.node, dst: V6.remoteBe, ttl: 63, l4ChecksumOk: true });
      // (IPv6's lookup takes a destination without a route for a local one: the client needs one.)
      ns!.ip('-6', 'route', 'add', '2001:db8:ff::/48', 'via', GW6, 'dev', 'ekpn0');
      try {
        const reply = send({ src: V6.remoteBe, dst: V6.node, proto: 'tcp', sport: 8080, dport: r.out.sport!, tcpFlags: { syn: true, ack: true } }, 'ekpn0', 0, FROM_WIRE, TEST_SKB_CHECKSUM_COMPLETE);
        expect(reply.verdict).toBe(TC.redirect);
        expect(reply.out).toMatchObject({ eth: { dst: '02:00:00:00:00:02' }, dst: V6.external, ttl: 63, l4ChecksumOk: true });
      } finally {
        ns!.ip('-6', 'route', 'del', '2001:db8:ff::/48');
      }
      // None to spare: the sender is answered. (The SYN is cut to its quote, which leaves
      // CHECKSUM_NONE, whose skb->csum the test run would compare all the same: see below.)
      const before = exceeded();
      answered(send(from(55031, 1)), from(55031, 1), V6, { type: 3, code: 0 }, 'IPv6, none to spare');
      expect(exceeded() - before).toBe(1n);
    });

    it('a datagram\'s first fragment with none to spare is answered, its quote holding the ports (IPv6\'s after its fragment header); a later one is not', () => {
      for (const net of [V4, V6]) {
        const v6 = net.family === 6;
        fx.dp.reset();
        fx.dp.setBackend(1, { addr: net.remoteBe, port: 8080 });
        fx.dp.setService({ frontend: { addr: net.node, port: NODEPORT, proto: 'udp' }, svcId: 48, slots: [1], flags: SVC_F.NODEPORT });
        const frags = fragmentPacket({ src: net.external, dst: net.node, proto: 'udp', sport: 55050, dport: NODEPORT, ttl: 1, payload: Buffer.alloc(100, 7), ipId: 0x77 }, 64);
        const prog = fx.dp.program('tc_ingress', FROM_WIRE);
        const run = (f: Buffer) => withNetns(ns!.path, () => prog.testRun({ data: f, ctx: onDevice(ifindex.ekpn0!) }));
        const first = run(frags[0]!);
        const what = `IPv${net.family}, the first fragment`;
        expect(first.retval, what).toBe(TC.redirect);
        expect(parsePacket(first.data), what).toMatchObject({ src: net.node, dst: net.external, icmp: { type: v6 ? 3 : 11, code: 0 }, l4ChecksumOk: true });
        const quoted = (v6 ? 40 + 8 : 20) + 8;
        expect(first.data.subarray(14 + (v6 ? 48 : 28)).toString('hex'), `${what}: the quote, as it came`).toBe(frags[0]!.subarray(14, 14 + quoted).toString('hex'));
        // The later one follows the flow, translated, to the stack (which drops it): no answer.
        const later = run(frags[1]!);
        expect(later.retval, `IPv${net.family}, a later fragment`).toBe(TC.pass);
        expect(parsePacket(later.data)).toMatchObject({ src: net.node, dst: net.remoteBe, fragment: { offset: 64 } });
      }
    });

    it611('an answer to a request it did not cut keeps skb->csum its sum under CHECKSUM_COMPLETE, its quote rewritten back (an empty datagram)', () => {
      for (const net of [V4, V6]) {
        fx.dp.reset();
        fx.dp.setBackend(1, { addr: net.remoteBe, port: 8080 });
        fx.dp.setService({ frontend: { addr: net.node, port: NODEPORT, proto: 'udp' }, svcId: 48, slots: [1], flags: SVC_F.NODEPORT });
        const spec: PacketSpec = { src: net.external, dst: net.node, proto: 'udp', sport: 55040, dport: NODEPORT, ttl: 1 };
        // The test run fails with EBADMSG where skb->csum is not the packet's sum after the program.
        answered(send(spec, 'ekpn0', 0, FROM_WIRE, TEST_SKB_CHECKSUM_COMPLETE), spec, net, { type: net.family === 4 ? 11 : 3, code: 0 }, `IPv${net.family}, an empty datagram`);
      }
    });
  });

  describe('a request bigger than the next device takes is answered, as the stack forwarding it answers', () => {
    /** A UDP NodePort on net's node address to remoteBe:8080; its datagrams from the external client. */
    const udpNodePort = (net: Net) => {
      fx.dp.reset();
      fx.dp.setBackend(1, { addr: net.remoteBe, port: 8080 });
      fx.dp.setService({ frontend: { addr: net.node, port: NODEPORT, proto: 'udp' }, svcId: 46, slots: [1], flags: SVC_F.NODEPORT });
      return (sport: number, size: number, df: boolean): PacketSpec =>
        ({ src: net.external, dst: net.node, proto: 'udp', sport, dport: NODEPORT, payload: Buffer.alloc(size, 7), df });
    };
    const withMtu = (mtu: number, fn: () => void) => {
      ns!.ip('link', 'set', 'ekpn0', 'mtu', String(mtu));
      try {
        fn();
      } finally {
        ns!.ip('link', 'set', 'ekpn0', 'mtu', '1500');
      }
    };

    it('IPv4 with DF: a frag-needed with the device\'s MTU, quoting the datagram as it came; without DF, to the stack (which would fragment it)', () => {
      const from = udpNodePort(V4);
      withMtu(1280, () => {
        const c0 = fx.dp.counters().events;
        answered(send(from(55050, 1400, true)), from(55050, 1400, true), V4, { type: 3, code: 4, mtu: 1280 }, 'a new flow');
        answered(send(from(55050, 1400, true)), from(55050, 1400, true), V4, { type: 3, code: 4, mtu: 1280 }, 'its next datagram');
        const small = send(from(55050, 1000, true));
        expect(small.verdict, 'one that fits goes on').toBe(TC.redirect);
        expect(small.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080, l4ChecksumOk: true });
        const noDf = send(from(55051, 1400, false));
        expect(noDf.verdict, 'without DF: to the stack').toBe(TC.pass);
        expect(noDf.out).toMatchObject({ dst: V4.remoteBe, dport: 8080 });
        const c1 = fx.dp.counters().events;
        expect(c1.frag_needed - c0.frag_needed).toBe(3n);
        expect(c1.sender_answered - c0.sender_answered).toBe(2n);
      });
    });

    it('IPv6: a packet too big with the device\'s MTU', () => {
      const from = udpNodePort(V6);
      withMtu(1280, () => {
        answered(send(from(55060, 1400, false)), from(55060, 1400, false), V6, { type: 2, code: 0, mtu: 1280 }, 'a new flow');
        expect(send(from(55060, 1000, false)).verdict, 'one that fits goes on').toBe(TC.redirect);
      });
    });

    it('a reply too big is left to the stack (its sender would be found through the FWD entry)', () => {
      const from = udpNodePort(V4);
      const snat = send(from(55070, 100, true)).out.sport!;
      withMtu(1280, () => {
        const reply = send({ src: V4.remoteBe, dst: V4.node, proto: 'udp', sport: 8080, dport: snat, payload: Buffer.alloc(1400, 1), df: true });
        expect(reply.verdict).toBe(TC.pass);
        expect(reply.out).toMatchObject({ src: V4.node, sport: NODEPORT, dst: V4.external, dport: 55070 });
      });
    });
  });

  it('a reply to an external client keeps its own next hop in the REV entry', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: V4.remoteBe, port: 8080 });
    dp.setService({ frontend: { addr: V4.node, port: NODEPORT, proto: 'tcp' }, svcId: 41, slots: [1], flags: SVC_F.NODEPORT });
    const syn = send({ src: V4.external, dst: V4.node, proto: 'tcp', sport: 50001, dport: NODEPORT });
    expect(syn.verdict).toBe(TC.redirect);
    const snatPort = syn.out.sport!;
    const revKey: CtKey = { saddr: V4.remoteBe, daddr: V4.node, sport: 8080, dport: snatPort, proto: 'tcp' };
    const synAck: PacketSpec = { src: V4.remoteBe, dst: V4.node, proto: 'tcp', sport: 8080, dport: snatPort, tcpFlags: { syn: true, ack: true } };
    const r = send(synAck);
    expect(r.verdict).toBe(TC.redirect);
    expect(r.out).toMatchObject({ src: V4.node, sport: NODEPORT, dst: V4.external, dport: 50001 });
    expect(nhOf(entry(revKey))).toMatchObject({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, family: 2, nh: GW });
  });
});
