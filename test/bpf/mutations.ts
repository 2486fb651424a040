// The mutation walk (mutated-packets.test.ts says what it holds every outcome to): seeds,
// mutations and rules, shared by the host's test and the VM's run on Debian 12's 6.1
// (test/e2e/bpf-kernel.test.ts), where the checksums go through the kernel's helpers.
import { constants } from 'node:os';
import { BE_F, CFG_F, SVC_F, type Config } from '../../src/dataplane/ebpf/abi.js';
import { isBpfError, withNetns } from '../../src/native/index.js';
import { missingCapability } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';
import { buildPacket, describePacket, differingFields, fragmentPacket, parsePacket, sctpChunk, type PacketSpec, type ParsedPacket } from '../support/packet.js';
import { skbCtx, splitXdpMeta, TEST_SKB_CHECKSUM_COMPLETE } from './cases.js';
import { TC, type Datapath, type ProgName } from './datapath.js';
import { FROM_HOST, FROM_PODS, FROM_WIRE, icmpErrors, V4, V6, type Net } from './fixtures.js';

const { EINVAL, EBADMSG } = constants.errno;
/** Whether this kernel's test run takes it: every tc run is then repeated under it. */
export const checksumCompleteRuns = missingCapability([6, 11]) === null;
const NODEPORT = 30080;
/** eTP Local: the client's address kept, so XDP translates it. */
const NODEPORT_LOCAL = 30081;
const CLIENT_PORT = 41000;

/** xorshift32: the same walk on every run for one seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

interface Seed {
  what: string;
  spec: PacketSpec;
  /** The frame, when it is not buildPacket(spec)'s (a real first fragment, whose UDP length is the datagram's). */
  frame?: Buffer;
}

export function seeds(n: Net): Seed[] {
  const { PORT_UNREACH, TOO_BIG, err } = icmpErrors(n);
  const tcp = (src: string, dst: string, sport: number, dport: number, flags: PacketSpec['tcpFlags'], payload?: string): PacketSpec =>
    ({ src, dst, proto: 'tcp', sport, dport, tcpFlags: flags, ...(payload ? { payload } : {}) });
  const udpOut: PacketSpec = { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: CLIENT_PORT, dport: 53, payload: 'query' };
  return [
    { what: 'a pod\'s SYN to a ClusterIP', spec: tcp(n.pod, n.clusterIp, CLIENT_PORT, 80, { syn: true }) },
    { what: 'data on that flow', spec: tcp(n.pod, n.clusterIp, CLIENT_PORT, 80, { ack: true, psh: true }, 'GET / HTTP/1.1\r\n\r\n') },
    { what: 'the backend\'s SYN-ACK', spec: tcp(n.remoteBe, n.pod, 8080, CLIENT_PORT, { syn: true, ack: true }) },
    { what: 'a pod\'s UDP query', spec: udpOut },
    { what: 'its answer', spec: { src: n.remoteBe, dst: n.pod, proto: 'udp', sport: 8080, dport: CLIENT_PORT, payload: 'answer' } },
    { what: 'the first fragment of a pod\'s big UDP query', spec: udpOut, frame: fragmentPacket({ ...udpOut, payload: 'q'.repeat(100), ipId: 0x5eed }, 64)[0]! },
    { what: 'a later fragment of it', spec: { ...udpOut, payload: 'r'.repeat(40), ipId: 0x5eed, fragment: { offset: 72, more: false } } },
    { what: 'an SCTP INIT', spec: { src: n.pod, dst: n.clusterIp, proto: 'sctp', sport: CLIENT_PORT, dport: 9, vtag: 0, payload: sctpChunk(1, 0, Buffer.alloc(16, 3)) } },
    { what: 'an external SYN to a NodePort (SNAT)', spec: tcp(n.external, n.node, CLIENT_PORT, NODEPORT, { syn: true }) },
    { what: 'an external SYN to a NodePort with eTP Local (XDP translates it)', spec: tcp(n.external, n.node, CLIENT_PORT, NODEPORT_LOCAL, { syn: true }) },
    { what: 'an external UDP datagram without a checksum to it', spec: { src: n.external, dst: n.node, proto: 'udp', sport: CLIENT_PORT, dport: NODEPORT_LOCAL, payload: 'nosum', udpNoChecksum: true } },
    { what: 'a hairpin SYN (the pod is the backend)', spec: tcp(n.pod, n.clusterIp, CLIENT_PORT + 1, 82, { syn: true }) },
    { what: 'a SYN to a service without endpoints', spec: tcp(n.pod, n.clusterIp, CLIENT_PORT, 81, { syn: true }) },
    { what: 'an empty UDP datagram to a ClusterIP port without a service', spec: { src: n.pod, dst: n.clusterIp, proto: 'udp', sport: CLIENT_PORT, dport: 54 } },
    { what: 'a ping to a ClusterIP', spec: { src: n.pod, dst: n.clusterIp, proto: n.family === 4 ? 'icmp' : 'icmpv6', payload: 'ping' } },
    { what: 'a port unreachable from the backend about the UDP flow', spec: err(n.remoteBe, n.pod, PORT_UNREACH, { src: n.pod, dst: n.remoteBe, proto: 'udp', sport: CLIENT_PORT, dport: 8080, payload: 'query' }) },
    { what: 'a port unreachable about a datagram without a checksum', spec: err(n.localBe, n.external, PORT_UNREACH, { src: n.external, dst: n.localBe, proto: 'udp', sport: CLIENT_PORT, dport: 8080, payload: 'nosum', udpNoChecksum: true }) },
    { what: 'a frag-needed about the ClusterIP flow', spec: err(n.other, n.pod, TOO_BIG, tcp(n.pod, n.remoteBe, CLIENT_PORT, 8080, { ack: true }, 'x'.repeat(40))) },
  ];
}

function setup(dp: Datapath, n: Net): void {
  dp.reset();
  dp.setBackend(1, { addr: n.remoteBe, port: 8080 });
  dp.setBackend(2, { addr: n.pod, port: 8080, flags: BE_F.LOCAL });
  dp.setService({ frontend: { addr: n.clusterIp, port: 80, proto: 'tcp' }, svcId: 70, slots: [1] });
  dp.setService({ frontend: { addr: n.clusterIp, port: 81, proto: 'tcp' }, svcId: 71, slots: [] });
  dp.setService({ frontend: { addr: n.clusterIp, port: 82, proto: 'tcp' }, svcId: 72, slots: [2] });
  dp.setService({ frontend: { addr: n.clusterIp, port: 53, proto: 'udp' }, svcId: 73, slots: [1] });
  dp.setService({ frontend: { addr: n.clusterIp, port: 9, proto: 'sctp' }, svcId: 74, slots: [1] });
  dp.setService({ frontend: { addr: n.node, port: NODEPORT, proto: 'tcp' }, svcId: 75, slots: [1], flags: SVC_F.NODEPORT });
  dp.setBackend(3, { addr: n.localBe, port: 8080, flags: BE_F.LOCAL });
  for (const [proto, svcId] of [['tcp', 76], ['udp', 77]] as const) {
    dp.setService({ frontend: { addr: n.node, port: NODEPORT_LOCAL, proto }, svcId, slots: [3], flags: SVC_F.NODEPORT | SVC_F.PRESERVE_SRC });
  }
  dp.setClusterIp(n.clusterIp);
}

/** One to three mutations, each of a kind that has broken a datapath somewhere. */
function mutate(frame: Buffer, next: () => number, family: 4 | 6): Buffer {
  let b = Buffer.from(frame);
  const l3 = 14;
  const l4 = l3 + (family === 4 ? 20 : 40);
  const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length]!;
  const u16 = (at: number, v: number) => { if (at + 2 <= b.length) b.writeUInt16BE(v & 0xffff, at); };
  const near = (v: number) => pick([0, 1, v - 1, v, v + 1, v + 8, 0xffff, next() & 0xffff]);
  for (let k = 1 + (next() % 3); k > 0; k--) {
    switch (next() % 11) {
      case 0: { // any byte of the headers
        const at = next() % Math.min(b.length, l4 + 40);
        b[at] = pick([0, 0xff, 0x40, 0x45, 0x46, 0x60, 0x80, next() & 0xff]);
        break;
      }
      case 1: // one bit anywhere
        if (b.length > 0) b[next() % b.length] ^= 1 << (next() % 8);
        break;
      case 2: // cut short
        b = b.subarray(0, next() % (b.length + 1));
        break;
      case 3: // padded (an Ethernet trailer, or bytes no header owns)
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + (next() % 48) }, () => next() & 0xff))]);
        break;
      case 4: // the IP length
        u16(l3 + (family === 4 ? 2 : 4), near(b.length - l3 - (family === 4 ? 0 : 40)));
        break;
      case 5: // the L4 header's own length: UDP's length, TCP's data offset
        if (b.length > l4 + 12) {
          if (pick([0, 1])) u16(l4 + 4, near(b.length - l4));
          else b[l4 + 12] = (next() % 16) << 4;
        }
        break;
      case 6: // the ethertype, or the other family's version
        if (b.length >= 14) pick([() => u16(12, pick([0x0800, 0x86dd, 0x8100, 0x0806])), () => { b[l3] = (pick([4, 6, 5, 0]) << 4) | (b[l3]! & 0x0f); }])();
        break;
      case 7: // the protocol
        if (b.length > l3 + 9) b[l3 + (family === 4 ? 9 : 6)] = pick([1, 6, 17, 58, 132, 0, 44, 60, next() & 0xff]);
        break;
      case 8: // IPv4: header length and fragment bits; IPv6: next header as an extension
        if (family === 4 && b.length > l3 + 7) {
          if (pick([0, 1])) b[l3] = 0x40 | (next() % 16);
          else u16(l3 + 6, pick([0x2000, 0x0001, 0x4000, 0x8000, next() & 0xffff]));
        } else if (b.length > l3 + 6) b[l3 + 6] = pick([0, 43, 44, 51, 60, 59]);
        break;
      case 9: // the ports
        if (b.length >= l4 + 4) u16(l4 + pick([0, 2]), pick([0, 53, 80, 81, 82, 9, NODEPORT, NODEPORT_LOCAL, 8080, CLIENT_PORT, next() & 0xffff]));
        break;
      case 10: // the TTL or hop limit: none left to forward with, one, or plenty
        if (b.length > l3 + 8) b[l3 + (family === 4 ? 8 : 7)] = pick([0, 1, 2, 255]);
        break;
    }
  }
  return b;
}

/** Fields a translation may change, outside an ICMP error's quote and inside it. */
const NAT_FIELDS = new Set([
  'eth.dst', 'eth.src', 'ipv4.src', 'ipv4.dst', 'ipv4.checksum', 'ipv6.src', 'ipv6.dst',
  'tcp.sport', 'tcp.dport', 'tcp.checksum', 'udp.sport', 'udp.dport', 'udp.checksum', 'sctp.sport', 'sctp.dport', 'sctp.checksum',
  'icmp.checksum', 'icmpv6.checksum',
]);
const natField = (f: string) => NAT_FIELDS.has(f.replace(/^icmp(v6)?\.inner\./, ''));

function tryParse(b: Buffer): ParsedPacket | Error {
  try {
    return parsePacket(b);
  } catch (e) {
    return e as Error;
  }
}

const show = (p: ParsedPacket | Error) => (p instanceof Error ? `<${p.message}>` : describePacket(p));

const HOP_FIELDS = new Set(['ipv4.ttl', 'ipv6.hopLimit']);
const LOOPBACK_MAC = '00:00:00:00:00:00';

/**
 * Why this outcome breaks a rule, or null when it keeps them all. `sentOn`: the hook
 * forwarded the packet itself (a tc redirect by a hook that does not see the host's own
 * packets), where a translation must take a hop off, as the stack's forwarding does, and
 * may not send on one with none to spare. Into the host through lo (its MACs zeroed) is
 * no hop.
 */
function broken(input: Buffer, out: Buffer, sentOn = false, xdp = false): string | null {
  if (out.equals(input)) return null;
  const i = tryParse(input);
  if (i instanceof Error) return `changed a frame that does not parse (${i.message})`;
  // IPv6's fragment header, alone, is no extension header tc passes (below).
  const fragHeaderOnly = i.ipv6ExtHeaders?.length === 1 && i.ipv6ExtHeaders[0] === 44;
  if (i.ipOptions || (i.ipv6ExtHeaders && !fragHeaderOnly)) return 'changed a packet it should pass untouched (IPv4 options, an IPv6 extension header)';
  // tc follows a UDP datagram's fragments (frag.h); anything else in fragments, and every
  // fragment at XDP, passes untouched.
  if (i.fragment && (xdp || i.protoName !== 'udp')) return 'changed a fragment it should pass untouched (not UDP, or at XDP)';
  const later = (i.fragment?.offset ?? 0) > 0;
  const o = tryParse(out);
  if (o instanceof Error) return `the output does not parse (${o.message})`;
  const reply = o.src === i.dst && o.dst === i.src && o.src !== o.dst;
  const echo = reply && (o.icmp?.type === 0 || o.icmp?.type === 129);
  if (reply && !echo && later) return 'answered a later fragment (its quote would hold no ports)';
  if (reply && !echo) {
    // A reject (a RST or a port unreachable), or an answer to a request tc could not send on
    // (time exceeded, frag-needed, packet too big), written whole; an ICMP error quotes the
    // packet as it came, byte for byte (an answer's rewrite undone).
    if (o.tcpFlags?.rst !== true && !icmpError(o)) return 'built a reply that is neither a RST nor an ICMP error';
    if (o.ipChecksumOk === false || o.l4ChecksumOk !== true) return 'built a reject with a wrong checksum';
    if (timeExceeded(o) && i.ttl > 1) return `answered time exceeded for a packet with ${i.ttl} hops left`;
    // RFC 1122 3.2.2: never an ICMP error about an ICMP error (nor about anything ICMP we pass).
    if (icmpError(o) && i.icmp !== undefined) return 'answered an ICMP message with an ICMP error';
    if (icmpError(o)) {
      const l3 = i.family === 4 ? 20 : 40;
      // IPv6's first fragment: its fragment header is quoted too, with the 8 bytes after it.
      const quoted = l3 + (fragHeaderOnly ? 8 : 0) + 8;
      const quote = out.subarray(14 + l3 + 8);
      if (!quote.equals(input.subarray(14, 14 + quoted))) return 'quoted the packet otherwise than it came';
    }
    return null;
  }
  // A translation, or a ping's answer: both patched in place, as validity came in.
  if (!echo) {
    const hop = sentOn && o.eth.dst !== LOOPBACK_MAC;
    if (hop && i.ttl <= 1) return `sent on a packet with ${i.ttl} hops left`;
    if (hop && o.ttl !== i.ttl - 1) return `sent on with ${o.ttl} hops left, from ${i.ttl}: one must go`;
    const foreign = differingFields(input, out).filter((f) => !natField(f) && !(hop && HOP_FIELDS.has(f)));
    if (foreign.length > 0) return `a translation changed ${foreign.join(', ')}`;
  }
  if (o.ipChecksumOk !== i.ipChecksumOk) return `the IPv4 header checksum went from ${i.ipChecksumOk ? 'right' : 'wrong'} to ${o.ipChecksumOk ? 'right' : 'wrong'}`;
  if (i.l4ChecksumOk !== null && o.l4ChecksumOk !== i.l4ChecksumOk) return `the L4 checksum went from ${i.l4ChecksumOk ? 'right' : 'wrong'} to ${o.l4ChecksumOk ? 'right' : 'wrong'}`;
  // An ICMP error's own checksum covers its quote: a botched quote checksum would hide there.
  const qi = i.icmp?.inner;
  const qo = o.icmp?.inner;
  if (qi && qo) {
    if (qo.ipChecksumOk !== qi.ipChecksumOk) return `the quote's IPv4 header checksum went from ${qi.ipChecksumOk ? 'right' : 'wrong'} to ${qo.ipChecksumOk ? 'right' : 'wrong'}`;
    if (qi.l4ChecksumOk !== null && qo.l4ChecksumOk !== qi.l4ChecksumOk) return `the quote's L4 checksum went from ${qi.l4ChecksumOk ? 'right' : 'wrong'} to ${qo.l4ChecksumOk ? 'right' : 'wrong'}`;
  }
  return null;
}

/** Whether p is an ICMP error we build: unreachable (frag-needed too), packet too big, time exceeded. */
const icmpError = (p: ParsedPacket) => p.icmp !== undefined && (p.family === 4 ? [3, 11] : [1, 2, 3]).includes(p.icmp.type);
const timeExceeded = (p: ParsedPacket) => p.icmp?.type === (p.family === 4 ? 11 : 3);

/**
 * Whether out is a reject or an answer to the sender (a ping's answer is never cut) built from
 * input cut to what it keeps: IP and TCP headers for a RST, IP and 8 bytes for an ICMP error's
 * quote. The cut leaves CHECKSUM_COMPLETE for CHECKSUM_NONE (__skb_trim_rcsum), where
 * skb->csum means nothing (the test run compares it all the same).
 */
function cutForReply(input: Buffer, out: Buffer): boolean {
  const i = tryParse(input);
  const o = tryParse(out);
  if (i instanceof Error || o instanceof Error || o.src !== i.dst || o.dst !== i.src) return false;
  const rst = o.tcpFlags?.rst === true;
  const l3 = i.family === 4 ? 20 : 40;
  return (rst || icmpError(o)) && input.length > 14 + l3 + (rst ? 20 : 8);
}

export interface Hook {
  prog: ProgName;
  config: Config;
  /** __sk_buff.ingress_ifindex: tc_to_pod looks only at packets the node made (0). */
  ingressIfindex?: number;
  /**
   * __sk_buff.ifindex, the device the packet is on (lo when unset), in the walk's
   * namespace: tc's FIB lookup starts there, and sends a local destination in through
   * lo only from another device.
   */
  ifindex?: number;
}

/** A hook's program and role, as the walk's tally names it. */
export const hookName = (h: Hook) => `${h.prog} ${h.config.flags ?? 0} ${h.ingressIfindex ?? 0}`;

/** Every hook, in the roles the datapath tests load it in (fixtures.ts). */
export const HOOKS: Hook[] = [
  { prog: 'tc_ingress', config: FROM_PODS, ingressIfindex: 5 },
  { prog: 'tc_ingress', config: FROM_WIRE, ingressIfindex: 2 },
  { prog: 'tc_egress', config: FROM_HOST },
  { prog: 'tc_to_pod', config: FROM_PODS },
  { prog: 'xdp_nodeport', config: FROM_WIRE },
];

export interface Tally {
  /** Packets each hook (program and role) changed. */
  changedBy: Record<string, number>;
  runs: number;
  refused: number;
  changed: number;
  csumComplete: number;
  /** Translations the hook forwarded itself (a redirect, not into the host through lo). */
  sentOn: number;
  /** Translations the hook sent into the host through lo (its MACs zeroed). */
  throughLo: number;
}

/**
 * Runs input through h, first under CHECKSUM_COMPLETE where this kernel can (so a new
 * flow's first packet takes the creating path under it), then plain: what went wrong, or
 * null. Both outputs are held to the rules; the plain run's is the one counted.
 */
function runOne(dp: Datapath, h: Hook, input: Buffer, t: Tally, where: string): string | null {
  const prog = dp.program(h.prog, h.config);
  const ctx = h.ingressIfindex || h.ifindex ? skbCtx(h.ingressIfindex ?? 0, h.ifindex) : undefined;
  // tc's hooks on the node's devices and pods' veths forward; the egress ones see the host's packets.
  const forwards = h.prog !== 'xdp_nodeport' && !((h.config.flags ?? 0) & CFG_F.FROM_HOST);
  const run = (flags: number): { out: Buffer; sentOn: boolean } | { errno: number; msg: string } => {
    try {
      const r = prog.testRun({ data: input, ...(ctx ? { ctx } : {}), flags });
      return { out: splitXdpMeta(h.prog, input, r.data).frame, sentOn: forwards && r.retval === TC.redirect };
    } catch (e) {
      return { errno: isBpfError(e) ? e.errno : 0, msg: (e as Error).message };
    }
  };
  const fail = (why: string, out?: Buffer) =>
    `${where}: ${why}\n  in:  ${show(tryParse(input))}${out ? `\n  out: ${show(tryParse(out))}` : ''}\n  hex in:  ${input.toString('hex')}${out ? `\n  hex out: ${out.toString('hex')}` : ''}`;
  const complete = h.prog !== 'xdp_nodeport' && checksumCompleteRuns ? run(TEST_SKB_CHECKSUM_COMPLETE) : null;
  const plain = run(0);
  if ('errno' in plain) {
    // The test run will not build an skb or xdp buffer shorter than the headers it announces.
    if (plain.errno === EINVAL && (!complete || ('errno' in complete && complete.errno === EINVAL))) { t.refused++; return null; }
    return fail(plain.msg);
  }
  t.runs++;
  if (!plain.out.equals(input)) {
    t.changed++;
    t.changedBy[hookName(h)] = (t.changedBy[hookName(h)] ?? 0) + 1;
  }
  const [pi, po] = [tryParse(input), tryParse(plain.out)];
  if (plain.sentOn && !(pi instanceof Error) && !(po instanceof Error) && po.dst !== pi.src) {
    if (po.eth.dst === LOOPBACK_MAC) t.throughLo++;
    else if (po.ttl === pi.ttl - 1) t.sentOn++;
  }
  const xdp = h.prog === 'xdp_nodeport';
  const why = broken(input, plain.out, plain.sentOn, xdp);
  if (why) return fail(why, plain.out);
  if (!complete) return null;
  t.csumComplete++;
  if ('errno' in complete) {
    // The test run compares skb->csum after a cut too (see cutForReply).
    if (complete.errno === EBADMSG && cutForReply(input, plain.out)) return null;
    return fail(`under CHECKSUM_COMPLETE: ${complete.msg}`);
  }
  const whyComplete = broken(input, complete.out, complete.sentOn, xdp);
  return whyComplete ? fail(`under CHECKSUM_COMPLETE: ${whyComplete}`, complete.out) : null;
}

export interface Walk {
  /** Outcomes that break a rule, the first 12. */
  failures: string[];
  /** Seeds no hook changed (translated or answered), unmutated. */
  untouched: string[];
  /** How many mutated packets some hook changed. */
  mutatedChanged: number;
  tally: Tally;
}

/**
 * A namespace with nothing but lo: tc's FIB lookups there find no route, whatever the
 * machine's own namespace holds (forwarding on and a default route, on a CI runner that
 * hosts containers), so every translation is left to the stack. The caller destroys it.
 */
export function bareNetns(): TestNetns {
  return TestNetns.create('walk');
}

/**
 * A namespace routed as a node's: forwarding on, the node's addresses on a device, and the
 * seeds' backends and clients behind a gateway whose neighbour entry is there, so that
 * tc's FIB lookup after a rewrite answers and the packet is sent on (redirected). The pod
 * the seeds' hairpin reaches is an address of the namespace's own, so what goes to it goes
 * in through lo instead. `hooks` gives tc's hooks the namespace's device to be on. The
 * caller destroys `ns`.
 */
export function routedNetns(): { ns: TestNetns; hooks: (hooks: readonly Hook[]) => Hook[] } {
  const ns = TestNetns.create('walk');
  try {
    ns.ip('link', 'add', 'ekpw0', 'type', 'veth', 'peer', 'name', 'ekpw1');
    for (const dev of ['ekpw0', 'ekpw1']) ns.ip('link', 'set', dev, 'up');
    ns.ip('addr', 'add', `${V4.node}/24`, 'dev', 'ekpw0');
    ns.ip('-6', 'addr', 'add', `${V6.node}/64`, 'dev', 'ekpw0', 'nodad');
    ns.ip('addr', 'add', `${V4.pod}/32`, 'dev', 'ekpw1');
    ns.ip('-6', 'addr', 'add', `${V6.pod}/128`, 'dev', 'ekpw1', 'nodad');
    ns.ip('neigh', 'add', WALK_GW, 'lladdr', '02:00:00:00:00:01', 'dev', 'ekpw0', 'nud', 'permanent');
    ns.ip('-6', 'neigh', 'add', WALK_GW6, 'lladdr', '02:00:00:00:00:01', 'dev', 'ekpw0', 'nud', 'permanent');
    for (const net of ['10.244.0.0/16', '192.0.2.0/24', '203.0.113.0/24']) ns.ip('route', 'add', net, 'via', WALK_GW, 'dev', 'ekpw0');
    for (const net of ['fd00:10:244::/48', '2001:db8::/32']) ns.ip('-6', 'route', 'add', net, 'via', WALK_GW6, 'dev', 'ekpw0');
    ns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    ns.exec(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    const ifindex = (JSON.parse(ns.ip('-j', 'link', 'show', 'dev', 'ekpw0')) as { ifindex: number }[])[0]!.ifindex;
    return { ns, hooks: (hooks) => hooks.map((h) => (h.prog === 'xdp_nodeport' ? h : { ...h, ifindex })) };
  } catch (e) {
    ns.destroy();
    throw e;
  }
}
const WALK_GW = '172.18.0.1';
const WALK_GW6 = 'fd00:172:18::1';

/**
 * Runs n's seeds unmutated through every hook, in order (their flows exist before the
 * mutations arrive), then perSeed mutations of each through a hook picked at random,
 * inside `netns` (a path; see bareNetns and routedNetns), whose routes tc's FIB lookups see.
 */
export function mutationWalk(dp: Datapath, n: Net, hooks: readonly Hook[], perSeed: number, seed: number, netns: string): Walk {
  return withNetns(netns, () => walk(dp, n, hooks, perSeed, seed));
}

function walk(dp: Datapath, n: Net, hooks: readonly Hook[], perSeed: number, seed: number): Walk {
  setup(dp, n);
  const next = rng(seed + n.family);
  const tally: Tally = { changedBy: {}, runs: 0, refused: 0, changed: 0, csumComplete: 0, sentOn: 0, throughLo: 0 };
  const failures: string[] = [];
  const note = (f: string | null) => { if (f && failures.length < 12) failures.push(f); };
  const all = seeds(n);
  const untouched: string[] = [];
  for (const s of all) {
    const before = tally.changed;
    for (const h of hooks) note(runOne(dp, h, s.frame ?? buildPacket(s.spec), tally, `${n.tag} ${h.prog} (${s.what}, unmutated)`));
    if (tally.changed === before) untouched.push(s.what);
  }
  const seedChanged = tally.changed;
  for (const [si, s] of all.entries()) {
    const frame = s.frame ?? buildPacket(s.spec);
    for (let m = 0; m < perSeed; m++) {
      const input = mutate(frame, next, n.family);
      const h = hooks[next() % hooks.length]!;
      note(runOne(dp, h, input, tally, `${n.tag} ${h.prog}, seed ${seed} packet ${si} (${s.what}) mutation ${m}`));
    }
  }
  return { failures, untouched, mutatedChanged: tally.changed - seedChanged, tally };
}
