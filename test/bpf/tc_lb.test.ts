// tc datapath, IPv4 and IPv6: ClusterIP/NodePort/LB DNAT, reverse NAT, SNAT for
// eTP=Cluster and hairpin, traffic policies and scopes, source ranges, affinity,
// Maglev, conntrack life cycle, rejects for empty services. Every case runs for
// real through BPF_PROG_TEST_RUN on the compiled tc_lb object.
import { describe, expect } from 'vitest';
import {
  BE_F, CT_F, CT_STATE, CT_TYPE, MAP, SVC_F, ctMapOf, decodeAffinityVal, decodeCtVal, encodeAffinityKey, encodeAffinityVal, encodeCtKey,
  encodeCtVal, type SvcKey,
} from '../../src/dataplane/ebpf/abi.js';
import { maglevTable, maglevTableSize, type MaglevBackend } from '../../src/dataplane/ebpf/maglev.js';
import { kernelIt } from '../support/capability.js';
import { inetChecksum } from '../support/checksum.js';
import { DEFAULT_DST_MAC, DEFAULT_SRC_MAC, buildIpPacket, buildPacket, parsePacket, sctpChunk, type PacketSpec } from '../support/packet.js';
import { runCase, TEST_SKB_CHECKSUM_COMPLETE, type Case } from './cases.js';
import { counterDelta, datapathFixture, Datapath, TC } from './datapath.js';
import { FROM_HOST, FROM_PODS, FROM_WIRE, NETS, SNAT_RANGE, type Net } from './fixtures.js';

const it = kernelIt();
const REPLY_ETH = { src: DEFAULT_DST_MAC, dst: DEFAULT_SRC_MAC };
const NODEPORT = 30080;
/** Backend ids 1-4 of the cases below, by name. */
const MAGLEV_BACKENDS = (n: Net): MaglevBackend[] =>
  [[1, n.remoteBe], [2, n.remoteBe2], [3, n.localBe], [4, n.localBe2]].map(([id, a]) => ({ id: id as number, name: `${a}:8080` }));

const syn = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({ src, dst, proto: 'tcp', sport, dport });
const tcp = (src: string, dst: string, sport: number, dport: number, flags: PacketSpec['tcpFlags'], extra: Partial<PacketSpec> = {}): PacketSpec =>
  ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: flags, ...extra });

/** Its own case: BPF_F_TEST_SKB_CHECKSUM_COMPLETE needs Linux 6.11. */
function checksumCompleteCase(n: Net): Case {
  const cip: SvcKey = { addr: n.clusterIp, port: 80, proto: 'tcp' };
  const np: SvcKey = { addr: n.node, port: NODEPORT, proto: 'tcp' };
  return {
    // BPF_F_TEST_SKB_CHECKSUM_COMPLETE (6.11+): the test run sets skb->csum to the packet's sum,
    // and fails with EBADMSG when it no longer is after the program. The pseudo-header helper
    // takes the address change out of skb->csum, right for IPv4 only.
    name: `${n.tag} CHECKSUM_COMPLETE (a NIC that sums every packet): skb->csum stays the packet's sum through DNAT, reverse NAT, SNAT, SCTP, UDP without a checksum and the replies written in place`,
    setup: (dp) => { dp.setBackend(1, { addr: n.remoteBe, port: 8080 }); dp.setService({ frontend: cip, svcId: 49, slots: [1] }); dp.setService({ frontend: np, svcId: 50, slots: [1], flags: SVC_F.NODEPORT }); },
    steps: [{
      what: 'a SYN to the ClusterIP, its SYN-ACK and a NodePort SYN (SNAT), each with skb->csum set', prog: 'tc_ingress', config: FROM_PODS,
      in: syn(n.pod, n.clusterIp, 40026, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40026, 8080),
      check: (dp) => {
        const run = (config: typeof FROM_WIRE, spec: PacketSpec) =>
          parsePacket(dp.program('tc_ingress', config).testRun({ data: buildPacket(spec), flags: TEST_SKB_CHECKSUM_COMPLETE }).data);
        expect(run(FROM_PODS, syn(n.pod, n.clusterIp, 40027, 80))).toMatchObject({ dst: n.remoteBe, l4ChecksumOk: true });
        expect(run(FROM_WIRE, tcp(n.remoteBe, n.pod, 8080, 40027, { syn: true, ack: true }))).toMatchObject({ src: n.clusterIp, l4ChecksumOk: true });
        expect(run(FROM_WIRE, syn(n.external, n.node, 50009, NODEPORT))).toMatchObject({ src: n.node, dst: n.remoteBe, l4ChecksumOk: true });
        // A ping's reply: the IPv6 hop limit, which no checksum covers, changes the packet's sum.
        dp.setClusterIp(n.clusterIp);
        const ping: PacketSpec = { src: n.pod, dst: n.clusterIp, proto: n.family === 4 ? 'icmp' : 'icmpv6', ttl: 5 };
        expect(run(FROM_PODS, ping)).toMatchObject({ src: n.clusterIp, dst: n.pod, ttl: 64, icmp: { type: n.family === 4 ? 0 : 129 }, l4ChecksumOk: true });
        // SCTP: no checksum in the packet offsets the change of its ports and CRC (nor of IPv6's addresses).
        dp.setService({ frontend: { addr: n.clusterIp, port: 9, proto: 'sctp' }, svcId: 51, slots: [1] });
        expect(run(FROM_PODS, { src: n.pod, dst: n.clusterIp, proto: 'sctp', sport: 5000, dport: 9, vtag: 7, payload: sctpChunk(1, 0, Buffer.alloc(16, 3)) }))
          .toMatchObject({ dst: n.remoteBe, dport: 8080, l4ChecksumOk: true });
        // The same port at the backend: only the addresses change (for IPv6, skb->csum's alone).
        dp.setBackend(7, { addr: n.remoteBe, port: 3868 });
        dp.setService({ frontend: { addr: n.clusterIp, port: 3868, proto: 'sctp' }, svcId: 54, slots: [7] });
        expect(run(FROM_PODS, { src: n.pod, dst: n.clusterIp, proto: 'sctp', sport: 5002, dport: 3868, vtag: 7, payload: sctpChunk(1, 0, Buffer.alloc(16, 3)) }))
          .toMatchObject({ dst: n.remoteBe, dport: 3868, l4ChecksumOk: true });
        // A UDP datagram without a checksum keeps none: no field takes the ports' change out of the sum.
        dp.setService({ frontend: { addr: n.clusterIp, port: 53, proto: 'udp' }, svcId: 53, slots: [1] });
        expect(run(FROM_PODS, { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 5001, dport: 53, payload: 'q', udpNoChecksum: true }))
          .toMatchObject({ dst: n.remoteBe, dport: 8080, l4Checksum: 0 });
        // Rejects are written in place: a RST for a SYN, a port unreachable for an empty datagram. (One
        // with more bytes is cut first, which leaves CHECKSUM_NONE: nothing to keep.)
        dp.setService({ frontend: { addr: n.clusterIp, port: 81, proto: 'tcp' }, svcId: 52, slots: [] });
        expect(run(FROM_PODS, syn(n.pod, n.clusterIp, 40028, 81))).toMatchObject({ src: n.clusterIp, dst: n.pod, tcpFlags: { rst: true }, l4ChecksumOk: true });
        expect(run(FROM_PODS, { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 40029, dport: 54 }))
          .toMatchObject({ src: n.clusterIp, dst: n.pod, icmp: { type: n.family === 4 ? 3 : 1 }, l4ChecksumOk: true });
      },
    }],
  };
}


function cases(n: Net): Case[] {
  const cip: SvcKey = { addr: n.clusterIp, port: 80, proto: 'tcp' };
  const cipUdp: SvcKey = { addr: n.clusterIp, port: 53, proto: 'udp' };
  const np: SvcKey = { addr: n.node, port: NODEPORT, proto: 'tcp' };
  const lb: SvcKey = { addr: n.lbIp, port: 443, proto: 'tcp' };
  const be = (dp: Datapath) => {
    dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
    dp.setBackend(2, { addr: n.remoteBe2, port: 8080 });
    dp.setBackend(3, { addr: n.localBe, port: 8080, flags: BE_F.LOCAL });
    dp.setBackend(4, { addr: n.localBe2, port: 8080, flags: BE_F.LOCAL });
    dp.setBackend(5, { addr: n.pod, port: 8080, flags: BE_F.LOCAL });
    dp.setBackend(6, { addr: n.localBe, port: 5353, flags: BE_F.LOCAL });
  };
  const inSnatRange = (port: number | undefined) => {
    expect(port).toBeGreaterThanOrEqual(SNAT_RANGE.min);
    expect(port).toBeLessThanOrEqual(SNAT_RANGE.max);
  };

  return [
    {
      name: `${n.tag} pod -> ClusterIP TCP SYN is DNATed, pod source kept`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 10, slots: [1] }); },
      steps: [{
        what: 'dst becomes the backend, ports translated, checksums patched', prog: 'tc_ingress', config: FROM_PODS,
        in: syn(n.pod, n.clusterIp, 40000, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40000, 8080),
        events: { ct_created: 1 }, svc: { 10: 1 },
        check: (dp) => {
          const fwd = dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.clusterIp, sport: 40000, dport: 80, proto: 'tcp' }));
          expect(fwd).not.toBeNull();
          const v = decodeCtVal(fwd!, n.family);
          expect(v).toMatchObject({ type: CT_TYPE.FWD, state: CT_STATE.SYN, addr: n.remoteBe, port: 8080, svcId: 10, backendId: 1, flags: 0 });
          const rev = dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.remoteBe, daddr: n.pod, sport: 8080, dport: 40000, proto: 'tcp' }));
          expect(decodeCtVal(rev!, n.family)).toMatchObject({ type: CT_TYPE.REV, addr: n.clusterIp, port: 80 });
        },
      }],
    },
    {
      name: `${n.tag} pod -> ClusterIP UDP with payload is DNATed`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cipUdp, svcId: 11, slots: [6] }); },
      steps: [{
        what: 'UDP dst and port rewritten', prog: 'tc_ingress', config: FROM_PODS,
        in: { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 33333, dport: 53, payload: 'query' }, verdict: TC.pass,
        out: { src: n.pod, dst: n.localBe, proto: 'udp', sport: 33333, dport: 5353, payload: 'query' },
      }],
    },
    {
      name: `${n.tag} pod -> ClusterIP SCTP is DNATed with a CRC32c update`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: { addr: n.clusterIp, port: 3868, proto: 'sctp' }, svcId: 12, slots: [1] });
      },
      steps: [{
        what: 'SCTP dst, port and CRC32c', prog: 'tc_ingress', config: FROM_PODS,
        in: { src: n.pod, dst: n.clusterIp, proto: 'sctp', sport: 5000, dport: 3868, vtag: 0x1234, payload: Buffer.alloc(37, 7) },
        verdict: TC.pass,
        out: { src: n.pod, dst: n.remoteBe, proto: 'sctp', sport: 5000, dport: 8080, vtag: 0x1234, payload: Buffer.alloc(37, 7) },
      }],
    },
    {
      name: `${n.tag} SCTP with its CRC left to the device (0: a pod's veth offloads it) keeps 0 through DNAT and reverse NAT, for the device to sum the packet as rewritten`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: { addr: n.clusterIp, port: 3868, proto: 'sctp' }, svcId: 12, slots: [1] });
      },
      steps: [{
        what: 'ports and address rewritten, the CRC field still 0', prog: 'tc_ingress', config: FROM_PODS,
        in: { src: n.pod, dst: n.clusterIp, proto: 'sctp', sport: 5001, dport: 3868, vtag: 0x1234, payload: Buffer.alloc(37, 7), sctpCrcOffload: true },
        verdict: TC.pass,
        out: { src: n.pod, dst: n.remoteBe, proto: 'sctp', sport: 5001, dport: 8080, vtag: 0x1234, payload: Buffer.alloc(37, 7), sctpCrcOffload: true },
      }, {
        what: 'the reply, reverse NATed', prog: 'tc_ingress', config: FROM_WIRE,
        in: { src: n.remoteBe, dst: n.pod, proto: 'sctp', sport: 8080, dport: 5001, vtag: 0x4321, payload: Buffer.alloc(20, 9), sctpCrcOffload: true },
        verdict: TC.pass,
        out: { src: n.clusterIp, dst: n.pod, proto: 'sctp', sport: 3868, dport: 5001, vtag: 0x4321, payload: Buffer.alloc(20, 9), sctpCrcOffload: true },
      }],
    },
    {
      name: `${n.tag} TCP handshake: SYN DNAT, SYN-ACK reverse NAT, ACK hits CT, CT becomes established`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 13, slots: [3] }); },
      steps: [
        {
          what: 'SYN creates the flow', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40001, 80),
          verdict: TC.pass, out: syn(n.pod, n.localBe, 40001, 8080), events: { ct_created: 1 },
        },
        {
          what: 'SYN-ACK from the local backend gets the ClusterIP back as source', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.localBe, n.pod, 8080, 40001, { syn: true, ack: true }, { seq: 5000, ackSeq: 1001 }), verdict: TC.pass,
          out: tcp(n.clusterIp, n.pod, 80, 40001, { syn: true, ack: true }, { seq: 5000, ackSeq: 1001 }),
          events: { ct_hit_rev: 1, ct_created: 0 }, svc: { 13: 1 },
        },
        {
          what: 'ACK follows the CT entry', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40001, 80, { ack: true }, { seq: 1001, ackSeq: 5001, payload: 'GET / HTTP/1.1\r\n\r\n' }), verdict: TC.pass,
          out: tcp(n.pod, n.localBe, 40001, 8080, { ack: true }, { seq: 1001, ackSeq: 5001, payload: 'GET / HTTP/1.1\r\n\r\n' }),
          events: { ct_hit_fwd: 1, ct_created: 0 },
          check: (dp) => {
            const v = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.clusterIp, sport: 40001, dport: 80, proto: 'tcp' }))!, n.family);
            expect(v.state).toBe(CT_STATE.ESTABLISHED);
          },
        },
      ],
    },
    {
      name: `${n.tag} established flow keeps its backend after the endpoint is removed`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 14, slots: [1] }); },
      steps: [
        {
          what: 'SYN to backend 1; then endpoint 1 is replaced by 2', prog: 'tc_ingress', config: FROM_PODS,
          in: syn(n.pod, n.clusterIp, 40002, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40002, 8080),
          check: (dp) => { dp.setService({ frontend: cip, svcId: 14, slots: [2] }); },
        },
        {
          what: 'the ACK still goes to backend 1', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40002, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40002, 8080, { ack: true }),
          events: { ct_hit_fwd: 1 },
        },
        {
          what: 'a new connection goes to backend 2', prog: 'tc_ingress', config: FROM_PODS,
          in: syn(n.pod, n.clusterIp, 40003, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe2, 40003, 8080),
        },
      ],
    },
    {
      name: `${n.tag} established flow survives the service being deleted (controller down)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 15, slots: [3] }); },
      steps: [
        {
          what: 'SYN', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40004, 80), verdict: TC.pass,
          out: syn(n.pod, n.localBe, 40004, 8080), check: (dp) => { dp.deleteService(cip); },
        },
        {
          what: 'data still DNATed from CT alone', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40004, 80, { ack: true, psh: true }, { payload: 'x' }), verdict: TC.pass,
          out: tcp(n.pod, n.localBe, 40004, 8080, { ack: true, psh: true }, { payload: 'x' }),
        },
      ],
    },
    {
      name: `${n.tag} empty service: TCP SYN answered with RST+ACK from the ClusterIP`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 16, slots: [] }); },
      steps: [{
        what: 'RST, ACK = SEQ+1, back out of the device', prog: 'tc_ingress', config: FROM_PODS,
        in: syn(n.pod, n.clusterIp, 40005, 80), verdict: TC.redirect,
        out: {
          eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'tcp', sport: 80, dport: 40005, tcpFlags: { rst: true, ack: true },
          seq: 0, ackSeq: 1001, window: 0, df: true,
        },
        events: { reject_tcp_rst: 1 }, svc: { 16: 1 },
      }],
    },
    {
      name: `${n.tag} empty service: TCP data segment answered with a bare RST (SEQ = its ACK)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 17, slots: [] }); },
      steps: [{
        what: 'RST with seq from the ACK field, options and payload trimmed', prog: 'tc_ingress', config: FROM_PODS,
        in: tcp(n.pod, n.clusterIp, 40006, 80, { ack: true, psh: true }, { seq: 7, ackSeq: 99999, payload: 'data', tcpOptions: Buffer.from([1, 1, 1, 1]) }),
        verdict: TC.redirect,
        out: { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'tcp', sport: 80, dport: 40006, tcpFlags: { rst: true }, seq: 99999, ackSeq: 0, window: 0, df: true },
      }],
    },
    {
      name: `${n.tag} empty service: an incoming RST is never answered`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 18, slots: [] }); },
      steps: [{
        what: 'dropped as no_backend', prog: 'tc_ingress', config: FROM_PODS,
        in: tcp(n.pod, n.clusterIp, 40007, 80, { rst: true }), verdict: TC.drop, drops: { no_backend: 1 },
      }],
    },
    {
      name: `${n.tag} empty service: UDP answered with ICMP port unreachable quoting the datagram`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cipUdp, svcId: 19, slots: [] }); },
      steps: (() => {
        const q: PacketSpec = { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 33334, dport: 53, payload: 'a longer query payload' };
        const quote = buildIpPacket(q).subarray(0, n.family === 4 ? 28 : 48);
        return [{
          what: 'ICMP dest unreachable / port unreachable from the ClusterIP', prog: 'tc_ingress' as const, config: FROM_PODS,
          in: q, verdict: TC.redirect,
          out: n.family === 4
            ? { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmp' as const, tos: 0xc0, df: true, icmp: { type: 3, code: 3, inner: quote } }
            : { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmpv6' as const, icmp: { type: 1, code: 4, inner: quote } },
          events: { reject_icmp: 1 },
        }];
      })(),
    },
    {
      name: `${n.tag} a ClusterIP on a port or protocol no service has is refused at once (kube-proxy's nftables mode), where its own port is served`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 21, slots: [1] }); dp.setClusterIp(n.clusterIp); },
      steps: (() => {
        const q: PacketSpec = { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 33335, dport: 80, payload: 'not TCP' };
        const quote = buildIpPacket(q).subarray(0, n.family === 4 ? 28 : 48);
        return [
          {
            what: 'a SYN to port 81: RST+ACK from the ClusterIP', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, n.clusterIp, 40030, 81), verdict: TC.redirect,
            out: { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'tcp' as const, sport: 81, dport: 40030, tcpFlags: { rst: true, ack: true }, seq: 0, ackSeq: 1001, window: 0, df: true },
            events: { vip_no_port: 1, reject_tcp_rst: 1, ct_created: 0 }, svc: { 21: 0 },
          },
          {
            what: 'UDP to port 80, which only TCP has: ICMP port unreachable', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: q, verdict: TC.redirect,
            out: n.family === 4
              ? { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmp' as const, tos: 0xc0, df: true, icmp: { type: 3, code: 3, inner: quote } }
              : { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmpv6' as const, icmp: { type: 1, code: 4, inner: quote } },
            events: { vip_no_port: 1, reject_icmp: 1 },
          },
          {
            what: 'its own port is served as ever', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, n.clusterIp, 40031, 80), verdict: TC.pass, events: { vip_no_port: 0, ct_created: 1 }, svc: { 21: 1 },
          },
        ];
      })(),
    },
    {
      name: `${n.tag} ekp_vipnet_v1 gates the ClusterIP lookup: an address outside the ClusterIPs' common prefix is not looked up (passed untouched)`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 23, slots: [1] });
        const elsewhere = { net: Buffer.from([192, 0, 2, 0, ...new Array(12).fill(0)]), mask: Buffer.from([255, 255, 255, 0, ...new Array(12).fill(0)]) };
        const elsewhere6 = { net: Buffer.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)]), mask: Buffer.from([255, 255, 255, 255, ...new Array(12).fill(0)]) };
        dp.setClusterIp(n.clusterIp, { v4: elsewhere, v6: elsewhere6 });
      },
      steps: [
        {
          what: 'outside the prefix: passed, though ekp_vip_v1 holds it', prog: 'tc_ingress', config: FROM_PODS,
          in: syn(n.pod, n.clusterIp, 40033, 81), verdict: TC.pass, out: 'unchanged', events: { vip_no_port: 0 },
        },
      ],
    },
    {
      name: `${n.tag} an address of a Service CIDR that no service has is dropped (kube-proxy's nftables mode); a ClusterIP in it still refuses its other ports; outside the CIDR is not ours`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 24, slots: [1] });
        dp.setClusterIp(n.clusterIp);
        dp.setServiceCidr(n.family === 4 ? '10.96.0.0/16' : 'fd00:10:96::/112');
      },
      steps: (() => {
        const [unallocated, outside] = n.family === 4 ? ['10.96.3.3', '10.97.0.1'] : ['fd00:10:96::33', 'fd00:10:97::1'];
        return [
          {
            what: 'a SYN to an unallocated address: dropped', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, unallocated, 40040, 80), verdict: TC.drop, out: 'unchanged' as const, drops: { unallocated: 1 }, events: { vip_no_port: 0, ct_created: 0 },
          },
          {
            what: 'UDP to it: dropped too', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: { src: n.pod, dst: unallocated, proto: 'udp' as const, sport: 33336, dport: 53, payload: 'q' }, verdict: TC.drop, out: 'unchanged' as const, drops: { unallocated: 1 },
          },
          {
            what: 'the ClusterIP on port 81: refused, not dropped', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, n.clusterIp, 40041, 81), verdict: TC.redirect, events: { vip_no_port: 1, reject_tcp_rst: 1 },
          },
          {
            what: 'its own port: served', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, n.clusterIp, 40042, 80), verdict: TC.pass, events: { ct_created: 1 }, svc: { 24: 1 },
          },
          {
            what: 'outside the CIDR: passed untouched', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, outside, 40043, 80), verdict: TC.pass, out: 'unchanged' as const,
          },
        ];
      })(),
    },
    {
      name: `${n.tag} a ping to a ClusterIP, an ExternalIP or a LoadBalancer IP is answered from it (as ipvs mode's node does); to an unallocated Service CIDR address dropped; to anything else passed`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 28, slots: [1] });
        dp.setClusterIp(n.clusterIp);
        dp.setServiceCidr(n.family === 4 ? '10.96.0.0/16' : 'fd00:10:96::/112');
        dp.setExternalIp(n.lbIp);
      },
      steps: (() => {
        const [unallocated, outside] = n.family === 4 ? ['10.96.3.3', '10.97.0.1'] : ['fd00:10:96::33', 'fd00:10:97::1'];
        const proto = n.family === 4 ? 'icmp' as const : 'icmpv6' as const;
        const [request, reply] = n.family === 4 ? [8, 0] : [128, 129];
        // A TTL other than the reply's 64, so that the reply's is seen to be set.
        const ping = (src: string, dst: string, type = request): PacketSpec =>
          ({ src, dst, proto, ttl: 5, icmp: { type, code: 0, id: 77, seq: 3 }, payload: 'ping payload' });
        const pong = (src: string, dst: string): PacketSpec =>
          ({ eth: REPLY_ETH, src, dst, proto, ttl: 64, icmp: { type: reply, code: 0, id: 77, seq: 3 }, payload: 'ping payload' });
        return [
          {
            what: 'a pod pings the ClusterIP: the echo reply from it, sent back', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: ping(n.pod, n.clusterIp), verdict: TC.redirect, out: pong(n.clusterIp, n.pod), events: { echo_reply: 1, vip_no_port: 0 },
          },
          {
            what: 'a client outside pings the LoadBalancer IP: answered on the wire', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: ping(n.external, n.lbIp), verdict: TC.redirect, out: pong(n.lbIp, n.external), events: { echo_reply: 1 },
          },
          {
            what: 'the node pings the ClusterIP (tc egress): answered back in', prog: 'tc_egress' as const, config: FROM_HOST,
            in: ping(n.node, n.clusterIp), verdict: TC.redirect, out: pong(n.clusterIp, n.node), events: { echo_reply: 1 },
          },
          {
            what: 'a ping to an unallocated address of the Service CIDR: dropped', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: ping(n.pod, unallocated), verdict: TC.drop, out: 'unchanged' as const, drops: { unallocated: 1 }, events: { echo_reply: 0 },
          },
          {
            what: 'a ping to an address of no service: passed untouched', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: ping(n.pod, outside), verdict: TC.pass, out: 'unchanged' as const, events: { echo_reply: 0 },
          },
          {
            what: 'an echo reply to the ClusterIP is no request: passed untouched', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: ping(n.pod, n.clusterIp, reply), verdict: TC.pass, out: 'unchanged' as const, events: { echo_reply: 0 },
          },
        ];
      })(),
    },
    {
      name: `${n.tag} an address that is no ClusterIP, on a port no service has, is not ours: passed untouched`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 22, slots: [1] }); },
      steps: [{
        what: 'SYN to port 81 of an address ekp_vip_v1 does not hold', prog: 'tc_ingress', config: FROM_PODS,
        in: syn(n.pod, n.clusterIp, 40032, 81), verdict: TC.pass, out: 'unchanged', events: { vip_no_port: 0, reject_tcp_rst: 0 },
      }],
    },
    {
      name: `${n.tag} empty TCP service with reject-by-ICMP configured`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 20, slots: [] }); },
      steps: (() => {
        const q = syn(n.pod, n.clusterIp, 40008, 80);
        const quote = buildIpPacket(q).subarray(0, n.family === 4 ? 28 : 48);
        return [{
          what: 'ICMP port unreachable instead of RST', prog: 'tc_ingress' as const, config: { ...FROM_PODS, flags: FROM_PODS.flags! | 8 },
          in: q, verdict: TC.redirect,
          out: n.family === 4
            ? { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmp' as const, tos: 0xc0, df: true, icmp: { type: 3, code: 3, inner: quote } }
            : { eth: REPLY_ETH, src: n.clusterIp, dst: n.pod, proto: 'icmpv6' as const, icmp: { type: 1, code: 4, inner: quote } },
        }];
      })(),
    },
    {
      name: `${n.tag} traffic policy Local without local endpoints drops (no reject)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 21, slots: [], flags: SVC_F.DROP_EMPTY | SVC_F.PRESERVE_SRC | SVC_F.NODEPORT }); },
      steps: [{
        what: 'dropped with no_local_backend', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.node, 50000, NODEPORT),
        verdict: TC.drop, drops: { no_local_backend: 1 },
      }],
    },
    {
      name: `${n.tag} NodePort from outside to a local backend: DNAT only, client source preserved`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 22, slots: [3], flags: SVC_F.NODEPORT }); },
      steps: [
        { what: 'DNAT to the local pod', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.node, 50001, NODEPORT), verdict: TC.pass, out: syn(n.external, n.localBe, 50001, 8080) },
        {
          what: 'reply (seen on the pod veth) restored to NodeIP:NodePort', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.localBe, n.external, 8080, 50001, { syn: true, ack: true }), verdict: TC.pass,
          out: tcp(n.node, n.external, NODEPORT, 50001, { syn: true, ack: true }),
        },
      ],
    },
    {
      name: `${n.tag} a pod using a NodePort: its flow is marked as having a node-address frontend (the replies are then rerouted, never handed to the stack)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 24, slots: [3], flags: SVC_F.NODEPORT }); },
      steps: [
        {
          what: 'DNAT to a local pod, source kept', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.node, 40100, NODEPORT), verdict: TC.pass, out: syn(n.pod, n.localBe, 40100, 8080),
          check: (dp) => {
            const fwd = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.node, sport: 40100, dport: NODEPORT, proto: 'tcp' }))!, n.family);
            expect(fwd.flags).toBe(CT_F.NODE_FRONTEND);
            const rev = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.localBe, daddr: n.pod, sport: 8080, dport: 40100, proto: 'tcp' }))!, n.family);
            expect(rev.flags).toBe(CT_F.NODE_FRONTEND);
          },
        },
        {
          what: 'the reply gets the node address as source', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.localBe, n.pod, 8080, 40100, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.node, n.pod, NODEPORT, 40100, { syn: true, ack: true }), events: { ct_hit_rev: 1 },
        },
      ],
    },
    {
      name: `${n.tag} an ExternalIP that is a node address (NODE_ADDR) marks its flows like a NodePort's; another ExternalIP does not`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: { addr: n.node, port: 8081, proto: 'tcp' }, svcId: 25, slots: [3], flags: SVC_F.EXTERNAL | SVC_F.NODE_ADDR });
        dp.setService({ frontend: { addr: n.lbIp, port: 8081, proto: 'tcp' }, svcId: 26, slots: [3], flags: SVC_F.EXTERNAL });
      },
      steps: [
        {
          what: 'to the node address', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.node, 40200, 8081), verdict: TC.pass, out: syn(n.pod, n.localBe, 40200, 8080),
          check: (dp) => {
            const fwd = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.node, sport: 40200, dport: 8081, proto: 'tcp' }))!, n.family);
            expect(fwd.flags).toBe(CT_F.NODE_FRONTEND);
          },
        },
        {
          what: 'to another address', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.lbIp, 40201, 8081), verdict: TC.pass, out: syn(n.pod, n.localBe, 40201, 8080),
          check: (dp) => {
            const fwd = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.lbIp, sport: 40201, dport: 8081, proto: 'tcp' }))!, n.family);
            expect(fwd.flags).toBe(0);
          },
        },
      ],
    },
    {
      name: `${n.tag} NodePort eTP=Cluster to a remote backend: DNAT + SNAT to the node, reply un-NATed both ways`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 23, slots: [1], flags: SVC_F.NODEPORT }); },
      steps: (() => {
        let snatPort = 0;
        return [
          {
            what: 'src becomes node:port from the SNAT range', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: syn(n.external, n.node, 50002, NODEPORT), verdict: TC.pass,
            out: (got) => { inSnatRange(got.sport); snatPort = got.sport!; return syn(n.node, n.remoteBe, got.sport!, 8080); },
            check: (dp) => {
              const fwd = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.external, daddr: n.node, sport: 50002, dport: NODEPORT, proto: 'tcp' }))!, n.family);
              expect(fwd).toMatchObject({ addr: n.remoteBe, port: 8080, addr2: n.node, port2: snatPort, flags: CT_F.SNAT | CT_F.EXTERNAL | CT_F.NODE_FRONTEND });
            },
          },
          {
            what: 'reply to node:snatport goes back to the client from NodeIP:NodePort', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: () => tcp(n.remoteBe, n.node, 8080, snatPort, { syn: true, ack: true }), verdict: TC.pass,
            out: tcp(n.node, n.external, NODEPORT, 50002, { syn: true, ack: true }),
          },
        ];
      })(),
    },
    {
      name: `${n.tag} NodePort eTP=Local (preserve source) to a remote-flagged slot: no SNAT`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 24, slots: [1], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC }); },
      steps: [{ what: 'DNAT only', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.node, 50003, NODEPORT), verdict: TC.pass, out: syn(n.external, n.remoteBe, 50003, 8080) }],
    },
    {
      name: `${n.tag} pod -> NodePort on this node from a pod: internal origin, no SNAT`,
      setup: (dp) => { be(dp); dp.setService({ frontend: np, svcId: 25, slots: [1], flags: SVC_F.NODEPORT }); },
      steps: [{ what: 'DNAT only', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.node, 40010, NODEPORT), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40010, 8080) }],
    },
    {
      name: `${n.tag} LoadBalancer IP with source ranges: allowed client is DNATed, others dropped`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: lb, svcId: 26, slots: [3], flags: SVC_F.EXTERNAL | SVC_F.SRC_RANGES });
        dp.allowSourceRange(26, n.externalCidr);
      },
      steps: [
        { what: 'client inside the range', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.lbIp, 50004, 443), verdict: TC.pass, out: syn(n.external, n.localBe, 50004, 8080) },
        { what: 'client outside the range', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external2, n.lbIp, 50005, 443), verdict: TC.drop, out: 'unchanged', drops: { src_range: 1 } },
      ],
    },
    {
      // kube-vip puts the VIP on the node: the node's requests to it leave through lo with the VIP
      // as their source (source ranges keep them off the socket-level path).
      name: `${n.tag} the node to a LoadBalancer IP it holds itself (tc egress, the VIP its source): SNAT to the node for a remote backend, the reply back to the VIP; a local backend, the node's own address as source, or its own NodePort from the SNAT address keeps the source`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: lb, svcId: 29, slots: [1], flags: SVC_F.EXTERNAL | SVC_F.SRC_RANGES });
        dp.setService({ frontend: { ...lb, port: 444 }, svcId: 30, slots: [3], flags: SVC_F.EXTERNAL | SVC_F.SRC_RANGES });
        dp.setService({ frontend: np, svcId: 31, slots: [1], flags: SVC_F.NODEPORT });
        const host = n.family === 4 ? 32 : 128;
        for (const id of [29, 30]) { dp.allowSourceRange(id, `${n.lbIp}/${host}`); dp.allowSourceRange(id, `${n.node}/${host}`); }
      },
      steps: (() => {
        let snatPort = 0;
        return [
          {
            what: 'remote backend: src becomes node:port from the SNAT range', prog: 'tc_egress' as const, config: FROM_HOST,
            in: syn(n.lbIp, n.lbIp, 44010, 443), verdict: TC.pass,
            out: (got: { sport?: number }) => { inSnatRange(got.sport); snatPort = got.sport!; return syn(n.node, n.remoteBe, got.sport!, 8080); },
          },
          {
            what: 'the reply to node:snatport goes back to the VIP from the VIP', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: () => tcp(n.remoteBe, n.node, 8080, snatPort, { syn: true, ack: true }), verdict: TC.pass,
            out: tcp(n.lbIp, n.lbIp, 443, 44010, { syn: true, ack: true }),
          },
          { what: 'local backend: DNAT only', prog: 'tc_egress' as const, config: FROM_HOST, in: syn(n.lbIp, n.lbIp, 44011, 444), verdict: TC.pass, out: syn(n.lbIp, n.localBe, 44011, 8080) },
          { what: 'from the node\'s address: DNAT only', prog: 'tc_egress' as const, config: FROM_HOST, in: syn(n.node, n.lbIp, 44012, 443), verdict: TC.pass, out: syn(n.node, n.remoteBe, 44012, 8080) },
          { what: 'the node to its own NodePort, from the SNAT address already: DNAT only', prog: 'tc_egress' as const, config: FROM_HOST, in: syn(n.node, n.node, 44013, NODEPORT), verdict: TC.pass, out: syn(n.node, n.remoteBe, 44013, 8080) },
        ];
      })(),
    },
    {
      name: `${n.tag} ExternalIP behaves like a VIP`,
      setup: (dp) => { be(dp); dp.setService({ frontend: { addr: n.lbIp, port: 8443, proto: 'tcp' }, svcId: 27, slots: [4], flags: SVC_F.EXTERNAL }); },
      steps: [{ what: 'DNAT to local backend', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.lbIp, 50006, 8443), verdict: TC.pass, out: syn(n.external, n.localBe2, 50006, 8080) }],
    },
    {
      name: `${n.tag} hairpin: a pod reaching itself through its service is SNATed to the hairpin address`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 28, slots: [5] }); },
      steps: (() => {
        let port = 0;
        return [
          {
            what: 'src becomes hairpin:port', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40011, 80), verdict: TC.pass,
            out: (got: { sport?: number }) => { inSnatRange(got.sport); port = got.sport!; return syn(n.hairpin, n.pod, got.sport!, 8080); },
          },
          {
            what: 'the pod answers the hairpin address; reply restored to ClusterIP -> pod', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: () => (tcp(n.pod, n.hairpin, 8080, port, { syn: true, ack: true })), verdict: TC.pass,
            out: tcp(n.clusterIp, n.pod, 80, 40011, { syn: true, ack: true }),
          },
        ];
      })(),
    },
    {
      name: `${n.tag} two scopes: external clients use the eTP slot set, pods the iTP one`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: lb, svcId: 29, slots: [3], flags: SVC_F.EXTERNAL | SVC_F.TWO_SCOPES | SVC_F.PRESERVE_SRC });
        dp.setService({ frontend: { ...lb, scope: 'internal' }, svcId: 29, slots: [1] });
      },
      steps: [
        { what: 'external -> local-only set', prog: 'tc_ingress', config: FROM_WIRE, in: syn(n.external, n.lbIp, 50007, 443), verdict: TC.pass, out: syn(n.external, n.localBe, 50007, 8080) },
        { what: 'pod -> internal set', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.lbIp, 40012, 443), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40012, 8080) },
      ],
    },
    {
      name: `${n.tag} ClientIP affinity: a second connection from the client sticks to the first backend`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 30, slots: [1, 2, 3, 4], flags: SVC_F.AFFINITY, affinityTimeoutS: 10800 }); },
      steps: (() => {
        let first = '';
        const steps = [{
          what: 'first connection picks some backend', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn(n.pod, n.clusterIp, 41000, 80), verdict: TC.pass,
          out: (got: { dst: string }) => { first = got.dst; return syn(n.pod, got.dst, 41000, 8080); }, events: { affinity_hit: 0 },
        }];
        for (let i = 1; i <= 6; i++) {
          steps.push({
            what: `connection ${i + 1} goes to the same backend`, prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 41000 + i, 80), verdict: TC.pass,
            out: (got: { dst: string }) => { expect(got.dst).toBe(first); return syn(n.pod, first, 41000 + i, 8080); }, events: { affinity_hit: 1 },
          });
        }
        return steps;
      })(),
    },
    {
      name: `${n.tag} ClientIP affinity: an expired entry or a terminating backend is not used`,
      setup: (dp) => {
        be(dp);
        dp.setBackend(7, { addr: n.remoteBe2, port: 9999, flags: BE_F.TERMINATING });
        dp.setService({ frontend: cip, svcId: 31, slots: [1], flags: SVC_F.AFFINITY, affinityTimeoutS: 60 });
        dp.map(MAP.affinity).update(encodeAffinityKey(31, n.pod), encodeAffinityVal(1n, 2)); // last used at boot
        dp.map(MAP.affinity).update(encodeAffinityKey(31, n.other), encodeAffinityVal(BigInt(Number.MAX_SAFE_INTEGER) * 1000n, 7));
      },
      steps: [
        { what: 'expired entry ignored', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 42000, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 42000, 8080), events: { affinity_hit: 0 } },
        { what: 'terminating backend ignored', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.other, n.clusterIp, 42001, 80), verdict: TC.pass, out: syn(n.other, n.remoteBe, 42001, 8080), events: { affinity_hit: 0 } },
      ],
    },
    {
      name: `${n.tag} ClientIP affinity is kept per backend set: what a pod got through a NodePort (every backend) does not take its iTP=Local ClusterIP off the node, nor the reverse`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 62, slots: [3], flags: SVC_F.AFFINITY | SVC_F.LOCAL_SET, affinityTimeoutS: 10800 });
        dp.setService({ frontend: np, svcId: 62, slots: [1], flags: SVC_F.AFFINITY | SVC_F.NODEPORT, affinityTimeoutS: 10800 });
      },
      steps: [
        { what: 'through the NodePort: a remote backend', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.node, 41100, NODEPORT), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 41100, 8080), events: { affinity_hit: 0 } },
        {
          what: 'through the ClusterIP: the local one, not the NodePort\'s', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 41101, 80), verdict: TC.pass, out: syn(n.pod, n.localBe, 41101, 8080), events: { affinity_hit: 0 },
          check: (dp) => {
            expect(decodeAffinityVal(dp.map(MAP.affinity).lookup(encodeAffinityKey(62, n.pod, true))!).backendId).toBe(3);
            expect(decodeAffinityVal(dp.map(MAP.affinity).lookup(encodeAffinityKey(62, n.pod))!).backendId).toBe(1);
          },
        },
        { what: 'the NodePort again: its own affinity', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.node, 41102, NODEPORT), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 41102, 8080), events: { affinity_hit: 1 } },
        { what: 'the ClusterIP again: its own', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 41103, 80), verdict: TC.pass, out: syn(n.pod, n.localBe, 41103, 8080), events: { affinity_hit: 1 } },
      ],
    },
    {
      name: `${n.tag} Maglev: the same flow maps to the same backend without conntrack`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 32, slots: [...maglevTable(MAGLEV_BACKENDS(n))], flags: SVC_F.MAGLEV });
      },
      steps: (() => {
        let first = '';
        return [
          { what: 'first pass', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn(n.pod, n.clusterIp, 43000, 80), verdict: TC.pass, out: (got: { dst: string }) => { first = got.dst; return syn(n.pod, got.dst, 43000, 8080); }, check: (dp: Datapath) => dp.clearFlows() },
          { what: 'CT flushed: same backend again', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn(n.pod, n.clusterIp, 43000, 80), verdict: TC.pass, out: (got: { dst: string }) => { expect(got.dst).toBe(first); return syn(n.pod, first, 43000, 8080); } },
        ];
      })(),
    },
    {
      name: `${n.tag} Maglev: removing one of four backends re-homes its own flows, leaves >= 95% of the others`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 41, slots: [...maglevTable(MAGLEV_BACKENDS(n))], flags: SVC_F.MAGLEV }); },
      steps: [{
        what: '120 flows before and after backend 4 leaves (CT flushed in between)', prog: 'tc_ingress', config: FROM_PODS,
        in: syn(n.pod, n.clusterIp, 46000, 80), verdict: TC.pass,
        check: (dp) => {
          const prog = dp.program('tc_ingress', FROM_PODS);
          const run = () => Array.from({ length: 120 }, (_, i) => parsePacket(prog.testRun({ data: buildPacket(syn(n.pod, n.clusterIp, 46100 + i, 80)) }).data).dst);
          const before = run();
          dp.clearFlows();
          const size = maglevTableSize(4);
          dp.setService({ frontend: cip, svcId: 41, slots: [...maglevTable(MAGLEV_BACKENDS(n).slice(0, 3), { size })], flags: SVC_F.MAGLEV });
          const after = run();
          expect(new Set(before).size).toBe(4);
          // Maglev is near-minimal, not minimal: a few slots of staying backends move too.
          let kept = 0, stayers = 0;
          before.forEach((dst, i) => {
            if (dst === n.localBe2) expect(after[i]).not.toBe(n.localBe2);
            else { stayers++; if (after[i] === dst) kept++; }
          });
          expect(kept / stayers).toBeGreaterThanOrEqual(0.95);
        },
      }],
    },
    {
      name: `${n.tag} slot pointing at a freed backend id drops with backend_missing`,
      setup: (dp) => { be(dp); dp.setBackend(9, null); dp.setService({ frontend: cip, svcId: 33, slots: [9] }); },
      steps: [{ what: 'drop', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40013, 80), verdict: TC.drop, out: 'unchanged', drops: { backend_missing: 1 } }],
    },
    {
      name: `${n.tag} host -> ClusterIP at tc egress: DNAT, host source kept`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 34, slots: [1] }); },
      steps: [{ what: 'DNAT only', prog: 'tc_egress', config: FROM_HOST, in: syn(n.node, n.clusterIp, 44000, 80), verdict: TC.pass, out: syn(n.node, n.remoteBe, 44000, 8080) }],
    },
    {
      name: `${n.tag} a pod's packet forwarded through a device without our program is translated at tc egress`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 34, slots: [1] }); },
      steps: [
        { what: 'arrived on a device (ingress_ifindex set): DNAT', prog: 'tc_egress', config: FROM_HOST, ingressIfindex: 1, in: syn(n.pod, n.clusterIp, 44002, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 44002, 8080), events: { ct_created: 1 } },
      ],
    },
    {
      name: `${n.tag} empty service at tc egress: RST goes back into the host (ingress redirect)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 35, slots: [] }); },
      steps: [{
        what: 'RST', prog: 'tc_egress', config: FROM_HOST, in: syn(n.node, n.clusterIp, 44001, 80), verdict: TC.redirect,
        out: { eth: REPLY_ETH, src: n.clusterIp, dst: n.node, proto: 'tcp', sport: 80, dport: 44001, tcpFlags: { rst: true, ack: true }, seq: 0, ackSeq: 1001, window: 0, df: true },
      }],
    },
    {
      name: `${n.tag} traffic to no service passes untouched`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 36, slots: [1] }); },
      steps: [
        { what: 'other address', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.other, 40014, 80), verdict: TC.pass, out: 'unchanged', events: { ct_created: 0 } },
        { what: 'ClusterIP, other port', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40015, 81), verdict: TC.pass, out: 'unchanged' },
        { what: 'ClusterIP, other protocol', prog: 'tc_ingress', config: FROM_PODS, in: { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 40016, dport: 80 }, verdict: TC.pass, out: 'unchanged' },
        { what: 'ping to the ClusterIP', prog: 'tc_ingress', config: FROM_PODS, in: { src: n.pod, dst: n.clusterIp, proto: n.family === 4 ? 'icmp' : 'icmpv6' }, verdict: TC.pass, out: 'unchanged' },
      ],
    },
    {
      name: `${n.tag} conntrack: FIN moves the flow to closing; a new SYN on the tuple is a new flow`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 37, slots: [1] }); },
      steps: [
        { what: 'SYN', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40017, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40017, 8080) },
        {
          what: 'FIN', prog: 'tc_ingress', config: FROM_PODS, in: tcp(n.pod, n.clusterIp, 40017, 80, { fin: true, ack: true }), verdict: TC.pass,
          out: tcp(n.pod, n.remoteBe, 40017, 8080, { fin: true, ack: true }),
          check: (dp) => {
            const v = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.clusterIp, sport: 40017, dport: 80, proto: 'tcp' }))!, n.family);
            expect(v.state).toBe(CT_STATE.CLOSING);
            dp.setService({ frontend: cip, svcId: 37, slots: [2] });
          },
        },
        { what: 'SYN reusing the tuple is balanced anew', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40017, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe2, 40017, 8080), events: { ct_expired_reuse: 1, ct_created: 1 } },
      ],
    },
    {
      name: `${n.tag} conntrack: a RST from either side ends both halves of the flow within the closing timeout, as Linux's one entry goes to CLOSE (a SNAT port is free again 10 s after a reset)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 60, slots: [1] }); dp.setService({ frontend: np, svcId: 61, slots: [1], flags: SVC_F.NODEPORT }); },
      steps: (() => {
        let snatPort = 0;
        // The half the RST passed is closing; the other is due within a second of it (the closing
        // timeout, not its established or SYN one).
        const closedBoth = (svcId: number, resetIn: number) => (dp: Datapath) => {
          const halves = [...dp.map(ctMapOf(n.family)).entries()].map(([, v]) => decodeCtVal(v, n.family)).filter((v) => v.svcId === svcId);
          expect(halves.map((v) => v.type).sort()).toEqual([CT_TYPE.FWD, CT_TYPE.REV].sort());
          expect(halves.find((v) => v.type === resetIn)!.state).toBe(CT_STATE.CLOSING);
          const gap = halves[0]!.expiresNs - halves[1]!.expiresNs;
          expect(gap < 1_000_000_000n && gap > -1_000_000_000n).toBe(true);
        };
        const est = (port: number) => [
          { what: 'SYN', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn(n.pod, n.clusterIp, port, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, port, 8080) },
          { what: 'SYN-ACK', prog: 'tc_ingress' as const, config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, port, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, port, { syn: true, ack: true }) },
          { what: 'ACK', prog: 'tc_ingress' as const, config: FROM_PODS, in: tcp(n.pod, n.clusterIp, port, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, port, 8080, { ack: true }) },
        ];
        return [
          ...est(40060),
          {
            what: 'the client resets: the REV half closes too', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: tcp(n.pod, n.clusterIp, 40060, 80, { rst: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40060, 8080, { rst: true }),
            check: closedBoth(60, CT_TYPE.FWD),
          },
          {
            what: 'the backend\'s data still in flight does not put its half back at the established timeout', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: tcp(n.remoteBe, n.pod, 8080, 40060, { ack: true, psh: true }, { payload: 'late' }), verdict: TC.pass,
            out: tcp(n.clusterIp, n.pod, 80, 40060, { ack: true, psh: true }, { payload: 'late' }),
            check: (dp: Datapath) => { closedBoth(60, CT_TYPE.FWD)(dp); dp.clearFlows(); },
          },
          ...est(40061),
          {
            what: 'the backend resets: the FWD half closes too', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: tcp(n.remoteBe, n.pod, 8080, 40061, { rst: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40061, { rst: true, ack: true }),
            check: closedBoth(60, CT_TYPE.REV),
          },
          {
            what: 'the client\'s last ACK does not put its half back', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: tcp(n.pod, n.clusterIp, 40061, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40061, 8080, { ack: true }),
            check: closedBoth(60, CT_TYPE.REV),
          },
          {
            what: 'a new handshake from the same port is the flow\'s again (same backend), its mark gone', prog: 'tc_ingress' as const, config: FROM_PODS,
            in: syn(n.pod, n.clusterIp, 40061, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40061, 8080),
            check: (dp: Datapath) => {
              const fwd = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.pod, daddr: n.clusterIp, sport: 40061, dport: 80, proto: 'tcp' }))!, n.family);
              expect(fwd.flags & CT_F.RESET).toBe(0);
              dp.clearFlows();
            },
          },
          {
            what: 'a SNATed NodePort flow', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: syn(n.external, n.node, 50060, NODEPORT), verdict: TC.pass,
            out: (got: { sport?: number }) => { inSnatRange(got.sport); snatPort = got.sport!; return syn(n.node, n.remoteBe, got.sport!, 8080); },
          },
          {
            what: 'its backend answers', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: () => tcp(n.remoteBe, n.node, 8080, snatPort, { syn: true, ack: true }), verdict: TC.pass,
            out: tcp(n.node, n.external, NODEPORT, 50060, { syn: true, ack: true }),
          },
          {
            what: 'the client resets: the REV half, which holds the SNAT port, closes too', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: tcp(n.external, n.node, 50060, NODEPORT, { rst: true }), verdict: TC.pass,
            out: () => tcp(n.node, n.remoteBe, snatPort, 8080, { rst: true }),
            check: closedBoth(61, CT_TYPE.FWD),
          },
        ];
      })(),
    },
    {
      name: `${n.tag} conntrack: an expired entry is treated as a new flow`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 38, slots: [2] });
        // A FWD entry to backend 1 that expired at boot.
        dp.putFlow({ saddr: n.pod, daddr: n.clusterIp, sport: 40018, dport: 80, proto: 'tcp' }, { expiresNs: 1n, addr: n.remoteBe, addr2: null, port: 8080, port2: 0, svcId: 38, backendId: 1, type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x10 });
      },
      steps: [{
        what: 'ACK on a dead entry is balanced anew', prog: 'tc_ingress', config: FROM_PODS, in: tcp(n.pod, n.clusterIp, 40018, 80, { ack: true }), verdict: TC.pass,
        out: tcp(n.pod, n.remoteBe2, 40018, 8080, { ack: true }), events: { ct_expired_reuse: 1 },
      }],
    },
    {
      // A client that reaches the backend directly from a port it used through the ClusterIP (a
      // kubelet's probe, a pod): the finished flow's REV entry matches the backend's answers.
      name: `${n.tag} conntrack: a finished flow's reverse entry never rewrites a direct connection on its tuple`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 42, slots: [1] }); },
      steps: [
        { what: 'SYN through the ClusterIP', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40019, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40019, 8080) },
        { what: 'SYN-ACK of the flow', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40019, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40019, { syn: true, ack: true }), events: { ct_hit_rev: 1, ct_stale_rev: 0 } },
        { what: 'the backend\'s FIN', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40019, { fin: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40019, { fin: true, ack: true }) },
        {
          what: 'SYN-ACK of a direct connection on the tuple: untouched, the entry deleted', prog: 'tc_ingress', config: FROM_WIRE,
          in: tcp(n.remoteBe, n.pod, 8080, 40019, { syn: true, ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_stale_rev: 1, ct_hit_rev: 0 },
          check: (dp) => expect(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.remoteBe, daddr: n.pod, sport: 8080, dport: 40019, proto: 'tcp' }))).toBeNull(),
        },
        { what: 'the direct connection\'s data', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40019, { ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_stale_rev: 0, ct_hit_rev: 0 } },
      ],
    },
    {
      name: `${n.tag} conntrack: a client reset by the backend opens the next connection from the same port: same backend, its answer translated`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 44, slots: [1] }); },
      steps: [
        { what: 'SYN', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40021, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40021, 8080) },
        { what: 'SYN-ACK', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40021, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40021, { syn: true, ack: true }) },
        { what: 'ACK: established', prog: 'tc_ingress', config: FROM_PODS, in: tcp(n.pod, n.clusterIp, 40021, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40021, 8080, { ack: true }) },
        { what: 'the backend resets it (only the REV entry sees that)', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40021, { rst: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40021, { rst: true }) },
        { what: 'a SYN on the established FWD entry keeps the flow', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40021, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40021, 8080), events: { ct_hit_fwd: 1, ct_expired_reuse: 0, ct_created: 0 } },
        { what: 'its SYN-ACK is translated', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40021, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40021, { syn: true, ack: true }), events: { ct_hit_rev: 1, ct_stale_rev: 0 } },
      ],
    },
    {
      name: `${n.tag} conntrack: a SYN the backend refused, retried from the same port: its answer translated`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 45, slots: [1] }); },
      steps: [
        { what: 'SYN', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40022, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40022, 8080) },
        { what: 'the backend refuses (RST)', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40022, { rst: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40022, { rst: true, ack: true }) },
        { what: 'the retry', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40022, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40022, 8080), events: { ct_hit_fwd: 1 } },
        { what: 'its SYN-ACK is translated', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40022, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40022, { syn: true, ack: true }), events: { ct_hit_rev: 1, ct_stale_rev: 0 } },
      ],
    },
    {
      name: `${n.tag} conntrack: an expired reverse entry is not applied`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cipUdp, svcId: 43, slots: [1] });
        // The REV entry of a UDP flow to backend 1 that expired at boot.
        dp.putFlow({ saddr: n.remoteBe, daddr: n.pod, sport: 5353, dport: 40020, proto: 'udp' }, { expiresNs: 1n, addr: n.clusterIp, addr2: n.pod, port: 53, port2: 40020, svcId: 43, backendId: 1, type: CT_TYPE.REV, state: 0, flags: 0, tcpFlagsSeen: 0 });
      },
      steps: [{
        what: 'the backend\'s datagram passes as sent', prog: 'tc_ingress', config: FROM_WIRE, in: { src: n.remoteBe, dst: n.pod, proto: 'udp', sport: 5353, dport: 40020 }, verdict: TC.pass,
        out: 'unchanged', events: { ct_stale_rev: 1, ct_hit_rev: 0 },
      }],
    },
    {
      // Linux keeps one entry per flow, refreshed by either direction. The REV entry stays in
      // SYN after the handshake (it saw only the SYN-ACK), with SYN's 60 s, while the client's
      // ACK gave the FWD entry ESTABLISHED's hours: a client quiet for a minute after connecting.
      name: `${n.tag} conntrack: a connection quiet after its handshake keeps its reverse NAT (the REV entry expired, the FWD entry live)`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 46, slots: [1] }); },
      steps: [
        { what: 'SYN', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 40023, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40023, 8080) },
        { what: 'SYN-ACK', prog: 'tc_ingress', config: FROM_WIRE, in: tcp(n.remoteBe, n.pod, 8080, 40023, { syn: true, ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40023, { syn: true, ack: true }) },
        {
          what: 'ACK: the FWD entry is established, the REV entry still in SYN (then made to expire)', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40023, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40023, 8080, { ack: true }),
          check: (dp) => {
            const ct = dp.map(ctMapOf(n.family));
            const fwd = decodeCtVal(ct.lookup(encodeCtKey({ saddr: n.pod, daddr: n.clusterIp, sport: 40023, dport: 80, proto: 'tcp' }))!, n.family);
            expect(fwd.state).toBe(CT_STATE.ESTABLISHED);
            const revKey = encodeCtKey({ saddr: n.remoteBe, daddr: n.pod, sport: 8080, dport: 40023, proto: 'tcp' });
            const rev = decodeCtVal(ct.lookup(revKey)!, n.family);
            expect(rev.state).toBe(CT_STATE.SYN);
            ct.update(revKey, encodeCtVal({ ...rev, expiresNs: 1n }));
          },
        },
        {
          what: 'the backend\'s first data, a minute on: reverse-NATed, the REV entry refreshed and established', prog: 'tc_ingress', config: FROM_WIRE,
          in: tcp(n.remoteBe, n.pod, 8080, 40023, { ack: true, psh: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 80, 40023, { ack: true, psh: true }),
          events: { ct_hit_rev: 1, ct_stale_rev: 0 },
          check: (dp) => {
            const rev = decodeCtVal(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.remoteBe, daddr: n.pod, sport: 8080, dport: 40023, proto: 'tcp' }))!, n.family);
            expect(rev.state).toBe(CT_STATE.ESTABLISHED);
            expect(rev.expiresNs).toBeGreaterThan(1n);
          },
        },
      ],
    },
    {
      name: `${n.tag} conntrack: an expired FWD entry whose REV entry lives keeps its backend; a SYN on it is a new connection`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cip, svcId: 47, slots: [2] });
        // The client half-closed (FWD closing, expired); the backend still sends (REV live). To backend 1.
        dp.putFlow({ saddr: n.pod, daddr: n.clusterIp, sport: 40024, dport: 80, proto: 'tcp' }, { expiresNs: 1n, addr: n.remoteBe, addr2: null, port: 8080, port2: 0, svcId: 47, backendId: 1, type: CT_TYPE.FWD, state: CT_STATE.CLOSING, flags: 0, tcpFlagsSeen: 0x11 });
        dp.putFlow({ saddr: n.remoteBe, daddr: n.pod, sport: 8080, dport: 40024, proto: 'tcp' }, { expiresNs: 1n << 62n, addr: n.clusterIp, addr2: n.pod, port: 80, port2: 40024, svcId: 47, backendId: 1, type: CT_TYPE.REV, state: CT_STATE.ESTABLISHED, flags: 0, tcpFlagsSeen: 0x10 });
      },
      steps: [
        {
          what: 'the client\'s ACK goes to the flow\'s backend, not a new one', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40024, 80, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40024, 8080, { ack: true }),
          events: { ct_hit_fwd: 1, ct_expired_reuse: 0, ct_created: 0 },
        },
        {
          what: 'a SYN from the port is balanced anew', prog: 'tc_ingress', config: FROM_PODS,
          in: syn(n.pod, n.clusterIp, 40024, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe2, 40024, 8080),
          events: { ct_expired_reuse: 1, ct_created: 1 },
        },
      ],
    },
    {
      // A SNAT port comes round again: the REV entry at an expired FWD entry's REV key may be a
      // newer flow's, another client's on the same backend. It keeps that flow's, and the old
      // client's next packet is a new flow, never sent out on the other's tuple.
      name: `${n.tag} conntrack: an expired SNAT flow whose REV key another client's flow now holds is not revived`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: np, svcId: 52, slots: [1], flags: SVC_F.NODEPORT });
        dp.putFlow({ saddr: n.external, daddr: n.node, sport: 50010, dport: NODEPORT, proto: 'tcp' }, { expiresNs: 1n, addr: n.remoteBe, addr2: n.node, port: 8080, port2: 61000, svcId: 52, backendId: 1, type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: CT_F.SNAT | CT_F.EXTERNAL, tcpFlagsSeen: 0x10 });
        dp.putFlow({ saddr: n.remoteBe, daddr: n.node, sport: 8080, dport: 61000, proto: 'tcp' }, { expiresNs: 1n << 62n, addr: n.node, addr2: n.external2, port: NODEPORT, port2: 50011, svcId: 52, backendId: 1, type: CT_TYPE.REV, state: CT_STATE.ESTABLISHED, flags: CT_F.SNAT | CT_F.EXTERNAL, tcpFlagsSeen: 0x10 });
      },
      steps: [{
        what: 'the old client\'s ACK starts a flow of its own (another SNAT port)', prog: 'tc_ingress', config: FROM_WIRE,
        in: tcp(n.external, n.node, 50010, NODEPORT, { ack: true }), verdict: TC.pass,
        out: (got) => { expect(got.sport).not.toBe(61000); inSnatRange(got.sport); return tcp(n.node, n.remoteBe, got.sport!, 8080, { ack: true }); },
        events: { ct_expired_reuse: 1, ct_created: 1 },
      }],
    },
    {
      // The other way round: the client's tuple came round again and its FWD entry is a newer
      // flow's, SNATed to another port. The old flow's expired REV entry stays dead.
      name: `${n.tag} conntrack: an expired SNAT REV entry whose client tuple a newer flow holds (another SNAT port) is not revived`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: np, svcId: 53, slots: [1], flags: SVC_F.NODEPORT });
        dp.putFlow({ saddr: n.external, daddr: n.node, sport: 50012, dport: NODEPORT, proto: 'tcp' }, { expiresNs: 1n << 62n, addr: n.remoteBe, addr2: n.node, port: 8080, port2: 61001, svcId: 53, backendId: 1, type: CT_TYPE.FWD, state: CT_STATE.ESTABLISHED, flags: CT_F.SNAT | CT_F.EXTERNAL, tcpFlagsSeen: 0x10 });
        dp.putFlow({ saddr: n.remoteBe, daddr: n.node, sport: 8080, dport: 61000, proto: 'tcp' }, { expiresNs: 1n, addr: n.node, addr2: n.external, port: NODEPORT, port2: 50012, svcId: 53, backendId: 1, type: CT_TYPE.REV, state: CT_STATE.ESTABLISHED, flags: CT_F.SNAT | CT_F.EXTERNAL, tcpFlagsSeen: 0x10 });
      },
      steps: [{
        what: 'the backend\'s packet to the old SNAT port passes untranslated; the dead entry goes', prog: 'tc_ingress', config: FROM_WIRE,
        in: tcp(n.remoteBe, n.node, 8080, 61000, { ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_stale_rev: 1, ct_hit_rev: 0 },
        check: (dp) => expect(dp.map(ctMapOf(n.family)).lookup(encodeCtKey({ saddr: n.remoteBe, daddr: n.node, sport: 8080, dport: 61000, proto: 'tcp' }))).toBeNull(),
      }],
    },
    {
      name: `${n.tag} conntrack: a UDP server answering less often than the timeout: its expired REV entry is applied while the client keeps the FWD entry live`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: cipUdp, svcId: 48, slots: [1] });
        dp.putFlow({ saddr: n.pod, daddr: n.clusterIp, sport: 40025, dport: 53, proto: 'udp' }, { expiresNs: 1n << 62n, addr: n.remoteBe, addr2: null, port: 5353, port2: 0, svcId: 48, backendId: 1, type: CT_TYPE.FWD, state: 0, flags: 0, tcpFlagsSeen: 0 });
        dp.putFlow({ saddr: n.remoteBe, daddr: n.pod, sport: 5353, dport: 40025, proto: 'udp' }, { expiresNs: 1n, addr: n.clusterIp, addr2: n.pod, port: 53, port2: 40025, svcId: 48, backendId: 1, type: CT_TYPE.REV, state: 0, flags: 0, tcpFlagsSeen: 0 });
      },
      steps: [{
        what: 'the server\'s datagram comes from the ClusterIP', prog: 'tc_ingress', config: FROM_WIRE,
        in: { src: n.remoteBe, dst: n.pod, proto: 'udp', sport: 5353, dport: 40025 }, verdict: TC.pass,
        out: { src: n.clusterIp, dst: n.pod, proto: 'udp', sport: 53, dport: 40025 }, events: { ct_hit_rev: 1, ct_stale_rev: 0 },
      }],
    },
    {
      name: `${n.tag} SNAT port exhaustion drops after bounded retries`,
      setup: (dp) => {
        be(dp);
        dp.setService({ frontend: np, svcId: 39, slots: [1], flags: SVC_F.NODEPORT });
        // The only port in the range is taken by another flow's REV entry.
        dp.putFlow({ saddr: n.remoteBe, daddr: n.node, sport: 8080, dport: 61000, proto: 'tcp' }, { expiresNs: 1n << 62n, addr: n.node, addr2: n.external2, port: NODEPORT, port2: 1, svcId: 39, backendId: 1, type: CT_TYPE.REV, state: 0, flags: 1, tcpFlagsSeen: 0 });
      },
      steps: [{
        what: 'dropped with snat_no_port', prog: 'tc_ingress', config: { ...FROM_WIRE, snatPortMin: 61000, snatPortMax: 61000 },
        in: syn(n.external, n.node, 50008, NODEPORT), verdict: TC.drop, out: 'unchanged', drops: { snat_no_port: 1 }, events: { snat_retry: 16 },
      }],
    },
    {
      // BIG TCP: a GSO packet over 64 KiB has 0 in the IPv4 total length (IPv6: the payload
      // length, without the jumbo option since 6.17); the kernel takes the length from the skb.
      name: `${n.tag} a BIG TCP packet (GSO, length field 0) is translated, not dropped as malformed`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 51, slots: [1] }); },
      steps: [{
        what: 'the flow\'s SYN, then a GSO segment of it with the length field 0', prog: 'tc_ingress', config: FROM_PODS,
        in: syn(n.pod, n.clusterIp, 40028, 80), verdict: TC.pass, out: syn(n.pod, n.remoteBe, 40028, 8080),
        check: (dp) => {
          const frame = buildPacket(tcp(n.pod, n.clusterIp, 40028, 80, { ack: true }, { payload: Buffer.alloc(3000, 7) }));
          const l3 = 14;
          if (n.family === 4) {
            frame.writeUInt16BE(0, l3 + 2);
            frame.writeUInt16BE(0, l3 + 10);
            frame.writeUInt16BE(inetChecksum(frame.subarray(l3, l3 + 20)), l3 + 10);
          } else {
            frame.writeUInt16BE(0, l3 + 4);
          }
          const ctx = Buffer.alloc(192);
          ctx.writeUInt32LE(3, 164); // gso_segs
          ctx.writeUInt32LE(1000, 176); // gso_size
          const before = dp.counters();
          const r = dp.program('tc_ingress', FROM_PODS).testRun({ data: frame, ctx });
          expect(counterDelta(before, dp.counters()).drops).toEqual({});
          expect(r.retval).not.toBe(TC.drop);
          // DNATed: the backend's address and port, where a frame built to it has them.
          const [dstOff, len, l4] = n.family === 4 ? [l3 + 16, 4, l3 + 20] : [l3 + 24, 16, l3 + 40];
          const want = buildPacket(syn(n.pod, n.remoteBe, 40028, 8080));
          expect(r.data.subarray(dstOff, dstOff + len)).toEqual(want.subarray(dstOff, dstOff + len));
          expect(r.data.readUInt16BE(l4 + 2)).toBe(8080);
        },
      }],
    },
    {
      name: `${n.tag} random selection spreads new flows over all backends`,
      setup: (dp) => { be(dp); dp.setService({ frontend: cip, svcId: 40, slots: [1, 2, 3, 4] }); },
      steps: [{
        what: '200 SYNs reach all four backends', prog: 'tc_ingress', config: FROM_PODS, in: syn(n.pod, n.clusterIp, 45000, 80), verdict: TC.pass,
        check: (dp) => {
          const seen = new Set<string>();
          const prog = dp.program('tc_ingress', FROM_PODS);
          for (let i = 1; i <= 200; i++) {
            const r = prog.testRun({ data: buildPacket(syn(n.pod, n.clusterIp, 45000 + i, 80)) });
            seen.add(parsePacket(r.data).dst);
          }
          expect(seen.size).toBe(4);
        },
      }],
    },
  ];
}

describe('tc_lb datapath', () => {
  const fx = datapathFixture();
  const it611 = kernelIt([6, 11]);

  for (const n of NETS) {
    for (const c of cases(n)) {
      it(c.name, () => runCase(fx.dp, c));
    }
    const c = checksumCompleteCase(n);
    it611(c.name, () => runCase(fx.dp, c));
  }
});
