// Fragmented UDP datagrams (IPv4, and IPv6 with the fragment header first) through tc, as
// kube-proxy's conntrack handles them whole:
// the first fragment carries the UDP header and is translated like any datagram; the later
// ones find its ports in ekp_frag_v1, then its flow, and take the same addresses. Every
// case reassembles what came out, as the receiver would, and checks the whole datagram:
// translated ports, a UDP checksum right over all of it, the payload intact.
import { describe, expect } from 'vitest';
import { CT_TYPE, ctMapOf, SVC_F, type Config, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { kernelIt } from '../support/capability.js';
import { inetChecksum } from '../support/checksum.js';
import { buildPacket, fragmentPacket, parsePacket, reassemble, type PacketSpec, type ParsedPacket } from '../support/packet.js';
import { TEST_SKB_CHECKSUM_COMPLETE } from './cases.js';
import { counterDelta, datapathFixture, TC, XDP, type Datapath, type ProgName } from './datapath.js';
import { FROM_HOST, FROM_PODS, FROM_WIRE, icmpErrors, NETS, SNAT_RANGE, type Net } from './fixtures.js';

const it = kernelIt();
const NODEPORT = 30053;

/** A datagram of `size` payload bytes, none alike in any 8 (a piece out of place would show). */
function datagram(src: string, dst: string, sport: number, dport: number, size: number, ipId: number): PacketSpec {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i += 2) payload.writeUInt16BE(i & 0xffff, i);
  return { src, dst, proto: 'udp', sport, dport, payload, ipId };
}

interface Ran {
  verdicts: number[];
  frames: Buffer[];
  events: Record<string, number>;
  drops: Record<string, number>;
}

/** Runs each frame through `prog`, in the order given; returns verdicts, outputs, events and drops. */
function run(dp: Datapath, prog: ProgName, config: Config, frames: Buffer[], flags = 0): Ran {
  const before = dp.counters();
  const out = frames.map((f) => dp.program(prog, config).testRun({ data: f, ...(flags ? { flags } : {}) }));
  const delta = counterDelta(before, dp.counters());
  return { verdicts: out.map((r) => r.retval), frames: out.map((r) => r.data), events: delta.events as Record<string, number>, drops: delta.drops as Record<string, number> };
}

/** The whole datagram the fragments make, parsed (its UDP checksum checked over all of it). */
const whole = (frames: Buffer[]): ParsedPacket => parsePacket(reassemble(frames));

/** Each output fragment keeps its identification, offset and payload bytes, and its header checksum is right. */
function sameFragments(ins: Buffer[], outs: Buffer[]): void {
  ins.forEach((f, i) => {
    const a = parsePacket(f), b = parsePacket(outs[i]!);
    expect(b.fragment, `fragment ${i}`).toEqual(a.fragment);
    expect(b.ipChecksumOk, `fragment ${i}: IPv4 header checksum`).toBe(a.family === 4 ? true : null);
    expect(b.length, `fragment ${i}: length`).toBe(a.length);
  });
}

describe.each(NETS)('fragmented UDP datagrams, $tag', (n: Net) => {
  const fx = datapathFixture();
  const v6 = n.family === 6;
  const cip: SvcKey = { addr: n.clusterIp, port: 53, proto: 'udp' };
  const np: SvcKey = { addr: n.node, port: NODEPORT, proto: 'udp' };
  /** What passing a fragment untouched counts: IPv6's fragment header is an extension header. */
  const passed = v6 ? 'pass_ipv6_exthdr' : 'pass_fragment';

  const setup = (dp: Datapath) => {
    dp.reset();
    dp.setBackend(1, { addr: n.localBe, port: 5353 });
    dp.setBackend(2, { addr: n.remoteBe, port: 8053 });
    dp.setService({ frontend: cip, svcId: 60, slots: [1] });
    dp.setService({ frontend: np, svcId: 61, slots: [2], flags: SVC_F.NODEPORT });
    // As the daemon writes it: what a later fragment without a flow must not be routed to.
    dp.setClusterIp(n.clusterIp);
  };

  it('a pod\'s datagram to a ClusterIP in three fragments reaches the backend whole, and so does its answer in two', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33000, 53, 2500, 0x1234), 1024);
    expect(q).toHaveLength(3);
    const fwd = run(dp, 'tc_ingress', FROM_PODS, q);
    expect(fwd.verdicts).toEqual([TC.pass, TC.pass, TC.pass]);
    expect(fwd.events).toMatchObject({ ct_created: 1, frag_followed: 2 });
    expect(fwd.events.frag_unknown ?? 0).toBe(0);
    sameFragments(q, fwd.frames);
    for (const f of fwd.frames) expect(parsePacket(f)).toMatchObject({ src: n.pod, dst: n.localBe });
    expect(whole(fwd.frames)).toMatchObject({ src: n.pod, dst: n.localBe, sport: 33000, dport: 5353, l4ChecksumOk: true, payload: whole(q).payload });
    expect(dp.svcPackets(60)).toBe(3n);

    const a = fragmentPacket(datagram(n.localBe, n.pod, 5353, 33000, 1800, 0x0777), 1024);
    const rev = run(dp, 'tc_ingress', FROM_PODS, a);
    expect(rev.verdicts).toEqual([TC.pass, TC.pass]);
    expect(rev.events).toMatchObject({ ct_hit_rev: 1, frag_followed: 1 });
    sameFragments(a, rev.frames);
    expect(whole(rev.frames)).toMatchObject({ src: n.clusterIp, dst: n.pod, sport: 53, dport: 33000, l4ChecksumOk: true, payload: whole(a).payload });
  });

  it('a NodePort datagram SNATed to a remote backend: every fragment gets the node\'s address, the whole its SNAT port; the answer goes back to the client from the NodePort', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.external, n.node, 41000, NODEPORT, 3000, 0x4321), 1480);
    const fwd = run(dp, 'tc_ingress', FROM_WIRE, q);
    expect(fwd.verdicts).toEqual(q.map(() => TC.pass));
    expect(fwd.events).toMatchObject({ ct_created: 1, frag_followed: q.length - 1 });
    sameFragments(q, fwd.frames);
    for (const f of fwd.frames) expect(parsePacket(f)).toMatchObject({ src: n.node, dst: n.remoteBe });
    const got = whole(fwd.frames);
    expect(got).toMatchObject({ src: n.node, dst: n.remoteBe, dport: 8053, l4ChecksumOk: true, payload: whole(q).payload });
    expect(got.sport).toBeGreaterThanOrEqual(SNAT_RANGE.min);
    expect(got.sport).toBeLessThanOrEqual(SNAT_RANGE.max);
    const flow = [...dp.map(ctMapOf(n.family)).entries()].length;
    expect(flow, 'one flow: two conntrack entries, whatever the fragments').toBe(2);

    const a = fragmentPacket(datagram(n.remoteBe, n.node, 8053, got.sport!, 2000, 0x0100), 1480);
    const rev = run(dp, 'tc_ingress', FROM_WIRE, a);
    expect(rev.verdicts).toEqual(a.map(() => TC.pass));
    expect(rev.events).toMatchObject({ ct_hit_rev: 1, frag_followed: a.length - 1 });
    for (const f of rev.frames) expect(parsePacket(f)).toMatchObject({ src: n.node, dst: n.external });
    expect(whole(rev.frames)).toMatchObject({ src: n.node, dst: n.external, sport: NODEPORT, dport: 41000, l4ChecksumOk: true, payload: whole(a).payload });
  });

  it('a later fragment that overtook its first to a ClusterIP is dropped (never routed out), and starts nothing; once the first has been, the next datagram\'s fragments follow in order', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33001, 53, 2000, 0x2001), 1024);
    const early = run(dp, 'tc_ingress', FROM_PODS, [q[1]!]);
    expect(early.verdicts).toEqual([TC.drop]);
    expect(early.events).toMatchObject({ frag_unknown: 1 });
    expect(early.drops).toEqual({ frag_no_flow: 1 });
    expect(early.events.ct_created ?? 0).toBe(0);
    expect([...dp.map(ctMapOf(n.family)).entries()]).toHaveLength(0);
    // The first then starts the flow (the receiver's reassembly waits for the lost piece in vain).
    expect(run(dp, 'tc_ingress', FROM_PODS, [q[0]!]).events).toMatchObject({ ct_created: 1 });
    const next = fragmentPacket(datagram(n.pod, n.clusterIp, 33001, 53, 2000, 0x2002), 1024);
    const ok = run(dp, 'tc_ingress', FROM_PODS, next);
    expect(ok.events).toMatchObject({ ct_hit_fwd: 1, frag_followed: 1 });
    expect(whole(ok.frames)).toMatchObject({ dst: n.localBe, dport: 5353, l4ChecksumOk: true });
  });

  it('the same identification from another source is another datagram: its later fragments never take the first\'s ports', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33002, 53, 2000, 0x3003), 1024);
    run(dp, 'tc_ingress', FROM_PODS, [q[0]!]);
    const other = fragmentPacket(datagram(n.localBe2, n.clusterIp, 33002, 53, 2000, 0x3003), 1024);
    const r = run(dp, 'tc_ingress', FROM_PODS, [other[1]!]);
    expect(r.verdicts).toEqual([TC.drop]);
    expect(r.events).toMatchObject({ frag_unknown: 1 });
    expect(r.events.frag_followed ?? 0).toBe(0);
  });

  it('a datagram to a service without endpoints: its first fragment is refused (a port unreachable quoting it), the rest dropped as it was', () => {
    const dp = fx.dp;
    setup(dp);
    dp.setService({ frontend: { addr: n.clusterIp, port: 54, proto: 'udp' }, svcId: 62, slots: [] });
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33003, 54, 2000, 0x4004), 1024);
    const r = run(dp, 'tc_ingress', FROM_PODS, q);
    expect(r.verdicts).toEqual([TC.redirect, TC.drop]);
    expect(parsePacket(r.frames[0]!)).toMatchObject({ src: n.clusterIp, dst: n.pod, icmp: v6 ? { type: 1, code: 4 } : { type: 3, code: 3 }, l4ChecksumOk: true });
    // The quote is the first fragment's header and 8 bytes, as it came (IPv6: the fragment
    // header too, so that the sender's stack finds the ports and the socket).
    const quoted = v6 ? 40 + 8 + 8 : 20 + 8;
    expect(parsePacket(r.frames[0]!).payload.toString('hex')).toBe(q[0]!.subarray(14, 14 + quoted).toString('hex'));
    expect(r.events).toMatchObject({ reject_icmp: 1 });
    expect(r.events.frag_unknown ?? 0, 'the first was seen').toBe(0);
    expect(r.drops).toEqual({ frag_no_flow: 1 });
  });

  it('a later fragment of an expired flow to a ClusterIP is dropped', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33004, 53, 2000, 0x5005), 1024);
    run(dp, 'tc_ingress', FROM_PODS, [q[0]!]);
    dp.putFlow({ saddr: n.pod, daddr: n.clusterIp, sport: 33004, dport: 53, proto: 'udp' },
      { expiresNs: 1n, addr: n.localBe, addr2: null, port: 5353, port2: 0, svcId: 60, backendId: 1, type: CT_TYPE.FWD, state: 0, flags: 0, tcpFlagsSeen: 0 });
    const r = run(dp, 'tc_ingress', FROM_PODS, [q[1]!]);
    expect(r.verdicts).toEqual([TC.drop]);
    expect(r.drops).toEqual({ frag_no_flow: 1 });
  });

  it('a datagram that is no service\'s passes untouched, fragment by fragment, and counts as such', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.other, 33008, 53, 2000, 0x8008), 1024);
    const r = run(dp, 'tc_ingress', FROM_PODS, q);
    expect(r.verdicts).toEqual([TC.pass, TC.pass]);
    r.frames.forEach((f, i) => expect(f.equals(q[i]!), `frame ${i}`).toBe(true));
    expect(r.events).toMatchObject({ pass_fragment: 1 });
    expect(r.events.frag_unknown ?? 0).toBe(0);
    // One that overtook a first tc never saw: counted as unknown, passed.
    const stray = fragmentPacket(datagram(n.pod, n.other, 33009, 53, 2000, 0x8009), 1024)[1]!;
    const s = run(dp, 'tc_ingress', FROM_PODS, [stray]);
    expect(s.verdicts).toEqual([TC.pass]);
    expect(s.frames[0]!.equals(stray)).toBe(true);
    expect(s.events).toMatchObject({ frag_unknown: 1 });
  });

  it('a host process\'s datagram to a ClusterIP, fragmented by the node\'s stack, is translated whole at tc egress', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.node, n.clusterIp, 33010, 53, 3000, 0x9009), 1024);
    const r = run(dp, 'tc_egress', FROM_HOST, q);
    expect(r.events).toMatchObject({ ct_created: 1, frag_followed: q.length - 1 });
    expect(whole(r.frames)).toMatchObject({ src: n.node, dst: n.localBe, sport: 33010, dport: 5353, l4ChecksumOk: true, payload: whole(q).payload });
  });

  it(`an error about a datagram's first fragment (a ${v6 ? 'packet too big' : 'frag-needed'} from a router on the way to the backend) reaches the pod about the datagram it sent`, () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket({ ...datagram(n.pod, n.clusterIp, 33011, 53, 2000, 0xa00a), ...(v6 ? {} : { df: false }) }, 1024);
    const fwd = run(dp, 'tc_ingress', FROM_PODS, q);
    const { TOO_BIG, err } = icmpErrors(n);
    // The router quotes the translated first fragment (IPv6: with its fragment header).
    const quoted = fwd.frames[0]!.subarray(14, 14 + (v6 ? 40 + 8 : 20) + 8 + 16);
    const r = run(dp, 'tc_ingress', FROM_WIRE, [buildPacket(err(n.other, n.pod, TOO_BIG, quoted))]);
    expect(r.verdicts).toEqual([TC.pass]);
    expect(r.events).toMatchObject({ icmp_err_xlate: 1 });
    const got = parsePacket(r.frames[0]!);
    expect(got).toMatchObject({ src: n.other, dst: n.pod, l4ChecksumOk: true });
    // The quote is the first fragment as the pod sent it, byte for byte.
    expect(got.payload.toString('hex')).toBe(q[0]!.subarray(14, 14 + quoted.length).toString('hex'));
  });

  if (v6) {
    it('an atomic fragment (a fragment header, offset 0, no more) is translated as the datagram it is', () => {
      const dp = fx.dp;
      setup(dp);
      const spec = { ...datagram(n.pod, n.clusterIp, 33012, 53, 200, 0xb00b), fragment: { offset: 0, more: false } };
      const r = run(dp, 'tc_ingress', FROM_PODS, [buildPacket(spec)]);
      expect(r.verdicts).toEqual([TC.pass]);
      expect(parsePacket(r.frames[0]!)).toMatchObject({ dst: n.localBe, dport: 5353, fragment: { offset: 0, more: false } });
      expect(whole(r.frames)).toMatchObject({ dst: n.localBe, dport: 5353, l4ChecksumOk: true });
    });
  }

  it('impossible first fragments are dropped, as any impossible datagram: a UDP length under 8, no room for the UDP header', () => {
    const dp = fx.dp;
    setup(dp);
    const first = fragmentPacket(datagram(n.pod, n.clusterIp, 33013, 53, 2000, 0xc00c), 1024)[0]!;
    const udpAt = 14 + (v6 ? 48 : 20);
    const short = Buffer.from(first);
    short.writeUInt16BE(4, udpAt + 4);
    const empty = buildPacket({ ...datagram(n.pod, n.clusterIp, 33013, 53, 0, 0xc00d), fragment: { offset: 0, more: true } }).subarray(0, udpAt);
    if (v6) empty.writeUInt16BE(8, 14 + 4); else { empty.writeUInt16BE(20, 14 + 2); empty.writeUInt16BE(0, 14 + 10); empty.writeUInt16BE(inetChecksum(empty.subarray(14, 34)), 14 + 10); }
    const r = run(dp, 'tc_ingress', FROM_PODS, [short, empty]);
    expect(r.verdicts).toEqual([TC.drop, TC.drop]);
    expect(r.drops).toEqual({ invalid_l4: 2 });
  });

  it(`what tc does not translate in fragments passes untouched: TCP, ${v6 ? 'an extension header before the fragment header' : 'IPv4 options'}, and everything at XDP`, () => {
    const dp = fx.dp;
    setup(dp);
    dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 63, slots: [1] });
    const tcp = fragmentPacket({ src: n.pod, dst: n.clusterIp, proto: 'tcp', sport: 40000, dport: 80, payload: Buffer.alloc(1500, 1), ipId: 9 }, 1024);
    const odd = fragmentPacket({
      ...datagram(n.pod, n.clusterIp, 33005, 53, 2000, 10),
      ...(v6 ? { ipv6ExtHeaders: [{ type: 60 }] } : { ipOptions: Buffer.from([0x94, 0x04, 0x00, 0x00]) }),
    }, 1024);
    const r = run(dp, 'tc_ingress', FROM_PODS, [...tcp, ...odd]);
    r.frames.forEach((f, i) => expect(f.equals([...tcp, ...odd][i]!), `frame ${i}`).toBe(true));
    expect(r.events).toMatchObject({ [passed]: 4 });
    // XDP leaves every fragment to tc: what follows a first fragment must meet what it became.
    const udp = fragmentPacket(datagram(n.external, n.node, 41001, NODEPORT, 2000, 11), 1024);
    const x = run(dp, 'xdp_nodeport', FROM_WIRE, udp);
    expect(x.verdicts).toEqual([XDP.pass, XDP.pass]);
    x.frames.forEach((f, i) => expect(f.equals(udp[i]!), `xdp frame ${i}`).toBe(true));
    expect(x.events).toMatchObject({ [passed]: 2 });
  });

  kernelIt([6, 11])('under CHECKSUM_COMPLETE (a NIC that sums every packet), skb->csum stays the packet\'s sum for every fragment', () => {
    const dp = fx.dp;
    setup(dp);
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33006, 53, 2500, 0x6006), 1024);
    // The test run fails (EBADMSG) where skb->csum is no longer the packet's sum.
    const r = run(dp, 'tc_ingress', FROM_PODS, q, TEST_SKB_CHECKSUM_COMPLETE);
    expect(r.verdicts).toEqual([TC.pass, TC.pass, TC.pass]);
    expect(whole(r.frames)).toMatchObject({ dst: n.localBe, dport: 5353, l4ChecksumOk: true });
  });

  it('a host-network backend\'s answer in fragments to a pod (tc_to_pod) is reverse-NATed whole; a request\'s fragment there is left alone', () => {
    const dp = fx.dp;
    setup(dp);
    dp.setBackend(3, { addr: n.node, port: 5399 });
    dp.setService({ frontend: { addr: n.clusterIp, port: 55, proto: 'udp' }, svcId: 64, slots: [3] });
    const q = fragmentPacket(datagram(n.pod, n.clusterIp, 33007, 55, 100, 0x7007), 1024);
    run(dp, 'tc_ingress', FROM_PODS, q);
    const a = fragmentPacket(datagram(n.node, n.pod, 5399, 33007, 2000, 0x7008), 1024);
    const r = run(dp, 'tc_to_pod', FROM_PODS, a);
    expect(r.verdicts).toEqual([TC.pass, TC.pass]);
    expect(r.events).toMatchObject({ ct_hit_rev: 1, frag_followed: 1 });
    expect(whole(r.frames)).toMatchObject({ src: n.clusterIp, dst: n.pod, sport: 55, dport: 33007, l4ChecksumOk: true });
    // A FWD entry is never applied there (it would DNAT a packet to the pod).
    const big = fragmentPacket(datagram(n.pod, n.clusterIp, 33007, 55, 2000, 0x7009), 1024);
    const f = run(dp, 'tc_to_pod', FROM_PODS, big);
    expect(f.verdicts).toEqual([TC.pass, TC.pass]);
    f.frames.forEach((fr, i) => expect(fr.equals(big[i]!), `frame ${i}`).toBe(true));
  });
});
