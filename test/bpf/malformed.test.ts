// Packets the datapath must never mangle: truncated or impossible headers are dropped
// with a reason, valid-but-unsupported ones (IPv4 options, fragments, IPv6 extension
// headers, VLAN, non-IP) pass byte-identical — at tc and at XDP, v4 and v6. Every
// case targets a live service so that a wrongly applied DNAT would show.
import { describe, expect } from 'vitest';
import { type DropReason, type EventName } from '../../src/dataplane/ebpf/abi.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, truncate, type PacketSpec } from '../support/packet.js';
import { runCase, type Case } from './cases.js';
import { datapathFixture, TC, XDP, type ProgName } from './datapath.js';
import { FROM_PODS, FROM_WIRE, NETS, type Net } from './fixtures.js';

const it = kernelIt();

type Expect = { kind: 'pass'; event?: EventName } | { kind: 'drop'; reason: DropReason };

interface Malformed {
  what: string;
  frame: (n: Net) => Buffer;
  expect: Expect;
  only?: 4 | 6;
  /**
   * Hooks whose BPF_PROG_TEST_RUN refuses the frame (EINVAL) before the program runs:
   * 6.18 will not build a test skb shorter than Ethernet + the L3 header it announces,
   * nor an XDP buffer shorter than Ethernet. The datapath still checks these bounds
   * (the verifier insists); the test pins the kernel's refusal so a change is noticed.
   */
  refusedBy?: ProgName[];
}

const L3 = 14;

function patch(frame: Buffer, f: (b: Buffer) => void): Buffer {
  const b = Buffer.from(frame);
  f(b);
  return b;
}

/** Rewrites the IPv4 total length (and fixes the header checksum so only the length is odd). */
function setIpv4TotLen(b: Buffer, len: number): void {
  b.writeUInt16BE(len, L3 + 2);
  b.writeUInt16BE(0, L3 + 10);
  let sum = 0;
  const ihl = (b[L3]! & 0x0f) * 4;
  for (let i = 0; i < ihl; i += 2) sum += b.readUInt16BE(L3 + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, L3 + 10);
}

const svcSyn = (n: Net, extra: Partial<PacketSpec> = {}): PacketSpec => ({ src: n.pod, dst: n.clusterIp, proto: 'tcp', sport: 46000, dport: 80, ...extra });

const MALFORMED: Malformed[] = [
  { what: 'frame shorter than an Ethernet header', frame: (n) => truncate(buildPacket(svcSyn(n)), 10), expect: { kind: 'pass' }, refusedBy: ['tc_ingress', 'xdp_nodeport'] },
  {
    what: 'ARP (not IP)', expect: { kind: 'pass' },
    frame: () => Buffer.concat([Buffer.from('ffffffffffff020000000001', 'hex'), Buffer.from([0x08, 0x06]), Buffer.alloc(28, 1)]),
  },
  {
    what: 'VLAN-tagged frame', expect: { kind: 'pass' },
    frame: (n) => {
      const f = buildPacket(svcSyn(n));
      return Buffer.concat([f.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), f.subarray(12)]);
    },
  },
  { what: 'IP header cut short', frame: (n) => truncate(buildPacket(svcSyn(n)), L3 + 10), expect: { kind: 'drop', reason: 'invalid_l3' }, refusedBy: ['tc_ingress'] },
  {
    what: 'IP length beyond the frame (truncated datagram)', expect: { kind: 'drop', reason: 'invalid_l3' },
    frame: (n) => { const f = buildPacket(svcSyn(n, { payload: 'x'.repeat(40) })); return truncate(f, f.length - 20); },
  },
  {
    what: 'TCP header cut short (IP length consistent)', only: 4, expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(truncate(buildPacket(svcSyn(n)), L3 + 20 + 10), (b) => setIpv4TotLen(b, 30)),
  },
  {
    what: 'TCP header cut short (IPv6 payload length consistent)', only: 6, expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(truncate(buildPacket(svcSyn(n)), L3 + 40 + 10), (b) => b.writeUInt16BE(10, L3 + 4)),
  },
  {
    what: 'TCP data offset below 5', expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(buildPacket(svcSyn(n)), (b) => { const l4 = L3 + (n.family === 4 ? 20 : 40); b[l4 + 12] = 0x40; }),
  },
  {
    what: 'TCP data offset beyond the segment', expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(buildPacket(svcSyn(n)), (b) => { const l4 = L3 + (n.family === 4 ? 20 : 40); b[l4 + 12] = 0xf0; }),
  },
  {
    what: 'UDP length beyond the datagram', expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(buildPacket({ src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 46001, dport: 53, payload: 'q' }),
      (b) => { const l4 = L3 + (n.family === 4 ? 20 : 40); b.writeUInt16BE(200, l4 + 4); }),
  },
  {
    what: 'UDP length below its header', expect: { kind: 'drop', reason: 'invalid_l4' },
    frame: (n) => patch(buildPacket({ src: n.pod, dst: n.clusterIp, proto: 'udp', sport: 46002, dport: 53, payload: 'q' }),
      (b) => { const l4 = L3 + (n.family === 4 ? 20 : 40); b.writeUInt16BE(4, l4 + 4); }),
  },
  { what: 'IPv4 header length below 5 words', only: 4, expect: { kind: 'drop', reason: 'invalid_l3' }, frame: (n) => patch(buildPacket(svcSyn(n)), (b) => { b[L3] = 0x44; }) },
  { what: 'IPv4 ethertype carrying version 6', only: 4, expect: { kind: 'drop', reason: 'invalid_l3' }, frame: (n) => patch(buildPacket(svcSyn(n)), (b) => { b[L3] = 0x65; }) },
  { what: 'IPv6 ethertype carrying version 4', only: 6, expect: { kind: 'drop', reason: 'invalid_l3' }, frame: (n) => patch(buildPacket(svcSyn(n)), (b) => { b[L3] = 0x40; }) },
  {
    what: 'IPv4 options (Router Alert) to a service', only: 4, expect: { kind: 'pass', event: 'pass_ip_options' },
    frame: (n) => buildPacket(svcSyn(n, { ipOptions: Buffer.from([0x94, 0x04, 0x00, 0x00]) })),
  },
  {
    what: 'first fragment to a service', only: 4, expect: { kind: 'pass', event: 'pass_fragment' },
    frame: (n) => buildPacket(svcSyn(n, { payload: 'x'.repeat(64), fragment: { offset: 0, more: true, id: 77 } })),
  },
  {
    what: 'later fragment to a service', only: 4, expect: { kind: 'pass', event: 'pass_fragment' },
    frame: (n) => buildPacket(svcSyn(n, { payload: 'y'.repeat(24), fragment: { offset: 64, more: false, id: 77 } })),
  },
  {
    what: 'IPv6 fragment header to a service', only: 6, expect: { kind: 'pass', event: 'pass_ipv6_exthdr' },
    frame: (n) => buildPacket(svcSyn(n, { payload: 'x'.repeat(64), fragment: { offset: 0, more: true, id: 77 } })),
  },
  {
    what: 'IPv6 hop-by-hop options to a service', only: 6, expect: { kind: 'pass', event: 'pass_ipv6_exthdr' },
    frame: (n) => buildPacket(svcSyn(n, { ipv6ExtHeaders: [{ type: 0 }] })),
  },
  {
    what: 'IPv6 destination options to a service', only: 6, expect: { kind: 'pass', event: 'pass_ipv6_exthdr' },
    frame: (n) => buildPacket(svcSyn(n, { ipv6ExtHeaders: [{ type: 60 }] })),
  },
];

const PROGS: { prog: ProgName; config: typeof FROM_PODS; verdict: { pass: number; drop: number } }[] = [
  { prog: 'tc_ingress', config: FROM_PODS, verdict: TC },
  { prog: 'xdp_nodeport', config: FROM_WIRE, verdict: XDP },
];

const refused: { name: string; prog: ProgName; config: typeof FROM_PODS; frame: Buffer }[] = [];

function cases(): Case[] {
  const out: Case[] = [];
  for (const n of NETS) {
    for (const m of MALFORMED) {
      if (m.only && m.only !== n.family) continue;
      for (const p of PROGS) {
        const e = m.expect;
        if (m.refusedBy?.includes(p.prog)) {
          refused.push({ name: `${n.tag} ${p.prog}: ${m.what} -> refused by BPF_PROG_TEST_RUN`, prog: p.prog, config: p.config, frame: m.frame(n) });
          continue;
        }
        out.push({
          name: `${n.tag} ${p.prog}: ${m.what} -> ${e.kind === 'pass' ? 'passes byte-identical' : `dropped (${e.reason})`}`,
          setup: (dp) => {
            dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
            dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 50, slots: [1] });
            dp.setService({ frontend: { addr: n.clusterIp, port: 53, proto: 'udp' }, svcId: 51, slots: [1] });
          },
          steps: [{
            what: m.what, prog: p.prog, config: p.config, in: m.frame(n),
            verdict: e.kind === 'pass' ? p.verdict.pass : p.verdict.drop,
            out: 'unchanged',
            drops: e.kind === 'drop' ? { [e.reason]: 1 } : {},
            events: { ct_created: 0, ...(e.kind === 'pass' && e.event ? { [e.event]: 1 } : {}) },
          }],
        });
      }
    }
  }
  return out;
}

describe('malformed and unsupported packets', () => {
  const fx = datapathFixture();

  for (const c of cases()) it(c.name, () => runCase(fx.dp, c));
  for (const r of refused) {
    it(r.name, () => {
      expect(() => fx.dp.program(r.prog, r.config).testRun({ data: r.frame })).toThrow(/EINVAL/);
    });
  }
});
