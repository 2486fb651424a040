// A flow's next hop is kept in its conntrack entry (bpf/lib/pipeline.h, reroute): within
// one epoch (~1 s) a rerouted packet of that direction goes where the last FIB lookup
// said, even after a route change; the next epoch, or a packet that came in on another
// device, looks it up again; only a forwarded answer is kept (not a local destination). Packets run through
// BPF_PROG_TEST_RUN inside a namespace of the test's own with forwarding on and routes to
// the backends and the client, so the FIB lookup succeeds as on a node.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { LAYOUT, MAP, SVC_F, encodeCtKey, type CtKey } from '../../src/dataplane/ebpf/abi.js';
import { withNetns } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';
import { buildPacket, parsePacket, type PacketSpec } from '../support/packet.js';
import { datapathFixture, TC } from './datapath.js';
import { FROM_WIRE, V4 } from './fixtures.js';

const it = kernelIt();
const F = LAYOUT.ekp_ct_val.fields;
const NODEPORT = 30080;
const GW = '172.18.0.1';
const GW2 = '172.18.0.3';

/** __sk_buff with the device the packet is on (ifindex) and came in by (ingress_ifindex). */
function skbCtx(ifindex: number): Buffer {
  const b = Buffer.alloc(192);
  b.writeUInt32LE(ifindex, 36);
  b.writeUInt32LE(ifindex, 40);
  return b;
}

/** CLOCK_MONOTONIC in the programs' epochs (ns >> 30): process.hrtime is that clock. */
const epochNow = (): number => Number(process.hrtime.bigint() >> 30n);

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
    ns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const dev of ['ekpn0', 'ekpn2']) ifindex[dev] = (JSON.parse(ns.ip('-j', 'link', 'show', 'dev', dev)) as { ifindex: number }[])[0]!.ifindex;
  });
  afterAll(() => ns?.destroy());

  const send = (spec: PacketSpec, dev = 'ekpn0') => {
    const prog = fx.dp.program('tc_ingress', FROM_WIRE);
    const r = withNetns(ns!.path, () => prog.testRun({ data: buildPacket(spec), ctx: skbCtx(ifindex[dev]!) }));
    return { verdict: r.retval, out: parsePacket(r.data) };
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
    nh: `${v[F.nh.offset]}.${v[F.nh.offset + 1]}.${v[F.nh.offset + 2]}.${v[F.nh.offset + 3]}`,
  });
  /** Runs fn again when an epoch boundary fell inside it: what it checks holds within one epoch. */
  const withinOneEpoch = <T>(fn: () => T): T => {
    for (;;) {
      const e = epochNow();
      const out = fn();
      if (epochNow() === e) return out;
    }
  };
  const ageEntry = (k: CtKey) => {
    const v = Buffer.from(entry(k));
    v.writeUInt32LE(v.readUInt32LE(F.nh_epoch.offset) - 1, F.nh_epoch.offset);
    fx.dp.map(MAP.ct4).update(encodeCtKey(k), v);
  };

  it('keeps the answer for the epoch, looks it up again after it and on another device, and keeps no local answer', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: V4.remoteBe, port: 8080 });
    dp.setService({ frontend: { addr: V4.node, port: NODEPORT, proto: 'tcp' }, svcId: 40, slots: [1], flags: SVC_F.NODEPORT });
    const fwdKey: CtKey = { saddr: V4.external, daddr: V4.node, sport: 50000, dport: NODEPORT, proto: 'tcp' };
    const ack = (seq: number): PacketSpec => ({ src: V4.external, dst: V4.node, proto: 'tcp', sport: 50000, dport: NODEPORT, tcpFlags: { ack: true }, seq });

    const syn = send({ src: V4.external, dst: V4.node, proto: 'tcp', sport: 50000, dport: NODEPORT });
    expect(syn.verdict, 'SYN rerouted to the remote backend').toBe(TC.redirect);
    expect(syn.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080 });
    expect(nhOf(entry(fwdKey)).oif, 'a new flow keeps nothing yet').toBe(0);

    // The first packet of the flow's entry looks the next hop up and keeps it.
    const before = dp.counters();
    const first = withinOneEpoch(() => {
      const r = send(ack(1001));
      return { r, epoch: epochNow() };
    });
    expect(first.r.verdict).toBe(TC.redirect);
    const cached = nhOf(entry(fwdKey));
    expect(cached).toEqual({ oif: ifindex.ekpn0, iif: ifindex.ekpn0, epoch: cached.epoch, family: 2, nh: GW });
    expect(Math.abs(cached.epoch - first.epoch)).toBeLessThanOrEqual(1); // the programs' coarse clock lags by a tick
    expect(dp.counters().events.redirect - before.events.redirect).toBe(1n);

    // A route change within the epoch: the flow keeps the next hop it has.
    ns!.ip('route', 'replace', '10.244.0.0/16', 'via', GW2, 'dev', 'ekpn0');
    withinOneEpoch(() => {
      const e = nhOf(entry(fwdKey)).epoch;
      const r = send(ack(1002));
      expect(r.verdict).toBe(TC.redirect);
      expect(r.out).toMatchObject({ src: V4.node, dst: V4.remoteBe, dport: 8080, l4ChecksumOk: true });
      const now = nhOf(entry(fwdKey));
      // Unless the lookup's epoch is over (then the next one applies, checked below).
      if (now.epoch === e) expect(now.nh, 'next hop from the cache, not the changed route').toBe(GW);
    });

    // The next epoch: looked up again, so the change reaches the flow.
    ageEntry(fwdKey);
    expect(send(ack(1003)).verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW2, oif: ifindex.ekpn0, iif: ifindex.ekpn0 });

    // A packet of the flow on another device: looked up for that device.
    expect(send(ack(1004), 'ekpn2').verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW2, iif: ifindex.ekpn2 });

    // The backend's address becomes local: that answer (in through lo) is not kept, and the
    // flow keeps asking; once it is gone, the next hop is kept again.
    ns!.ip('addr', 'add', `${V4.remoteBe}/32`, 'dev', 'ekpn2');
    ageEntry(fwdKey);
    const stale = nhOf(entry(fwdKey));
    const viaLo = dp.counters().events.redirect;
    for (const seq of [1005, 1006]) expect(send(ack(seq), 'ekpn2').verdict).toBe(TC.redirect);
    expect(dp.counters().events.redirect - viaLo).toBe(2n);
    expect(nhOf(entry(fwdKey)), 'a local answer is not kept').toEqual(stale);
    ns!.ip('addr', 'del', `${V4.remoteBe}/32`, 'dev', 'ekpn2');
    expect(send(ack(1007), 'ekpn2').verdict).toBe(TC.redirect);
    expect(nhOf(entry(fwdKey))).toMatchObject({ nh: GW2, iif: ifindex.ekpn2 });
    expect(nhOf(entry(fwdKey)).epoch).toBeGreaterThan(stale.epoch);
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
