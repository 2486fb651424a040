// ICMP(v6) errors about NATed flows, IPv4 and IPv6, through BPF_PROG_TEST_RUN on tc_lb: a flow is
// made by the datapath, then an error about one of its packets must come out as an error about
// the packet its recipient sent (outer and embedded headers, every checksum: the expected frames
// are built from scratch). Odd errors pass byte-for-byte untouched.
import { describe } from 'vitest';
import { CT_TYPE, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { kernelIt } from '../support/capability.js';
import { buildIpPacket, type PacketSpec } from '../support/packet.js';
import { runCase, type Case } from './cases.js';
import { datapathFixture, TC, type Datapath } from './datapath.js';
import { FROM_PODS, FROM_WIRE, icmpErrors, NETS, type Net } from './fixtures.js';

const it = kernelIt();
const NODEPORT = 30080;

function cases(n: Net): Case[] {
  const v6 = n.family === 6;
  const icmp = v6 ? 'icmpv6' as const : 'icmp' as const;
  const { PORT_UNREACH, TOO_BIG, TIME_EXCEEDED, err } = icmpErrors(n);
  const cipUdp: SvcKey = { addr: n.clusterIp, port: 53, proto: 'udp' };
  const cipTcp: SvcKey = { addr: n.clusterIp, port: 80, proto: 'tcp' };
  const np: SvcKey = { addr: n.node, port: NODEPORT, proto: 'tcp' };
  const setup = (dp: Datapath) => {
    dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
    dp.setBackend(2, { addr: n.remoteBe, port: 5353 });
    dp.setService({ frontend: cipUdp, svcId: 30, slots: [2] });
    dp.setService({ frontend: cipTcp, svcId: 31, slots: [1] });
    dp.setService({ frontend: np, svcId: 32, slots: [1] });
  };
  const udp = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({ src, dst, proto: 'udp', sport, dport, payload: 'query' });
  const tcp = (src: string, dst: string, sport: number, dport: number, ack = false): PacketSpec =>
    ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: { syn: true, ack }, seq: 1000, ackSeq: ack ? 5001 : 0, payload: 'x'.repeat(64) });
  const query: PacketSpec = udp(n.pod, n.clusterIp, 40000, 53);
  const dnatQuery = udp(n.pod, n.remoteBe, 40000, 5353);
  const xlated = { icmp_err_xlate: 1, pass_icmp_err: 0 };
  const untouched = { icmp_err_xlate: 0, pass_icmp_err: 1 };
  const ignored = { icmp_err_xlate: 0, pass_icmp_err: 0 };
  /** The first `len` bytes of an IP packet: a quote cut short. */
  const quote = (spec: PacketSpec, len: number) => buildIpPacket(spec).subarray(0, len);
  const l3 = v6 ? 40 : 20;

  /** A NodePort flow from outside, SNATed to the node (its port is random: read back). */
  const npFlow = (state: { port: number }) => ({
    what: 'NodePort SYN from outside: DNAT + SNAT', prog: 'tc_ingress' as const, config: FROM_WIRE,
    in: tcp(n.external, n.node, 41000, NODEPORT), verdict: TC.pass,
    out: (got: { sport?: number }) => { state.port = got.sport!; return tcp(n.node, n.remoteBe, got.sport!, 8080); },
  });

  return [
    {
      name: `${n.tag} port unreachable from the backend about a DNATed datagram: the pod hears it from the ClusterIP`,
      setup,
      steps: [
        { what: 'query DNATed', prog: 'tc_ingress', config: FROM_PODS, in: query, verdict: TC.pass, out: dnatQuery },
        {
          what: 'outer src backend -> ClusterIP, embedded dst -> ClusterIP:53', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, PORT_UNREACH, dnatQuery), verdict: TC.pass,
          out: err(n.clusterIp, n.pod, PORT_UNREACH, query), events: xlated,
        },
      ],
    },
    {
      name: `${n.tag} ${v6 ? 'packet too big' : 'frag-needed'} from a router about a DNATed + SNATed segment: the client hears it, the router keeps its address`,
      setup,
      steps: (() => {
        const s = { port: 0 };
        return [
          npFlow(s),
          {
            what: 'outer dst SNAT -> client; embedded node:snat -> backend becomes client -> node:NodePort', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: () => err(n.other, n.node, TOO_BIG, tcp(n.node, n.remoteBe, s.port, 8080)), verdict: TC.pass,
            out: err(n.other, n.external, TOO_BIG, tcp(n.external, n.node, 41000, NODEPORT)), events: xlated,
          },
        ];
      })(),
    },
    {
      name: `${n.tag} port unreachable from the pod about a reverse-NATed reply: the backend hears it about its own reply`,
      setup,
      steps: [
        { what: 'query DNATed', prog: 'tc_ingress', config: FROM_PODS, in: query, verdict: TC.pass, out: dnatQuery },
        {
          what: 'outer dst ClusterIP -> backend, embedded src -> backend:5353', prog: 'tc_ingress', config: FROM_PODS,
          in: err(n.pod, n.clusterIp, PORT_UNREACH, udp(n.clusterIp, n.pod, 53, 40000)), verdict: TC.pass,
          out: err(n.pod, n.remoteBe, PORT_UNREACH, udp(n.remoteBe, n.pod, 5353, 40000)), events: xlated,
        },
      ],
    },
    {
      name: `${n.tag} time exceeded from a router about a reverse-NATed, SNATed reply: the backend hears it about its reply to node:snat`,
      setup,
      steps: (() => {
        const s = { port: 0 };
        return [
          npFlow(s),
          {
            what: 'outer dst node -> backend; embedded node:NodePort -> client becomes backend -> node:snat', prog: 'tc_ingress' as const, config: FROM_WIRE,
            in: err(n.external2, n.node, TIME_EXCEEDED, tcp(n.node, n.external, NODEPORT, 41000, true)), verdict: TC.pass,
            out: () => err(n.external2, n.remoteBe, TIME_EXCEEDED, tcp(n.remoteBe, n.node, 8080, s.port, true)), events: xlated,
          },
        ];
      })(),
    },
    {
      name: `${n.tag} an error quoting only 8 bytes of TCP: ports translated, the TCP checksum (not quoted) left alone`,
      setup,
      steps: [
        { what: 'SYN DNATed', prog: 'tc_ingress', config: FROM_PODS, in: tcp(n.pod, n.clusterIp, 40001, 80), verdict: TC.pass, out: tcp(n.pod, n.remoteBe, 40001, 8080) },
        {
          what: 'embedded header + 8 bytes translated', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, TIME_EXCEEDED, quote(tcp(n.pod, n.remoteBe, 40001, 8080), l3 + 8)), verdict: TC.pass,
          out: err(n.clusterIp, n.pod, TIME_EXCEEDED, quote(tcp(n.pod, n.clusterIp, 40001, 80), l3 + 8)), events: xlated,
        },
      ],
    },
    {
      name: `${n.tag} odd errors pass untouched: a quote too short for the ports, an embedded header we do not parse; others are ignored`,
      setup,
      steps: [
        { what: 'query DNATed', prog: 'tc_ingress', config: FROM_PODS, in: query, verdict: TC.pass, out: dnatQuery },
        {
          what: 'quote of the IP header + 4 bytes', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, PORT_UNREACH, quote(dnatQuery, l3 + 4)), verdict: TC.pass, out: 'unchanged', events: untouched,
        },
        {
          what: 'quote cut inside the IP header', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, PORT_UNREACH, quote(dnatQuery, 12)), verdict: TC.pass, out: 'unchanged', events: untouched,
        },
        {
          what: v6 ? 'embedded IPv6 with a destination-options header' : 'embedded IPv4 with options', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, PORT_UNREACH, v6
            ? { ...dnatQuery, ipv6ExtHeaders: [{ type: 60 }] }
            : { ...dnatQuery, ipOptions: Buffer.from([1, 1, 1, 1]) }),
          verdict: TC.pass, out: 'unchanged', events: untouched,
        },
        {
          what: 'an error about a flow we did not NAT', prog: 'tc_ingress', config: FROM_WIRE,
          in: err(n.remoteBe, n.pod, PORT_UNREACH, udp(n.pod, n.remoteBe, 40099, 5353)), verdict: TC.pass, out: 'unchanged', events: ignored,
        },
        {
          what: 'an echo request', prog: 'tc_ingress', config: FROM_WIRE,
          in: { src: n.remoteBe, dst: n.pod, proto: icmp }, verdict: TC.pass, out: 'unchanged', events: ignored,
        },
      ],
    },
    {
      name: `${n.tag} an error about a tuple whose entry expired (a finished flow's): passed as it is`,
      setup: (dp) => {
        setup(dp);
        // The REV entry of a finished flow, pod:40100 -> ClusterIP:53 -> backend, expired at boot.
        dp.putFlow({ saddr: n.remoteBe, daddr: n.pod, sport: 5353, dport: 40100, proto: 'udp' }, { expiresNs: 1n, addr: n.clusterIp, addr2: n.pod, port: 53, port2: 40100, svcId: 30, backendId: 2, type: CT_TYPE.REV, state: 0, flags: 0, tcpFlagsSeen: 0 });
      },
      steps: [{
        what: 'port unreachable about the pod\'s direct datagram', prog: 'tc_ingress', config: FROM_WIRE,
        in: err(n.remoteBe, n.pod, PORT_UNREACH, udp(n.pod, n.remoteBe, 40100, 5353)), verdict: TC.pass, out: 'unchanged', events: ignored,
      }],
    },
    {
      name: `${n.tag} an error about a flow whose REV entry expired while its FWD entry lives (a server quieter than the timeout): translated`,
      setup: (dp) => {
        setup(dp);
        dp.putFlow({ saddr: n.pod, daddr: n.clusterIp, sport: 40101, dport: 53, proto: 'udp' }, { expiresNs: 1n << 62n, addr: n.remoteBe, addr2: null, port: 5353, port2: 0, svcId: 30, backendId: 2, type: CT_TYPE.FWD, state: 0, flags: 0, tcpFlagsSeen: 0 });
        dp.putFlow({ saddr: n.remoteBe, daddr: n.pod, sport: 5353, dport: 40101, proto: 'udp' }, { expiresNs: 1n, addr: n.clusterIp, addr2: n.pod, port: 53, port2: 40101, svcId: 30, backendId: 2, type: CT_TYPE.REV, state: 0, flags: 0, tcpFlagsSeen: 0 });
      },
      steps: [{
        what: 'port unreachable from the backend, heard from the ClusterIP', prog: 'tc_ingress', config: FROM_WIRE,
        in: err(n.remoteBe, n.pod, PORT_UNREACH, udp(n.pod, n.remoteBe, 40101, 5353)), verdict: TC.pass,
        out: err(n.clusterIp, n.pod, PORT_UNREACH, udp(n.pod, n.clusterIp, 40101, 53)), events: xlated,
      }],
    },
  ];
}

describe('ICMP errors about NATed flows (tc)', () => {
  const fx = datapathFixture();
  for (const n of NETS) {
    for (const c of cases(n)) it(c.name, () => runCase(fx.dp, c));
  }
});
