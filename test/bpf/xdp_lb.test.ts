// XDP fast path for NodePort/LB/ExternalIP on external devices (same pipeline as tc,
// with checksums patched by hand), its hand-off to tc for rejects, and the floor
// program the benchmark uses as its baseline.
import { describe, expect } from 'vitest';
import { BE_F, CONFIG_GLOBAL, CT_F, MAP, SVC_F, decodeCtVal, encodeConfig, encodeCtKey, encodeU32, reverseKeyOf, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { BpfObject, bpfObjectPath } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { DEFAULT_DST_MAC, DEFAULT_SRC_MAC, buildPacket, parsePacket, type PacketSpec } from '../support/packet.js';
import { runCase, type Case } from './cases.js';
import { counterDelta, datapathFixture, Datapath, TC, XDP } from './datapath.js';
import { FROM_PODS, FROM_WIRE, NETS, SNAT_RANGE, V4, type Net } from './fixtures.js';

const it = kernelIt();
const NODEPORT = 30080;

function cases(n: Net): Case[] {
  const np: SvcKey = { addr: n.node, port: NODEPORT, proto: 'tcp' };
  const be = (dp: Datapath) => {
    dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
    dp.setBackend(3, { addr: n.localBe, port: 8080, flags: BE_F.LOCAL });
  };
  const syn = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({ src, dst, proto: 'tcp', sport, dport });
  const tcp = (src: string, dst: string, sport: number, dport: number, flags: PacketSpec['tcpFlags']): PacketSpec => ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: flags });

  const list: Case[] = [
    {
      // Only a source-preserving service is sure to need no SNAT; XDP leaves the
      // rest to tc before spending a backend selection that tc would repeat.
      name: `${n.tag} XDP defers an eTP=Cluster service to tc untouched, before choosing a backend`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 67, slots: [3], flags: SVC_F.NODEPORT }); },
      steps: [
        { what: 'XDP passes it untouched', prog: 'xdp_nodeport', config: FROM_WIRE, in: syn(n.external, n.node, 51009, NODEPORT), verdict: XDP.pass, out: 'unchanged', events: { xdp_to_stack: 1, ct_created: 0 } },
        { what: 'tc does the DNAT', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.node, 51009, NODEPORT), verdict: TC.pass, out: syn(n.external, n.localBe, 51009, 8080), events: { ct_created: 1 } },
      ],
    },
    {
      name: `${n.tag} XDP NodePort eTP=Local: DNAT, then the stack routes it`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 60, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
      steps: [
        { what: 'SYN rewritten in XDP', prog: 'xdp_nodeport', config: FROM_WIRE, in: syn(n.external, n.node, 51000, NODEPORT), verdict: XDP.pass, out: syn(n.external, n.localBe, 51000, 8080), events: { ct_created: 1 }, svc: { 60: 1 } },
        { what: 'ACK follows CT in XDP', prog: 'xdp_nodeport', config: FROM_WIRE, in: tcp(n.external, n.node, 51000, NODEPORT, { ack: true }), verdict: XDP.pass, out: tcp(n.external, n.localBe, 51000, 8080, { ack: true }), events: { ct_hit_fwd: 1 } },
        { what: 'reply from the pod (tc on its veth) un-NATed', prog: 'tc_ingress', config: FROM_PODS, in: tcp(n.localBe, n.external, 8080, 51000, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.node, n.external, NODEPORT, 51000, { syn: true, ack: true }) },
      ],
    },
    {
      // The rewritten packet would carry this node's address as its source, which
      // the stack drops as a martian after XDP_PASS: tc, which can send it on
      // directly, does these flows, and XDP passes them (and their replies) on untouched.
      name: `${n.tag} XDP defers SNAT flows and their replies to tc`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 61, slots: [1], flags: SVC_F.NODEPORT }); },
      steps: (() => {
        let port = 0;
        return [
          { what: 'XDP passes the SYN untouched', prog: 'xdp_nodeport' as const, config: FROM_WIRE, in: syn(n.external, n.node, 51001, NODEPORT), verdict: XDP.pass, out: 'unchanged' as const, events: { xdp_to_stack: 1 } },
          {
            what: 'tc SNATs to the node', prog: 'tc_ingress' as const, config: FROM_WIRE, in: syn(n.external, n.node, 51001, NODEPORT), verdict: TC.pass,
            out: (got: { sport?: number }) => {
              expect(got.sport).toBeGreaterThanOrEqual(SNAT_RANGE.min);
              expect(got.sport).toBeLessThanOrEqual(SNAT_RANGE.max);
              port = got.sport!;
              return syn(n.node, n.remoteBe, port, 8080);
            },
          },
          {
            what: 'XDP passes the established flow untouched', prog: 'xdp_nodeport' as const, config: FROM_WIRE, in: tcp(n.external, n.node, 51001, NODEPORT, { ack: true }), verdict: XDP.pass,
            out: 'unchanged' as const, events: { ct_hit_fwd: 0, xdp_to_stack: 1 },
          },
          {
            what: 'XDP passes the reply untouched', prog: 'xdp_nodeport' as const, config: FROM_WIRE, in: () => tcp(n.remoteBe, n.node, 8080, port, { syn: true, ack: true }), verdict: XDP.pass,
            out: 'unchanged' as const, events: { xdp_to_stack: 1 },
          },
          {
            what: 'tc reverses the reply', prog: 'tc_ingress' as const, config: FROM_WIRE, in: () => tcp(n.remoteBe, n.node, 8080, port, { syn: true, ack: true }), verdict: TC.pass,
            out: tcp(n.node, n.external, NODEPORT, 51001, { syn: true, ack: true }), events: { ct_hit_rev: 1 },
          },
        ];
      })(),
    },
    {
      name: `${n.tag} XDP hands an empty service to tc, which answers with a RST`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 62, slots: [], flags: SVC_F.NODEPORT }); },
      steps: [
        { what: 'XDP passes it untouched', prog: 'xdp_nodeport', config: FROM_WIRE, in: syn(n.external, n.node, 51002, NODEPORT), verdict: XDP.pass, out: 'unchanged', events: { xdp_to_stack: 1 } },
        {
          what: 'tc ingress on the same device rejects', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.node, 51002, NODEPORT), verdict: TC.redirect,
          out: { eth: { src: DEFAULT_DST_MAC, dst: DEFAULT_SRC_MAC }, src: n.node, dst: n.external, proto: 'tcp', sport: NODEPORT, dport: 51002, tcpFlags: { rst: true, ack: true }, seq: 0, ackSeq: 1001, window: 0, df: true },
        },
      ],
    },
    {
      name: `${n.tag} XDP enforces loadBalancerSourceRanges`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: { addr: n.lbIp, port: 443, proto: 'tcp' }, svcId: 63, slots: [3], flags: SVC_F.EXTERNAL | SVC_F.SRC_RANGES | SVC_F.PRESERVE_SRC });
        dp.allowSourceRange(63, n.externalCidr);
      },
      steps: [
        { what: 'allowed', prog: 'xdp_nodeport', config: FROM_WIRE, in: syn(n.external, n.lbIp, 51003, 443), verdict: XDP.pass, out: syn(n.external, n.localBe, 51003, 8080) },
        { what: 'denied', prog: 'xdp_nodeport', config: FROM_WIRE, in: syn(n.external2, n.lbIp, 51004, 443), verdict: XDP.drop, out: 'unchanged', drops: { src_range: 1 } },
      ],
    },
    {
      name: `${n.tag} XDP UDP NodePort DNAT`,
      setup: (dp) => { be(dp); dp.setService({ frontend: { addr: n.node, port: 30053, proto: 'udp' }, svcId: 64, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
      steps: [{
        what: 'UDP rewritten', prog: 'xdp_nodeport', config: FROM_WIRE, in: { src: n.external, dst: n.node, proto: 'udp', sport: 51005, dport: 30053, payload: 'ping' },
        verdict: XDP.pass, out: { src: n.external, dst: n.localBe, proto: 'udp', sport: 51005, dport: 8080, payload: 'ping' },
      }],
    },
    {
      name: `${n.tag} XDP SCTP NodePort DNAT with CRC32c update`,
      setup: (dp) => { be(dp); dp.setService({ frontend: { addr: n.node, port: 30868, proto: 'sctp' }, svcId: 65, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
      steps: [{
        what: 'SCTP rewritten', prog: 'xdp_nodeport', config: FROM_WIRE, in: { src: n.external, dst: n.node, proto: 'sctp', sport: 51006, dport: 30868, vtag: 9, payload: Buffer.alloc(101, 3) },
        verdict: XDP.pass, out: { src: n.external, dst: n.localBe, proto: 'sctp', sport: 51006, dport: 8080, vtag: 9, payload: Buffer.alloc(101, 3) },
      }],
    },
  ];
  {
    // IPv6 forbids a zero UDP checksum except for tunnels (RFC 6935), which is all the more
    // reason to leave one as it came: both hooks do, as tc always did.
    const udpNoCsum = (prog: 'xdp_nodeport' | 'tc_ingress'): Case => ({
      name: `${n.tag} ${prog}: UDP without checksum stays without checksum after DNAT`,
      setup: (dp) => { be(dp); dp.setService({ frontend: { addr: n.node, port: 30053, proto: 'udp' }, svcId: 66, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
      steps: [{
        what: 'checksum field stays 0', prog, config: FROM_WIRE,
        in: { src: n.external, dst: n.node, proto: 'udp', sport: 51007, dport: 30053, payload: 'x', udpNoChecksum: true },
        verdict: prog === 'tc_ingress' ? TC.pass : XDP.pass,
        out: { src: n.external, dst: n.localBe, proto: 'udp', sport: 51007, dport: 8080, payload: 'x', udpNoChecksum: true },
      }],
    });
    list.push(udpNoCsum('xdp_nodeport'), udpNoCsum('tc_ingress'));
  }
  return list;
}

describe('xdp_lb datapath', () => {
  const fx = datapathFixture();

  for (const n of NETS) for (const c of cases(n)) it(c.name, () => runCase(fx.dp, c));

  for (const [name, pass] of [['xdp_floor', XDP.pass], ['tc_floor', TC.pass]] as const) it(`${name} parses, looks up the service map once per packet and passes it untouched`, () => {
    const obj = BpfObject.open(bpfObjectPath(name), { pinRoot: fx.fs!.path }).load();
    try {
      for (const n of NETS) {
        fx.dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 70, slots: [] });
        for (const spec of [
          { src: n.pod, dst: n.clusterIp, proto: 'tcp', sport: 1, dport: 80 },
          { src: n.pod, dst: n.other, proto: 'udp', sport: 1, dport: 53 },
        ] as PacketSpec[]) {
          const frame = buildPacket(spec);
          const before = fx.dp.counters();
          const r = obj.program(name).testRun({ data: frame, repeat: 100 });
          expect(r.retval).toBe(pass);
          expect(r.data.equals(frame)).toBe(true);
          // A found service counts like a conntrack hit (the value is touched), a miss nothing.
          expect(counterDelta(before, fx.dp.counters()).events.ct_hit_fwd ?? 0).toBe(spec.dst === n.clusterIp ? 100 : 0);
        }
      }
    } finally {
      obj.close();
    }
  });

  it('syn_feed (the benchmark\'s new-flow feed) gives each repetition of one test run its own SYN, through the real tc_ingress, and stops at the last frame', () => {
    const feedObj = BpfObject.open(bpfObjectPath('syn_feed'), {}).load();
    try {
      fx.dp.clearFlows();
      const n = V4;
      fx.dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
      fx.dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 71, slots: [1] });
      const flows = [40100, 40101, 40102].map((sport) => ({ saddr: n.external, daddr: n.clusterIp, sport, dport: 80, proto: 'tcp' as const }));
      const frames = flows.map((k) => buildPacket({ src: k.saddr, dst: k.daddr, proto: 'tcp', sport: k.sport, dport: k.dport }));
      const frameMap = feedObj.map('syn_feed_frames');
      frames.forEach((f, i) => {
        expect(f.length).toBe(54);
        frameMap.update(encodeU32(i), Buffer.concat([f, Buffer.alloc(frameMap.valueSize - f.length)]));
      });
      const state = feedObj.map('syn_feed_state');
      const setState = (next: number, count: number) => state.update(encodeU32(0), Buffer.concat([encodeU32(next), encodeU32(count)]));
      const feed = feedObj.program('tc_syn_feed');
      const next = feedObj.map('syn_feed_next');
      // The packet handed in is only a buffer of the right length: each repetition overwrites it.
      const junk = Buffer.alloc(54, 0xee);
      /** The feed into the program `fd`, three repetitions from frame 0: the last packet, and the flows created. */
      const feedThree = (fd: number) => {
        next.update(encodeU32(0), encodeU32(fd));
        setState(0, 3);
        const before = fx.dp.counters();
        const r = feed.testRun({ data: junk, repeat: 3 });
        expect(r.retval).toBe(TC.pass);
        return { r, created: counterDelta(before, fx.dp.counters()).events.ct_created ?? 0 };
      };

      // The feed alone (tail call to a program that returns): nothing is created, every frame is used.
      let fed = feedThree(feedObj.program('tc_feed_return').fd);
      expect(fed.r.data.equals(frames[2]!)).toBe(true);
      expect(state.lookup(encodeU32(0))!.readUInt32LE(0)).toBe(3);
      expect(fed.created).toBe(0);

      // Into tc_ingress: three repetitions are three new flows, each DNATed (the last one comes out).
      fed = feedThree(fx.dp.program('tc_ingress', FROM_PODS).fd);
      expect(fed.r.data.equals(buildPacket({ src: n.external, dst: n.remoteBe, proto: 'tcp', sport: 40102, dport: 8080 }))).toBe(true);
      expect(fed.created).toBe(3);
      const ct = fx.dp.map(MAP.ct4);
      for (const k of flows) expect(decodeCtVal(ct.lookup(encodeCtKey(k))!, 4)).toMatchObject({ addr: n.remoteBe, port: 8080, svcId: 71 });

      // A fourth repetition would replay a flow that exists: the feed refuses it instead (the
      // last verdict is its drop, and no repetition found a flow).
      fx.dp.clearFlows();
      setState(0, 3);
      const before = fx.dp.counters();
      const r = feed.testRun({ data: junk, repeat: 4 });
      expect(r.retval).toBe(TC.drop);
      expect(state.lookup(encodeU32(0))!.readUInt32LE(0)).toBe(3);
      expect(counterDelta(before, fx.dp.counters()).events).toMatchObject({ ct_created: 3 });
      expect(counterDelta(before, fx.dp.counters()).events.ct_hit_fwd ?? 0).toBe(0);
      // ... and so does a packet of another length, without using up a frame.
      setState(0, 3);
      expect(feed.testRun({ data: Buffer.alloc(60) }).retval).toBe(TC.drop);
      expect(state.lookup(encodeU32(0))!.readUInt32LE(0)).toBe(0);

      // Into ct_floor (the conntrack part alone): one SNAT flow per frame.
      const ctFloor = BpfObject.open(bpfObjectPath('ct_floor'), { pinRoot: fx.fs!.path }).setRodata(CONFIG_GLOBAL, encodeConfig(FROM_WIRE)).load();
      try {
        fx.dp.clearFlows();
        expect(feedThree(ctFloor.program('tc_ct_floor').fd).created).toBe(3);
        for (const k of flows) expect(decodeCtVal(ct.lookup(encodeCtKey(k))!, 4)).toMatchObject({ port: 8080, addr2: V4.node, flags: CT_F.SNAT | CT_F.EXTERNAL });

        // Into tc_flow_floor (one insert per flow): one FWD entry per frame, and nothing else.
        fx.dp.clearFlows();
        expect(feedThree(ctFloor.program('tc_flow_floor').fd).created).toBe(3);
        expect([...ct.keys()]).toHaveLength(3);
        for (const k of flows) expect(decodeCtVal(ct.lookup(encodeCtKey(k))!, 4)).toMatchObject({ port: 8080, type: 1, addr2: null });
      } finally {
        ctFloor.close();
      }
    } finally {
      feedObj.close();
      fx.dp.clearFlows();
    }
  });

  /** ct_floor over the fixture's maps with the wire config, conntrack emptied before and after. */
  const withCtFloor = (fn: (obj: BpfObject) => void) => {
    const obj = BpfObject.open(bpfObjectPath('ct_floor'), { pinRoot: fx.fs!.path }).setRodata(CONFIG_GLOBAL, encodeConfig(FROM_WIRE)).load();
    try {
      fx.dp.clearFlows();
      fn(obj);
    } finally {
      obj.close();
      fx.dp.clearFlows();
    }
  };

  /** One of ct_floor's programs, three times on a new flow's SYN: passed untouched each time, one creation. */
  const newFlowThrice = (obj: BpfObject, prog: string, sport: number) => {
    const key = { saddr: V4.external, daddr: V4.clusterIp, sport, dport: 80, proto: 'tcp' } as const;
    const frame = buildPacket({ src: key.saddr, dst: key.daddr, proto: 'tcp', sport: key.sport, dport: key.dport });
    const before = fx.dp.counters();
    for (let i = 0; i < 3; i++) {
      const r = obj.program(prog).testRun({ data: frame });
      expect(r.retval).toBe(TC.pass);
      expect(r.data.equals(frame)).toBe(true);
    }
    expect(counterDelta(before, fx.dp.counters()).events.ct_created).toBe(1);
    return key;
  };

  it('ct_floor (the benchmark\'s conntrack-alone reference) creates a SNAT flow\'s FWD and REV entries once, and leaves the packet untouched', () => {
    withCtFloor((obj) => {
      const key = newFlowThrice(obj, 'tc_ct_floor', 40000);
      const ct = fx.dp.map(MAP.ct4);
      const fwd = decodeCtVal(ct.lookup(encodeCtKey(key))!, 4);
      expect(fwd).toMatchObject({ addr: '203.0.113.1', port: 8080, addr2: V4.node, flags: CT_F.SNAT | CT_F.EXTERNAL });
      expect(fwd.port2).toBeGreaterThanOrEqual(SNAT_RANGE.min);
      expect(fwd.port2).toBeLessThanOrEqual(SNAT_RANGE.max);
      const rev = ct.lookup(encodeCtKey(reverseKeyOf(key, fwd)));
      expect(rev && decodeCtVal(rev, 4)).toMatchObject({ addr: V4.clusterIp, port: 80, addr2: V4.external, port2: 40000 });
      expect([...ct.keys()]).toHaveLength(2);
    });
  });

  it('tc_flow_floor (the benchmark\'s least per-flow state) inserts one FWD entry for a new flow, none for a known one, and leaves the packet untouched', () => {
    withCtFloor((obj) => {
      const key = newFlowThrice(obj, 'tc_flow_floor', 40001);
      const ct = fx.dp.map(MAP.ct4);
      // source port 40001 % 10 backends = 1: the second backend address, 203.0.113.2
      expect(decodeCtVal(ct.lookup(encodeCtKey(key))!, 4)).toMatchObject({ addr: '203.0.113.2', port: 8080, addr2: null, svcId: 1, type: 1, state: 1 });
      expect([...ct.keys()]).toHaveLength(1);
    });
  });

  it('tc_lb_noinsert (the benchmark\'s new flow without its conntrack inserts) rewrites a new flow as tc_lb does, and keeps nothing', () => {
    const obj = BpfObject.open(bpfObjectPath('tc_lb_noinsert'), { pinRoot: fx.fs!.path }).setRodata(CONFIG_GLOBAL, encodeConfig(FROM_WIRE)).load();
    try {
      fx.dp.clearFlows();
      const n = V4;
      fx.dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
      fx.dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 72, slots: [1] });
      const frame = buildPacket({ src: n.external, dst: n.clusterIp, proto: 'tcp', sport: 40200, dport: 80 });
      const before = fx.dp.counters();
      const r = obj.program('tc_ingress').testRun({ data: frame });
      expect([TC.pass, TC.redirect]).toContain(r.retval);
      const out = parsePacket(r.data);
      expect(out).toMatchObject({ dst: n.remoteBe, dport: 8080, src: n.node, ipChecksumOk: true, l4ChecksumOk: true });
      expect(out.sport).toBeGreaterThanOrEqual(SNAT_RANGE.min);
      expect(out.sport).toBeLessThanOrEqual(SNAT_RANGE.max);
      // Counted as created, as tc_lb counts it, but neither entry was inserted.
      expect(counterDelta(before, fx.dp.counters()).events.ct_created).toBe(1);
      expect([...fx.dp.map(MAP.ct4).keys()]).toHaveLength(0);
      // tc_lb on the same frame: the same verdict and packet, but for the SNAT port drawn (and
      // so the checksums), and its two entries kept.
      const real = fx.dp.program('tc_ingress', FROM_WIRE).testRun({ data: frame });
      expect(real.retval).toBe(r.retval);
      const mine = parsePacket(real.data);
      const { sport: _sport, l4Checksum: _sum, ...same } = out;
      expect(mine).toMatchObject(same);
      expect(mine.sport).not.toBe(0);
      expect([...fx.dp.map(MAP.ct4).keys()]).toHaveLength(2);
    } finally {
      obj.close();
      fx.dp.clearFlows();
    }
  });
});
