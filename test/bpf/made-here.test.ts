// What the node itself sends about a NATed flow, through BPF_PROG_TEST_RUN: tc_to_pod at egress of
// a pod's host veth, tc_egress at egress of lo (test runs happen on lo). A host-network backend's reply (the backend is
// the node's own address) is reverse-NATed; the node's own ICMP errors about a pod's DNATed
// packets are translated; everything else (forwarded packets, FWD matches, packets to frontends,
// strangers, localhost) passes byte-for-byte untouched and starts no flow.
import { describe } from 'vitest';
import { BE_F, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { kernelIt } from '../support/capability.js';
import type { PacketSpec } from '../support/packet.js';
import { runCase, type Case } from './cases.js';
import { datapathFixture, TC, type Datapath } from './datapath.js';
import { FROM_HOST, FROM_PODS, icmpErrors, NETS, type Net } from './fixtures.js';

const it = kernelIt();

function cases(n: Net & { loopback: string }): Case[] {
  const v6 = n.family === 6;
  const icmp = v6 ? 'icmpv6' as const : 'icmp' as const;
  const { PORT_UNREACH, TOO_BIG, err } = icmpErrors(n);
  const apiTcp: SvcKey = { addr: n.clusterIp, port: 443, proto: 'tcp' };
  const dnsUdp: SvcKey = { addr: n.clusterIp, port: 53, proto: 'udp' };
  const farUdp: SvcKey = { addr: n.clusterIp, port: 54, proto: 'udp' };
  const setup = (dp: Datapath) => {
    // A host-network backend on this node (the node's address), and a pod on another node.
    dp.setBackend(1, { addr: n.node, port: 6443, flags: BE_F.LOCAL });
    dp.setBackend(2, { addr: n.node, port: 5399, flags: BE_F.LOCAL });
    dp.setBackend(3, { addr: n.remoteBe, port: 5353 });
    dp.setService({ frontend: apiTcp, svcId: 40, slots: [1] });
    dp.setService({ frontend: dnsUdp, svcId: 41, slots: [2] });
    dp.setService({ frontend: farUdp, svcId: 42, slots: [3] });
  };
  const tcp = (src: string, dst: string, sport: number, dport: number, flags: { syn?: boolean; ack?: boolean; fin?: boolean }): PacketSpec =>
    ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: flags, seq: 1000, ackSeq: flags.ack ? 5001 : 0, payload: 'x'.repeat(32) });
  const udp = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({ src, dst, proto: 'udp', sport, dport, payload: 'query' });
  const syn = tcp(n.pod, n.clusterIp, 40000, 443, { syn: true });
  const synDnat = tcp(n.pod, n.node, 40000, 6443, { syn: true });
  const synAck = tcp(n.node, n.pod, 6443, 40000, { syn: true, ack: true });
  const synAckXlated = tcp(n.clusterIp, n.pod, 443, 40000, { syn: true, ack: true });
  const open = { what: 'SYN from the pod, DNATed to the node\'s address', prog: 'tc_ingress' as const, config: FROM_PODS, in: syn, verdict: TC.pass, out: synDnat, events: { ct_created: 1 } };

  return [
    {
      name: `${n.tag} a host-network backend's reply to a pod: reverse-NATed to the ClusterIP, counted for its service`,
      setup,
      steps: [
        open,
        { what: 'SYN-ACK from the node: source back to the ClusterIP', prog: 'tc_to_pod', config: FROM_PODS, in: synAck, verdict: TC.pass, out: synAckXlated, events: { ct_hit_rev: 1, ct_created: 0 }, svc: { 40: 1 } },
        {
          what: 'the pod\'s ACK still follows its FWD entry at tc_ingress', prog: 'tc_ingress', config: FROM_PODS,
          in: tcp(n.pod, n.clusterIp, 40000, 443, { ack: true }), verdict: TC.pass, out: tcp(n.pod, n.node, 40000, 6443, { ack: true }), events: { ct_hit_fwd: 1 },
        },
        { what: 'data from the node: reverse-NATed', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.node, n.pod, 6443, 40000, { ack: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 443, 40000, { ack: true }) },
      ],
    },
    {
      name: `${n.tag} a finished flow's entry never rewrites the node's answer to a pod that came to it directly on the tuple`,
      setup,
      steps: [
        open,
        { what: 'the node closes the flow', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.node, n.pod, 6443, 40000, { ack: true, fin: true }), verdict: TC.pass, out: tcp(n.clusterIp, n.pod, 443, 40000, { ack: true, fin: true }) },
        { what: 'SYN-ACK of a direct connection from the pod\'s port: untouched', prog: 'tc_to_pod', config: FROM_PODS, in: synAck, verdict: TC.pass, out: 'unchanged', events: { ct_stale_rev: 1, ct_hit_rev: 0 } },
        { what: 'and its data', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.node, n.pod, 6443, 40000, { ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_stale_rev: 0, ct_hit_rev: 0 } },
      ],
    },
    {
      name: `${n.tag} a packet that arrived on a device (forwarded) is not looked at: it was translated where it entered`,
      setup,
      steps: [
        open,
        { what: 'same reply, with an ingress device', prog: 'tc_to_pod', config: FROM_PODS, ingressIfindex: 1, in: synAck, verdict: TC.pass, out: 'unchanged', events: { ct_hit_rev: 0 } },
      ],
    },
    {
      name: `${n.tag} the node's port unreachable about a datagram DNATed to its own address: the pod hears it from the ClusterIP`,
      setup,
      steps: [
        { what: 'query DNATed to node:5399', prog: 'tc_ingress', config: FROM_PODS, in: udp(n.pod, n.clusterIp, 41000, 53), verdict: TC.pass, out: udp(n.pod, n.node, 41000, 5399) },
        {
          what: 'outer src node -> ClusterIP (it is the embedded destination), embedded dst -> ClusterIP:53', prog: 'tc_to_pod', config: FROM_PODS,
          in: err(n.node, n.pod, PORT_UNREACH, udp(n.pod, n.node, 41000, 5399)), verdict: TC.pass,
          out: err(n.clusterIp, n.pod, PORT_UNREACH, udp(n.pod, n.clusterIp, 41000, 53)), events: { icmp_err_xlate: 1 },
        },
      ],
    },
    {
      name: `${n.tag} the node's ${v6 ? 'packet too big' : 'frag-needed'} about a datagram to a remote backend: embedded packet translated, the node keeps its address`,
      setup,
      steps: [
        { what: 'query DNATed to the remote pod', prog: 'tc_ingress', config: FROM_PODS, in: udp(n.pod, n.clusterIp, 42000, 54), verdict: TC.pass, out: udp(n.pod, n.remoteBe, 42000, 5353) },
        {
          what: 'from the node\'s gateway address, about pod -> remote pod', prog: 'tc_to_pod', config: FROM_PODS,
          in: err(n.other, n.pod, TOO_BIG, udp(n.pod, n.remoteBe, 42000, 5353)), verdict: TC.pass,
          out: err(n.other, n.pod, TOO_BIG, udp(n.pod, n.clusterIp, 42000, 54)), events: { icmp_err_xlate: 1 },
        },
      ],
    },
    {
      name: `${n.tag} nothing else is touched: a FWD match, a packet to a frontend, a stranger, an echo request`,
      setup,
      steps: [
        open,
        // The flow's own original-direction tuple (never sent to a pod in practice): a FWD entry is never applied here.
        { what: 'pod -> ClusterIP (FWD key)', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.pod, n.clusterIp, 40000, 443, { ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_hit_fwd: 0 } },
        { what: 'to a frontend: no service lookup, no flow', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.node, n.clusterIp, 45000, 443, { syn: true }), verdict: TC.pass, out: 'unchanged', events: { ct_created: 0 } },
        { what: 'no flow', prog: 'tc_to_pod', config: FROM_PODS, in: tcp(n.node, n.pod, 6443, 40999, { ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_hit_rev: 0 } },
        { what: 'an echo request', prog: 'tc_to_pod', config: FROM_PODS, in: { src: n.node, dst: n.pod, proto: icmp }, verdict: TC.pass, out: 'unchanged', events: { icmp_err_xlate: 0 } },
      ],
    },
    {
      name: `${n.tag} a host process reaches a host-network backend here: the reply on lo is reverse-NATed`,
      setup,
      steps: (() => {
        // The client is the backend's own address: hairpin, SNATed (here to the hairpin address; the daemon sets none, so the node's).
        const s = { port: 0 };
        return [
          {
            what: 'SYN from the node, DNATed and hairpin-SNATed at egress of its device', prog: 'tc_egress' as const, config: FROM_HOST,
            in: tcp(n.node, n.clusterIp, 45000, 443, { syn: true }), verdict: TC.pass,
            out: (got: { sport?: number }) => { s.port = got.sport!; return tcp(n.hairpin, n.node, got.sport!, 6443, { syn: true }); },
          },
          {
            what: 'SYN-ACK on lo: the ClusterIP to the client again', prog: 'tc_egress' as const, config: FROM_HOST,
            in: () => tcp(n.node, n.hairpin, 6443, s.port, { syn: true, ack: true }), verdict: TC.pass,
            out: tcp(n.clusterIp, n.node, 443, 45000, { syn: true, ack: true }), events: { ct_hit_rev: 1 },
          },
        ];
      })(),
    },
    {
      name: `${n.tag} localhost traffic on lo is not looked at, even where a flow would match`,
      setup,
      steps: [
        // Contrived (a frontend is never reached from a loopback source): it makes a REV entry whose client is localhost.
        { what: 'SYN from localhost, DNATed', prog: 'tc_egress', config: FROM_HOST, in: tcp(n.loopback, n.clusterIp, 45001, 443, { syn: true }), verdict: TC.pass, out: tcp(n.loopback, n.node, 45001, 6443, { syn: true }) },
        { what: 'its reply to localhost, untouched', prog: 'tc_egress', config: FROM_HOST, in: tcp(n.node, n.loopback, 6443, 45001, { syn: true, ack: true }), verdict: TC.pass, out: 'unchanged', events: { ct_hit_rev: 0 } },
      ],
    },
  ];
}

describe('what the node itself sends about a NATed flow: tc_to_pod (egress of a pod veth), tc_egress on lo', () => {
  const fx = datapathFixture();
  for (const n of NETS) {
    for (const c of cases({ ...n, loopback: n.family === 6 ? '::1' : '127.0.0.1' })) it(c.name, () => runCase(fx.dp, c));
  }
});
