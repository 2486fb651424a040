// Packet builder/parser for BPF_PROG_TEST_RUN tests of the tc/XDP NAT programs.
//
// The builder produces exact wire bytes with checksums the kernel would accept, so a
// test can feed a frame to a program and compare the output byte for byte against a
// second built frame. The parser is the inverse and additionally verifies every
// checksum, because a NAT program that rewrites an address but forgets (or botches)
// the incremental checksum update is the most common datapath bug.

import { isIP } from 'node:net';
import { crc32c, inetChecksum, pseudoHeaderV4, pseudoHeaderV6 } from './checksum.js';

export type Proto = 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6';
export type Family = 4 | 6;

export const IPPROTO: Readonly<Record<Proto, number>> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
// Locally administered, so they can never collide with a real NIC in a test netns.
export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';
export const DEFAULT_SPORT = 40000;
export const DEFAULT_DPORT = 80;
export const DEFAULT_TTL = 64;
export const DEFAULT_TCP_WINDOW = 64240;

export interface TcpFlags {
  syn?: boolean;
  ack?: boolean;
  fin?: boolean;
  rst?: boolean;
  psh?: boolean;
  urg?: boolean;
  ece?: boolean;
  cwr?: boolean;
}

export interface IcmpSpec {
  type: number;
  code: number;
  /** Echo identifier; written to bytes 4-5 of any ICMP message when given. */
  id?: number;
  /** Echo sequence; written to bytes 6-7 of any ICMP message when given. */
  seq?: number;
  /** Next-hop MTU: ICMPv4 3/4 (16-bit, bytes 6-7) or ICMPv6 Packet Too Big (32-bit, bytes 4-7). */
  mtu?: number;
  /** Embedded original packet for ICMP errors: raw IP bytes (truncate as needed) or a spec. */
  inner?: Buffer | PacketSpec;
}

export interface Ipv6ExtHeader {
  /** 0 (hop-by-hop), 43 (routing) or 60 (destination options); use `fragment` for 44. */
  type: number;
  /** Header body after next-header/length; zero-padded (= Pad1 options) to a multiple of 8. */
  data?: Buffer;
}

export interface PacketSpec {
  eth?: { src?: string; dst?: string };
  /** IPv4 or IPv6 literal; both must be the same family. */
  src: string;
  dst: string;
  proto: Proto;
  /** tcp/udp/sctp; default DEFAULT_SPORT / DEFAULT_DPORT. */
  sport?: number;
  dport?: number;
  /** Exactly these flags are set; when omitted a bare SYN is sent (the first packet of a flow). */
  tcpFlags?: TcpFlags;
  seq?: number;
  ackSeq?: number;
  window?: number;
  /** Raw TCP options, zero-padded (EOL) to 4 bytes; raises the data offset above 5. */
  tcpOptions?: Buffer;
  /** SCTP verification tag; default 0 (the value an INIT carries). */
  vtag?: number;
  /** Default for icmp/icmpv6: echo request id=1 seq=1. */
  icmp?: IcmpSpec;
  ttl?: number;
  /** IPv4 identification; also the IPv6 fragment id when `fragment.id` is absent. */
  ipId?: number;
  /** IPv4 TOS / IPv6 traffic class. */
  tos?: number;
  flowLabel?: number;
  /** IPv4 Don't Fragment bit. */
  df?: boolean;
  /** IPv4 options, zero-padded (EOL) to 4 bytes; IHL > 5. */
  ipOptions?: Buffer;
  /** IPv6 extension headers placed before any fragment header. */
  ipv6ExtHeaders?: Ipv6ExtHeader[];
  /**
   * Offset is in bytes (multiple of 8), as in the parsed result. With offset > 0 the
   * payload is raw datagram bytes and no L4 header is built. With offset 0 the L4
   * checksum covers only this fragment; use fragmentPacket() for realistic fragments.
   */
  fragment?: { offset: number; more: boolean; id?: number };
  payload?: Buffer | string;
  /** Deliberately wrong L4 checksum (never one that is merely an alternate encoding). */
  badChecksum?: boolean;
  /** Deliberately wrong IPv4 header checksum. */
  badIpChecksum?: boolean;
  /** UDP checksum 0 ("none"), which NAT must leave as 0: valid on IPv4; on IPv6 only for tunnels (RFC 6935). */
  udpNoChecksum?: boolean;
  /** SCTP CRC left 0 for the device to compute (CHECKSUM_PARTIAL), as Linux sends it to a device with CRC offload: a veth. */
  sctpCrcOffload?: boolean;
}

export interface ParsedTcpFlags {
  syn: boolean;
  ack: boolean;
  fin: boolean;
  rst: boolean;
  psh: boolean;
  urg: boolean;
  ece: boolean;
  cwr: boolean;
}

export interface ParsedIcmp {
  type: number;
  code: number;
  /** Only for echo request/reply. */
  id?: number;
  seq?: number;
  /** Only for ICMPv4 3/4 and ICMPv6 Packet Too Big. */
  mtu?: number;
  /** Only for error types; parsed leniently since routers may truncate the original. */
  inner?: ParsedIpPacket;
  /** Why `inner` is missing for an error type (e.g. fewer bytes than an IP header). */
  innerError?: string;
}

export interface ParsedFragment {
  /** In bytes. */
  offset: number;
  more: boolean;
  id: number;
}

export interface ParsedPacket {
  eth: { src: string; dst: string; type: number };
  family: Family;
  /** Canonical text form (IPv6 compressed per RFC 5952). */
  src: string;
  dst: string;
  proto: number;
  protoName: Proto | 'other';
  /** TTL or IPv6 hop limit. */
  ttl: number;
  tos: number;
  ipId?: number;
  df?: boolean;
  flowLabel?: number;
  ipOptions?: Buffer;
  /** Types of IPv6 extension headers in order, including 44 for a fragment header. */
  ipv6ExtHeaders?: number[];
  ipChecksum?: number;
  /** null for IPv6, which has no header checksum. */
  ipChecksumOk: boolean | null;
  l4Checksum?: number;
  /** null when unverifiable: fragments, truncated inner packets, protocols without one. */
  l4ChecksumOk: boolean | null;
  sport?: number;
  dport?: number;
  tcpFlags?: ParsedTcpFlags;
  seq?: number;
  ackSeq?: number;
  window?: number;
  tcpOptions?: Buffer;
  vtag?: number;
  icmp?: ParsedIcmp;
  fragment?: ParsedFragment;
  /** Bytes after the L4 header (for ICMP errors: the embedded packet). */
  payload: Buffer;
  /** IP datagram length from the header (IPv4 total length / 40 + IPv6 payload length). */
  length: number;
  /** Only ever true for leniently parsed ICMP inner packets. */
  truncated: boolean;
}

export type ParsedIpPacket = Omit<ParsedPacket, 'eth'>;

// ---------------------------------------------------------------------------
// Addresses

/** Family of an IP literal; throws on anything else, including zone ids (fe80::1%eth0). */
export function ipFamily(addr: string): Family {
  const family = isIP(addr);
  if (family === 0 || addr.includes('%')) throw new Error(`not an IP address literal: ${JSON.stringify(addr)}`);
  return family as Family;
}

export function ipToBytes(addr: string): Buffer {
  return ipFamily(addr) === 4 ? ipv4ToBytes(addr) : ipv6ToBytes(addr);
}

function ipv4ToBytes(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

function ipv6ToBytes(addr: string): Buffer {
  let text = addr;
  let tail: number[] = [];
  if (text.includes('.')) {
    // Mixed notation (::ffff:1.2.3.4): the dotted quad supplies the last two groups.
    const cut = text.lastIndexOf(':');
    const v4 = ipv4ToBytes(text.slice(cut + 1));
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    text = text.slice(0, cut + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const gap = text.indexOf('::');
  let words: number[];
  if (gap >= 0) {
    const left = groups(text.slice(0, gap));
    const right = groups(text.slice(gap + 2));
    const zeros = 8 - left.length - right.length - tail.length;
    words = [...left, ...new Array<number>(zeros).fill(0), ...right, ...tail];
  } else {
    words = [...groups(text), ...tail];
  }
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** 4 or 16 bytes -> canonical text (RFC 5952 for IPv6, mixed notation for v4-mapped). */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new Error(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  }
  // Compress the longest run of >= 2 zero groups, the first one on a tie (RFC 5952 §4.2).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Canonical form of an IP literal, for comparing with parsed addresses. */
export function canonicalIp(addr: string): string {
  return bytesToIp(ipToBytes(addr));
}

export function macToBytes(mac: string): Buffer {
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  return Buffer.from(mac.split(/[:-]/).map((h) => parseInt(h, 16)));
}

export function bytesToMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

// ---------------------------------------------------------------------------
// Building

interface Endpoints {
  family: Family;
  src: Buffer;
  dst: Buffer;
}

const EMPTY = Buffer.alloc(0);
const TCP_FLAG_BITS: ReadonlyArray<readonly [keyof ParsedTcpFlags, number]> = [
  ['fin', 0x01],
  ['syn', 0x02],
  ['rst', 0x04],
  ['psh', 0x08],
  ['ack', 0x10],
  ['urg', 0x20],
  ['ece', 0x40],
  ['cwr', 0x80],
];
const IPV6_EXT_BUILDABLE = new Set([0, 43, 60]);

/** Range-checks a header field so a typo fails with the field's name, not a Buffer RangeError. */
function uint(name: string, value: number, bits: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** bits - 1) {
    throw new RangeError(`${name} must be an integer in [0, ${2 ** bits - 1}], got ${value}`);
  }
  return value;
}

function padTo(buf: Buffer, multiple: number): Buffer {
  const rem = buf.length % multiple;
  return rem === 0 ? buf : Buffer.concat([buf, Buffer.alloc(multiple - rem)]);
}

function payloadBytes(payload: Buffer | string | undefined): Buffer {
  if (payload === undefined) return EMPTY;
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

// XOR with 0x5555 can never yield 0x0000 <-> 0xffff, the two encodings of the same
// ones' complement value, so the result is always genuinely wrong.
function corrupt16(sum: number, bad: boolean | undefined): number {
  return bad ? sum ^ 0x5555 : sum;
}

function endpoints(spec: PacketSpec): Endpoints {
  const fs = ipFamily(spec.src);
  const fd = ipFamily(spec.dst);
  if (fs !== fd) throw new Error(`address family mismatch: src ${spec.src} is IPv${fs}, dst ${spec.dst} is IPv${fd}`);
  if (spec.proto === 'icmp' && fs !== 4) throw new Error(`proto 'icmp' needs IPv4 addresses; use 'icmpv6'`);
  if (spec.proto === 'icmpv6' && fs !== 6) throw new Error(`proto 'icmpv6' needs IPv6 addresses; use 'icmp'`);
  if (!(spec.proto in IPPROTO)) throw new Error(`unknown proto ${JSON.stringify(spec.proto)}`);
  return { family: fs, src: ipToBytes(spec.src), dst: ipToBytes(spec.dst) };
}

function pseudoSum(ep: Endpoints, proto: number, l4: Buffer): number {
  const ph = ep.family === 4 ? pseudoHeaderV4(ep.src, ep.dst, proto, l4.length) : pseudoHeaderV6(ep.src, ep.dst, proto, l4.length);
  return inetChecksum(ph, l4);
}

function tcpFlagsByte(flags: TcpFlags): number {
  return TCP_FLAG_BITS.reduce((acc, [name, bit]) => (flags[name] ? acc | bit : acc), 0);
}

function buildTcp(spec: PacketSpec, ep: Endpoints): Buffer {
  const options = padTo(spec.tcpOptions ?? EMPTY, 4);
  if (options.length > 40) throw new RangeError(`tcpOptions: at most 40 bytes, got ${options.length}`);
  const payload = payloadBytes(spec.payload);
  const hdrLen = 20 + options.length;
  const seg = Buffer.alloc(hdrLen + payload.length);
  seg.writeUInt16BE(uint('sport', spec.sport ?? DEFAULT_SPORT, 16), 0);
  seg.writeUInt16BE(uint('dport', spec.dport ?? DEFAULT_DPORT, 16), 2);
  seg.writeUInt32BE(uint('seq', spec.seq ?? 1000, 32), 4);
  seg.writeUInt32BE(uint('ackSeq', spec.ackSeq ?? 0, 32), 8);
  seg[12] = (hdrLen / 4) << 4;
  seg[13] = tcpFlagsByte(spec.tcpFlags ?? { syn: true });
  seg.writeUInt16BE(uint('window', spec.window ?? DEFAULT_TCP_WINDOW, 16), 14);
  options.copy(seg, 20);
  payload.copy(seg, hdrLen);
  seg.writeUInt16BE(corrupt16(pseudoSum(ep, IPPROTO.tcp, seg), spec.badChecksum), 16);
  return seg;
}

function buildUdp(spec: PacketSpec, ep: Endpoints): Buffer {
  const payload = payloadBytes(spec.payload);
  const dgram = Buffer.alloc(8 + payload.length);
  dgram.writeUInt16BE(uint('sport', spec.sport ?? DEFAULT_SPORT, 16), 0);
  dgram.writeUInt16BE(uint('dport', spec.dport ?? DEFAULT_DPORT, 16), 2);
  dgram.writeUInt16BE(uint('UDP length', dgram.length, 16), 4);
  payload.copy(dgram, 8);
  if (spec.udpNoChecksum) return dgram;
  // A computed 0 must go out as 0xffff, since 0 on the wire means "no checksum".
  const sum = pseudoSum(ep, IPPROTO.udp, dgram) || 0xffff;
  dgram.writeUInt16BE(corrupt16(sum, spec.badChecksum), 6);
  return dgram;
}

function buildSctp(spec: PacketSpec): Buffer {
  const chunks = payloadBytes(spec.payload);
  const pkt = Buffer.alloc(12 + chunks.length);
  pkt.writeUInt16BE(uint('sport', spec.sport ?? DEFAULT_SPORT, 16), 0);
  pkt.writeUInt16BE(uint('dport', spec.dport ?? DEFAULT_DPORT, 16), 2);
  pkt.writeUInt32BE(uint('vtag', spec.vtag ?? 0, 32), 4);
  chunks.copy(pkt, 12);
  const crc = crc32c(pkt);
  pkt.writeUInt32LE(spec.sctpCrcOffload ? 0 : spec.badChecksum ? (crc ^ 0x5555) >>> 0 : crc, 8);
  return pkt;
}

/** One SCTP chunk (type, flags, value), padded to 4 bytes, for use as an SCTP payload. */
export function sctpChunk(type: number, flags: number, value: Buffer = EMPTY): Buffer {
  const chunk = Buffer.alloc(4 + value.length);
  chunk[0] = uint('chunk type', type, 8);
  chunk[1] = uint('chunk flags', flags, 8);
  chunk.writeUInt16BE(uint('chunk length', chunk.length, 16), 2);
  value.copy(chunk, 4);
  return padTo(chunk, 4);
}

function buildIcmp(spec: PacketSpec, ep: Endpoints): Buffer {
  const v6 = spec.proto === 'icmpv6';
  const icmp: IcmpSpec = spec.icmp ?? { type: v6 ? 128 : 8, code: 0, id: 1, seq: 1 };
  const inner = icmp.inner === undefined ? EMPTY : Buffer.isBuffer(icmp.inner) ? icmp.inner : buildIpPacket(icmp.inner);
  const body = Buffer.concat([inner, payloadBytes(spec.payload)]);
  const msg = Buffer.alloc(8 + body.length);
  msg[0] = uint('icmp.type', icmp.type, 8);
  msg[1] = uint('icmp.code', icmp.code, 8);
  if (icmp.id !== undefined) msg.writeUInt16BE(uint('icmp.id', icmp.id, 16), 4);
  if (icmp.seq !== undefined) msg.writeUInt16BE(uint('icmp.seq', icmp.seq, 16), 6);
  if (icmp.mtu !== undefined) {
    if (v6) msg.writeUInt32BE(uint('icmp.mtu', icmp.mtu, 32), 4);
    else msg.writeUInt16BE(uint('icmp.mtu', icmp.mtu, 16), 6);
  }
  body.copy(msg, 8);
  // ICMPv4 has no pseudo-header; ICMPv6 does (RFC 4443 §2.3).
  const sum = v6 ? pseudoSum(ep, IPPROTO.icmpv6, msg) : inetChecksum(msg);
  msg.writeUInt16BE(corrupt16(sum, spec.badChecksum), 2);
  return msg;
}

function buildL4(spec: PacketSpec, ep: Endpoints): Buffer {
  switch (spec.proto) {
    case 'tcp':
      return buildTcp(spec, ep);
    case 'udp':
      return buildUdp(spec, ep);
    case 'sctp':
      return buildSctp(spec);
    case 'icmp':
    case 'icmpv6':
      return buildIcmp(spec, ep);
  }
}

interface FragmentField {
  offset: number;
  more: boolean;
  id: number;
}

function fragmentField(spec: PacketSpec): FragmentField | undefined {
  const f = spec.fragment;
  if (f === undefined) return undefined;
  if (!Number.isInteger(f.offset) || f.offset < 0 || f.offset % 8 !== 0 || f.offset > 0xfff8) {
    throw new RangeError(`fragment.offset is in bytes and must be a multiple of 8 in [0, 65528], got ${f.offset}`);
  }
  return { offset: f.offset, more: f.more, id: f.id ?? spec.ipId ?? 0 };
}

function buildIpv4(spec: PacketSpec, ep: Endpoints, proto: number, body: Buffer, frag: FragmentField | undefined): Buffer {
  const options = padTo(spec.ipOptions ?? EMPTY, 4);
  if (options.length > 40) throw new RangeError(`ipOptions: at most 40 bytes, got ${options.length}`);
  const ihl = 20 + options.length;
  const pkt = Buffer.alloc(ihl + body.length);
  pkt[0] = 0x40 | (ihl / 4);
  pkt[1] = uint('tos', spec.tos ?? 0, 8);
  pkt.writeUInt16BE(uint('IPv4 total length', pkt.length, 16), 2);
  pkt.writeUInt16BE(uint('ipId', frag?.id ?? spec.ipId ?? 0, 16), 4);
  const flags = (spec.df ? 0x4000 : 0) | (frag?.more ? 0x2000 : 0);
  pkt.writeUInt16BE(flags | ((frag?.offset ?? 0) / 8), 6);
  pkt[8] = uint('ttl', spec.ttl ?? DEFAULT_TTL, 8);
  pkt[9] = proto;
  ep.src.copy(pkt, 12);
  ep.dst.copy(pkt, 16);
  options.copy(pkt, 20);
  pkt.writeUInt16BE(corrupt16(inetChecksum(pkt.subarray(0, ihl)), spec.badIpChecksum), 10);
  body.copy(pkt, ihl);
  return pkt;
}

function buildIpv6(spec: PacketSpec, ep: Endpoints, proto: number, body: Buffer, frag: FragmentField | undefined): Buffer {
  if (spec.badIpChecksum) throw new Error('badIpChecksum: IPv6 has no header checksum');
  const exts = spec.ipv6ExtHeaders ?? [];
  for (const e of exts) {
    if (!IPV6_EXT_BUILDABLE.has(e.type)) throw new Error(`ipv6ExtHeaders: type ${e.type} unsupported (0, 43, 60; use fragment for 44)`);
  }
  // Each header's next-header field names the one after it, ending at the L4 protocol.
  const chain = [...exts.map((e) => e.type), ...(frag ? [44] : []), proto];
  const parts: Buffer[] = exts.map((e, i) => {
    const h = padTo(Buffer.concat([Buffer.alloc(2), e.data ?? EMPTY]), 8);
    if (h.length > 2048) throw new RangeError(`ipv6ExtHeaders[${i}]: at most 2048 bytes`);
    h[0] = chain[i + 1]!;
    h[1] = h.length / 8 - 1;
    return h;
  });
  if (frag) {
    const h = Buffer.alloc(8);
    h[0] = proto;
    // The 13-bit offset in 8-byte units sits above 3 flag bits, so the byte offset is the field.
    h.writeUInt16BE(frag.offset | (frag.more ? 1 : 0), 2);
    h.writeUInt32BE(uint('fragment.id', frag.id, 32), 4);
    parts.push(h);
  }
  parts.push(body);
  const payload = Buffer.concat(parts);
  const hdr = Buffer.alloc(40);
  const tc = uint('tos', spec.tos ?? 0, 8);
  const flow = uint('flowLabel', spec.flowLabel ?? 0, 20);
  hdr.writeUInt32BE(((6 << 28) | (tc << 20) | flow) >>> 0, 0);
  hdr.writeUInt16BE(uint('IPv6 payload length', payload.length, 16), 4);
  hdr[6] = chain[0]!;
  hdr[7] = uint('ttl', spec.ttl ?? DEFAULT_TTL, 8);
  ep.src.copy(hdr, 8);
  ep.dst.copy(hdr, 24);
  return Buffer.concat([hdr, payload]);
}

function buildIp(spec: PacketSpec, ep: Endpoints, body: Buffer, frag: FragmentField | undefined): Buffer {
  const proto = IPPROTO[spec.proto];
  return ep.family === 4 ? buildIpv4(spec, ep, proto, body, frag) : buildIpv6(spec, ep, proto, body, frag);
}

function withEthernet(spec: PacketSpec, family: Family, ip: Buffer): Buffer {
  const eth = Buffer.alloc(14);
  macToBytes(spec.eth?.dst ?? DEFAULT_DST_MAC).copy(eth, 0);
  macToBytes(spec.eth?.src ?? DEFAULT_SRC_MAC).copy(eth, 6);
  eth.writeUInt16BE(family === 4 ? ETH_P_IP : ETH_P_IPV6, 12);
  return Buffer.concat([eth, ip]);
}

/** IP packet (no Ethernet header), e.g. the embedded original of an ICMP error. */
export function buildIpPacket(spec: PacketSpec): Buffer {
  const ep = endpoints(spec);
  const frag = fragmentField(spec);
  // A non-first fragment carries a slice of the datagram, never an L4 header.
  const body = frag && frag.offset > 0 ? payloadBytes(spec.payload) : buildL4(spec, ep);
  return buildIp(spec, ep, body, frag);
}

/** Ethernet frame with correct IPv4 header and L4 checksums. */
export function buildPacket(spec: PacketSpec): Buffer {
  const ep = endpoints(spec);
  return withEthernet(spec, ep.family, buildIpPacket(spec));
}

/**
 * Splits the datagram described by `spec` into Ethernet frames carrying at most
 * `fragmentSize` bytes of L4 data each, so the L4 checksum in the first fragment
 * covers the whole datagram as a real sender's would. IPv4 options are copied into
 * every fragment (unlike RFC 791's copy-bit rule), which only matters for option tests.
 */
export function fragmentPacket(spec: PacketSpec, fragmentSize: number): Buffer[] {
  if (spec.fragment) throw new Error('fragmentPacket: spec.fragment must be unset; offsets are computed');
  if (!Number.isInteger(fragmentSize) || fragmentSize <= 0 || fragmentSize % 8 !== 0) {
    throw new RangeError(`fragmentSize must be a positive multiple of 8, got ${fragmentSize}`);
  }
  const ep = endpoints(spec);
  const datagram = buildL4(spec, ep);
  const frames: Buffer[] = [];
  for (let offset = 0; offset < datagram.length; offset += fragmentSize) {
    const piece = datagram.subarray(offset, offset + fragmentSize);
    const frag: FragmentField = { offset, more: offset + fragmentSize < datagram.length, id: spec.ipId ?? 0 };
    frames.push(withEthernet(spec, ep.family, buildIp(spec, ep, piece, frag)));
  }
  return frames;
}

/**
 * The datagram the fragment frames carry, reassembled as a receiver's stack does (RFC 791,
 * RFC 8200 4.5): one Ethernet frame, the first fragment's IP header unfragmented (IPv6: the
 * fragment header, which must come first, taken out), so that parsePacket checks the L4
 * checksum over the whole datagram. Throws when the fragments are not one datagram's
 * (addresses, protocol or identification differ), or leave a hole or an overlap.
 */
export function reassemble(frames: readonly Buffer[]): Buffer {
  const L3 = 14;
  const parts = frames.map((f) => {
    const v6 = f.readUInt16BE(12) === ETH_P_IPV6;
    if (!v6 && f.readUInt16BE(12) !== ETH_P_IP) throw new Error('reassemble: not an IP frame');
    if (v6) {
      if (f[L3 + 6] !== 44) throw new Error('reassemble: an IPv6 frame without a fragment header first');
      const fh = L3 + 40;
      const frag = f.readUInt16BE(fh + 2);
      return {
        f, v6, hlen: 40, offset: frag & 0xfff8, more: (frag & 1) !== 0, next: f[fh]!,
        key: f.subarray(L3 + 8, L3 + 40).toString('hex') + f[fh] + ':' + f.readUInt32BE(fh + 4),
        data: f.subarray(fh + 8, L3 + 40 + f.readUInt16BE(L3 + 4)),
      };
    }
    const ihl = (f[L3]! & 0x0f) * 4;
    const frag = f.readUInt16BE(L3 + 6);
    return {
      f, v6, hlen: ihl, offset: (frag & 0x1fff) * 8, more: (frag & 0x2000) !== 0, next: f[L3 + 9]!,
      key: f.subarray(L3 + 12, L3 + 20).toString('hex') + f[L3 + 9] + ':' + f.readUInt16BE(L3 + 4),
      data: f.subarray(L3 + ihl, L3 + f.readUInt16BE(L3 + 2)),
    };
  }).sort((a, b) => a.offset - b.offset);
  if (parts.length === 0) throw new Error('reassemble: no fragments');
  const first = parts[0]!;
  let at = 0;
  for (const p of parts) {
    if (p.key !== first.key) throw new Error(`reassemble: fragments of different datagrams (${first.key} and ${p.key})`);
    if (p.offset !== at) throw new Error(`reassemble: ${p.offset > at ? 'a hole' : 'an overlap'} at byte ${at}`);
    at += p.data.length;
  }
  if (first.offset !== 0 || parts[parts.length - 1]!.more) throw new Error('reassemble: the first or the last fragment is missing');
  const header = Buffer.from(first.f.subarray(L3, L3 + first.hlen));
  if (first.v6) {
    header.writeUInt16BE(at, 4);
    header[6] = first.next;
  } else {
    header.writeUInt16BE(first.hlen + at, 2);
    header.writeUInt16BE(header.readUInt16BE(6) & 0x4000, 6);
    header.writeUInt16BE(0, 10);
    header.writeUInt16BE(inetChecksum(header), 10);
  }
  return Buffer.concat([first.f.subarray(0, L3), header, ...parts.map((p) => p.data)]);
}

/** Copy of the first `len` bytes, for truncation tests. */
export function truncate(frame: Buffer, len: number): Buffer {
  if (!Number.isInteger(len) || len < 0 || len > frame.length) {
    throw new RangeError(`truncate: len must be an integer in [0, ${frame.length}], got ${len}`);
  }
  return Buffer.from(frame.subarray(0, len));
}

// ---------------------------------------------------------------------------
// Parsing
//
// Offsets are always absolute into the original frame, and the buffer handed down is
// cut at the end of the enclosing datagram, so bounds checks catch both a short frame
// and a header that claims more than its IP datagram holds. Each header also records a
// Region so packetDiff can name the field behind a differing byte.

type FieldFormat = 'mac' | 'ip' | 'dec' | 'hex' | 'tcpflags' | 'bytes';

interface FieldDef {
  name: string;
  off: number;
  len: number;
  fmt: FieldFormat;
}

interface Region {
  name: string;
  start: number;
  end: number;
  fields: readonly FieldDef[];
}

interface ParseCtx {
  /** Accept a datagram shorter than its header claims (ICMP inner packets, packetDiff). */
  lenient: boolean;
  /**
   * An ICMP error's quote: its length field is not believed at all, only the bytes there
   * are, as netfilter reads a quote (the addresses, and the ports at the header's end).
   */
  quote?: boolean;
  prefix: string;
  regions: Region[] | undefined;
}

const fd = (name: string, off: number, len: number, fmt: FieldFormat): FieldDef => ({ name, off, len, fmt });
const ETH_FIELDS = [fd('dst', 0, 6, 'mac'), fd('src', 6, 6, 'mac'), fd('type', 12, 2, 'hex')];
const IPV4_FIELDS = [
  fd('version_ihl', 0, 1, 'hex'),
  fd('tos', 1, 1, 'hex'),
  fd('totalLength', 2, 2, 'dec'),
  fd('id', 4, 2, 'dec'),
  fd('flags_fragOffset', 6, 2, 'hex'),
  fd('ttl', 8, 1, 'dec'),
  fd('protocol', 9, 1, 'dec'),
  fd('checksum', 10, 2, 'hex'),
  fd('src', 12, 4, 'ip'),
  fd('dst', 16, 4, 'ip'),
];
const IPV6_FIELDS = [
  fd('version_tc_flow', 0, 4, 'hex'),
  fd('payloadLength', 4, 2, 'dec'),
  fd('nextHeader', 6, 1, 'dec'),
  fd('hopLimit', 7, 1, 'dec'),
  fd('src', 8, 16, 'ip'),
  fd('dst', 24, 16, 'ip'),
];
const IPV6_FRAG_FIELDS = [fd('nextHeader', 0, 1, 'dec'), fd('reserved', 1, 1, 'hex'), fd('offset_flags', 2, 2, 'hex'), fd('id', 4, 4, 'dec')];
const TCP_FIELDS = [
  fd('sport', 0, 2, 'dec'),
  fd('dport', 2, 2, 'dec'),
  fd('seq', 4, 4, 'dec'),
  fd('ackSeq', 8, 4, 'dec'),
  fd('dataOffset', 12, 1, 'hex'),
  fd('flags', 13, 1, 'tcpflags'),
  fd('window', 14, 2, 'dec'),
  fd('checksum', 16, 2, 'hex'),
  fd('urgent', 18, 2, 'dec'),
];
const UDP_FIELDS = [fd('sport', 0, 2, 'dec'), fd('dport', 2, 2, 'dec'), fd('length', 4, 2, 'dec'), fd('checksum', 6, 2, 'hex')];
const SCTP_FIELDS = [fd('sport', 0, 2, 'dec'), fd('dport', 2, 2, 'dec'), fd('vtag', 4, 4, 'hex'), fd('checksum', 8, 4, 'hex')];
const ICMP_HEAD = [fd('type', 0, 1, 'dec'), fd('code', 1, 1, 'dec'), fd('checksum', 2, 2, 'hex')];
const ICMP_ECHO_FIELDS = [...ICMP_HEAD, fd('id', 4, 2, 'dec'), fd('seq', 6, 2, 'dec')];
const ICMP_OTHER_FIELDS = [...ICMP_HEAD, fd('rest', 4, 4, 'hex')];

const IPV6_EXT_PARSEABLE = new Set([0, 43, 44, 51, 60]);
const ICMP_ECHO = { 1: new Set([0, 8]), 58: new Set([128, 129]) } as const;
const ICMP_ERROR = { 1: new Set([3, 4, 5, 11, 12]), 58: new Set([1, 2, 3, 4]) } as const;

function addRegion(ctx: ParseCtx, name: string, start: number, end: number, fields: readonly FieldDef[]): void {
  ctx.regions?.push({ name: ctx.prefix + name, start, end, fields });
}

function need(buf: Buffer, off: number, n: number, what: string): void {
  if (off + n > buf.length) {
    throw new Error(`parsePacket: truncated ${what}: need ${n} bytes at offset ${off}, have ${Math.max(0, buf.length - off)}`);
  }
}

function protoName(proto: number): Proto | 'other' {
  const hit = (Object.keys(IPPROTO) as Proto[]).find((name) => IPPROTO[name] === proto);
  return hit ?? 'other';
}

/** Where the datagram ends; strict parsing refuses one that claims more bytes than exist. */
function datagramEnd(buf: Buffer, off: number, length: number, what: string, ctx: ParseCtx): { end: number; truncated: boolean } {
  if (ctx.quote) return { end: buf.length, truncated: off + length !== buf.length };
  if (off + length <= buf.length) return { end: off + length, truncated: false };
  if (!ctx.lenient) need(buf, off, length, `${what} datagram (length field)`);
  return { end: buf.length, truncated: true };
}

interface L4Info {
  family: Family;
  proto: number;
  src: Buffer;
  dst: Buffer;
  /** Checksums of a fragment can't be verified before reassembly. */
  fragmented: boolean;
  nonFirstFragment: boolean;
  truncated: boolean;
}

type L4Result = Pick<
  ParsedPacket,
  'sport' | 'dport' | 'tcpFlags' | 'seq' | 'ackSeq' | 'window' | 'tcpOptions' | 'vtag' | 'icmp' | 'l4Checksum' | 'l4ChecksumOk' | 'payload' | 'truncated'
>;

function l4PseudoSum(info: L4Info, l4: Buffer): number {
  const ph = info.family === 4 ? pseudoHeaderV4(info.src, info.dst, info.proto, l4.length) : pseudoHeaderV6(info.src, info.dst, info.proto, l4.length);
  return inetChecksum(ph, l4);
}

function decodeTcpFlags(byte: number): ParsedTcpFlags {
  const flags = {} as ParsedTcpFlags;
  for (const [name, bit] of TCP_FLAG_BITS) flags[name] = (byte & bit) !== 0;
  return flags;
}

/** Bytes after an L4 header; a copy so tests can mutate the frame afterwards. */
function payloadRegion(lim: Buffer, start: number, ctx: ParseCtx): Buffer {
  const from = Math.min(start, lim.length);
  addRegion(ctx, 'payload', from, lim.length, []);
  return Buffer.from(lim.subarray(from));
}

// The lenient path reads whatever prefix of the header exists, because an ICMP error
// quoting just 8 bytes of TCP still identifies the flow by its ports.
const rd8 = (b: Buffer, at: number): number | undefined => (at < b.length ? b[at] : undefined);
const rd16 = (b: Buffer, at: number): number | undefined => (at + 2 <= b.length ? b.readUInt16BE(at) : undefined);
const rd32 = (b: Buffer, at: number): number | undefined => (at + 4 <= b.length ? b.readUInt32BE(at) : undefined);

function setDefined<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

function parseTcp(lim: Buffer, off: number, info: L4Info, ctx: ParseCtx): L4Result {
  if (!ctx.lenient) need(lim, off, 20, 'TCP header');
  const doffByte = rd8(lim, off + 12);
  const doff = doffByte === undefined ? 20 : (doffByte >> 4) * 4;
  if (doff < 20 && !ctx.quote) throw new Error(`parsePacket: invalid TCP data offset ${doff / 4} at offset ${off}`);
  const hdrLen = Math.max(doff, 20);
  if (!ctx.lenient) need(lim, off, hdrLen, 'TCP header with options');
  const hdrEnd = Math.min(off + hdrLen, lim.length);
  const partial = hdrEnd < off + hdrLen;
  addRegion(ctx, 'tcp', off, hdrEnd, hdrLen > 20 ? [...TCP_FIELDS, fd('options', 20, hdrLen - 20, 'bytes')] : TCP_FIELDS);
  const r: L4Result = { l4ChecksumOk: null, payload: payloadRegion(lim, off + hdrLen, ctx), truncated: info.truncated || partial };
  setDefined(r, 'sport', rd16(lim, off));
  setDefined(r, 'dport', rd16(lim, off + 2));
  setDefined(r, 'seq', rd32(lim, off + 4));
  setDefined(r, 'ackSeq', rd32(lim, off + 8));
  const flags = rd8(lim, off + 13);
  if (flags !== undefined) r.tcpFlags = decodeTcpFlags(flags);
  setDefined(r, 'window', rd16(lim, off + 14));
  setDefined(r, 'l4Checksum', rd16(lim, off + 16));
  if (hdrLen > 20 && !partial) r.tcpOptions = Buffer.from(lim.subarray(off + 20, off + hdrLen));
  if (!r.truncated && !info.fragmented) r.l4ChecksumOk = l4PseudoSum(info, lim.subarray(off)) === 0;
  return r;
}

function parseUdp(lim: Buffer, off: number, info: L4Info, ctx: ParseCtx): L4Result {
  if (!ctx.lenient) need(lim, off, 8, 'UDP header');
  const partial = off + 8 > lim.length;
  addRegion(ctx, 'udp', off, Math.min(off + 8, lim.length), UDP_FIELDS);
  const udpLen = rd16(lim, off + 4);
  const lenValid = udpLen !== undefined && udpLen >= 8 && off + udpLen <= lim.length;
  // The kernel trims to the UDP length, so bytes past it are not payload.
  const dataEnd = lenValid ? off + udpLen : lim.length;
  const r: L4Result = { l4ChecksumOk: null, payload: payloadRegion(lim.subarray(0, dataEnd), off + 8, ctx), truncated: info.truncated || partial };
  setDefined(r, 'sport', rd16(lim, off));
  setDefined(r, 'dport', rd16(lim, off + 2));
  const sum = rd16(lim, off + 6);
  setDefined(r, 'l4Checksum', sum);
  if (!r.truncated && !info.fragmented) {
    if (!lenValid) r.l4ChecksumOk = false;
    // Zero means "not computed": accepted for IPv4, forbidden for IPv6 (RFC 8200 §8.1).
    else if (sum === 0) r.l4ChecksumOk = info.family === 4;
    else r.l4ChecksumOk = l4PseudoSum(info, lim.subarray(off, dataEnd)) === 0;
  }
  return r;
}

function parseSctp(lim: Buffer, off: number, info: L4Info, ctx: ParseCtx): L4Result {
  if (!ctx.lenient) need(lim, off, 12, 'SCTP common header');
  const partial = off + 12 > lim.length;
  addRegion(ctx, 'sctp', off, Math.min(off + 12, lim.length), SCTP_FIELDS);
  const r: L4Result = { l4ChecksumOk: null, payload: payloadRegion(lim, off + 12, ctx), truncated: info.truncated || partial };
  setDefined(r, 'sport', rd16(lim, off));
  setDefined(r, 'dport', rd16(lim, off + 2));
  setDefined(r, 'vtag', rd32(lim, off + 4));
  if (!partial) r.l4Checksum = lim.readUInt32LE(off + 8);
  if (!r.truncated && !info.fragmented) {
    const copy = Buffer.from(lim.subarray(off));
    copy.writeUInt32LE(0, 8);
    r.l4ChecksumOk = crc32c(copy) === r.l4Checksum;
  }
  return r;
}

function parseIcmp(lim: Buffer, off: number, info: L4Info, ctx: ParseCtx): L4Result {
  if (!ctx.lenient) need(lim, off, 8, 'ICMP header');
  const partial = off + 8 > lim.length;
  const kind = info.proto as 1 | 58;
  const name = kind === 1 ? 'icmp' : 'icmpv6';
  const type = rd8(lim, off);
  const code = rd8(lim, off + 1);
  const echo = type !== undefined && ICMP_ECHO[kind].has(type);
  addRegion(ctx, name, off, Math.min(off + 8, lim.length), echo ? ICMP_ECHO_FIELDS : ICMP_OTHER_FIELDS);
  // Recorded before the inner packet so the inner, more specific regions win in packetDiff.
  const r: L4Result = { l4ChecksumOk: null, payload: payloadRegion(lim, off + 8, ctx), truncated: info.truncated || partial };
  setDefined(r, 'l4Checksum', rd16(lim, off + 2));
  if (type !== undefined && code !== undefined) {
    const icmp: ParsedIcmp = { type, code };
    if (echo) {
      setDefined(icmp, 'id', rd16(lim, off + 4));
      setDefined(icmp, 'seq', rd16(lim, off + 6));
    }
    if (kind === 1 && type === 3 && code === 4) setDefined(icmp, 'mtu', rd16(lim, off + 6));
    if (kind === 58 && type === 2) setDefined(icmp, 'mtu', rd32(lim, off + 4));
    if (ICMP_ERROR[kind].has(type) && !partial) {
      const innerCtx: ParseCtx = { lenient: true, quote: true, prefix: `${ctx.prefix}${name}.inner.`, regions: ctx.regions };
      try {
        icmp.inner = parseIp(lim, off + 8, innerCtx);
      } catch (err) {
        icmp.innerError = (err as Error).message;
      }
    }
    r.icmp = icmp;
  }
  if (!r.truncated && !info.fragmented) {
    const msg = lim.subarray(off);
    r.l4ChecksumOk = (kind === 1 ? inetChecksum(msg) : l4PseudoSum(info, msg)) === 0;
  }
  return r;
}

function parseL4(lim: Buffer, off: number, info: L4Info, ctx: ParseCtx): L4Result {
  if (info.nonFirstFragment) {
    return { l4ChecksumOk: null, payload: payloadRegion(lim, off, ctx), truncated: info.truncated };
  }
  switch (info.proto) {
    case IPPROTO.tcp:
      return parseTcp(lim, off, info, ctx);
    case IPPROTO.udp:
      return parseUdp(lim, off, info, ctx);
    case IPPROTO.sctp:
      return parseSctp(lim, off, info, ctx);
    case IPPROTO.icmp:
    case IPPROTO.icmpv6:
      return parseIcmp(lim, off, info, ctx);
    default:
      return { l4ChecksumOk: null, payload: payloadRegion(lim, off, ctx), truncated: info.truncated };
  }
}

function parseIpv4(buf: Buffer, off: number, ctx: ParseCtx): ParsedIpPacket {
  need(buf, off, 20, 'IPv4 header');
  const ihl = (buf[off]! & 0x0f) * 4;
  if (ihl < 20) throw new Error(`parsePacket: invalid IPv4 IHL ${ihl / 4} at offset ${off}`);
  need(buf, off, ihl, 'IPv4 header with options');
  const totalLength = buf.readUInt16BE(off + 2);
  if (totalLength < ihl && !ctx.quote) throw new Error(`parsePacket: IPv4 total length ${totalLength} is shorter than its header (${ihl})`);
  addRegion(ctx, 'ipv4', off, off + ihl, ihl > 20 ? [...IPV4_FIELDS, fd('options', 20, ihl - 20, 'bytes')] : IPV4_FIELDS);
  const { end, truncated } = datagramEnd(buf, off, totalLength, 'IPv4', ctx);
  const ff = buf.readUInt16BE(off + 6);
  const fragOffset = (ff & 0x1fff) * 8;
  const more = (ff & 0x2000) !== 0;
  const id = buf.readUInt16BE(off + 4);
  const proto = buf[off + 9]!;
  const src = buf.subarray(off + 12, off + 16);
  const dst = buf.subarray(off + 16, off + 20);
  const fragmented = more || fragOffset > 0;
  const l4 = parseL4(buf.subarray(0, end), off + ihl, { family: 4, proto, src, dst, fragmented, nonFirstFragment: fragOffset > 0, truncated }, ctx);
  const p: ParsedIpPacket = {
    family: 4,
    src: bytesToIp(src),
    dst: bytesToIp(dst),
    proto,
    protoName: protoName(proto),
    ttl: buf[off + 8]!,
    tos: buf[off + 1]!,
    ipId: id,
    df: (ff & 0x4000) !== 0,
    ipChecksum: buf.readUInt16BE(off + 10),
    ipChecksumOk: inetChecksum(buf.subarray(off, off + ihl)) === 0,
    ...l4,
    length: totalLength,
  };
  if (ihl > 20) p.ipOptions = Buffer.from(buf.subarray(off + 20, off + ihl));
  if (fragmented) p.fragment = { offset: fragOffset, more, id };
  return p;
}

function parseIpv6(buf: Buffer, off: number, ctx: ParseCtx): ParsedIpPacket {
  need(buf, off, 40, 'IPv6 header');
  addRegion(ctx, 'ipv6', off, off + 40, IPV6_FIELDS);
  const word0 = buf.readUInt32BE(off);
  const payloadLength = buf.readUInt16BE(off + 4);
  const { end, truncated } = datagramEnd(buf, off, 40 + payloadLength, 'IPv6', ctx);
  const lim = buf.subarray(0, end);
  let next = buf[off + 6]!;
  let pos = off + 40;
  const extTypes: number[] = [];
  let fragment: ParsedFragment | undefined;
  while (IPV6_EXT_PARSEABLE.has(next)) {
    let len: number;
    if (next === 44) {
      need(lim, pos, 8, 'IPv6 fragment header');
      const field = lim.readUInt16BE(pos + 2);
      fragment = { offset: field & 0xfff8, more: (field & 1) !== 0, id: lim.readUInt32BE(pos + 4) };
      addRegion(ctx, 'ipv6.frag', pos, pos + 8, IPV6_FRAG_FIELDS);
      len = 8;
    } else {
      need(lim, pos, 2, 'IPv6 extension header');
      // AH counts 4-byte units minus 2; the others count 8-byte units minus 1.
      len = next === 51 ? (lim[pos + 1]! + 2) * 4 : (lim[pos + 1]! + 1) * 8;
      need(lim, pos, len, `IPv6 extension header ${next}`);
      addRegion(ctx, `ipv6.ext${extTypes.length}`, pos, pos + len, [fd('nextHeader', 0, 1, 'dec'), fd('length', 1, 1, 'dec'), fd('data', 2, len - 2, 'bytes')]);
    }
    extTypes.push(next);
    next = lim[pos]!;
    pos += len;
  }
  const src = buf.subarray(off + 8, off + 24);
  const dst = buf.subarray(off + 24, off + 40);
  const info: L4Info = {
    family: 6,
    proto: next,
    src,
    dst,
    fragmented: fragment !== undefined && (fragment.more || fragment.offset > 0),
    nonFirstFragment: fragment !== undefined && fragment.offset > 0,
    truncated,
  };
  const l4 = parseL4(lim, pos, info, ctx);
  const p: ParsedIpPacket = {
    family: 6,
    src: bytesToIp(src),
    dst: bytesToIp(dst),
    proto: next,
    protoName: protoName(next),
    ttl: buf[off + 7]!,
    tos: (word0 >>> 20) & 0xff,
    flowLabel: word0 & 0xfffff,
    ipChecksumOk: null,
    ...l4,
    length: 40 + payloadLength,
  };
  if (extTypes.length > 0) p.ipv6ExtHeaders = extTypes;
  if (fragment) p.fragment = fragment;
  return p;
}

function parseIp(buf: Buffer, off: number, ctx: ParseCtx): ParsedIpPacket {
  need(buf, off, 1, 'IP header');
  const version = buf[off]! >> 4;
  if (version === 4) return parseIpv4(buf, off, ctx);
  if (version === 6) return parseIpv6(buf, off, ctx);
  throw new Error(`parsePacket: unknown IP version ${version} at offset ${off}`);
}

function parseFrame(frame: Buffer, ctx: ParseCtx): ParsedPacket {
  need(frame, 0, 14, 'Ethernet header');
  addRegion(ctx, 'eth', 0, 14, ETH_FIELDS);
  const type = frame.readUInt16BE(12);
  if (type !== ETH_P_IP && type !== ETH_P_IPV6) {
    throw new Error(`parsePacket: unsupported ethertype 0x${type.toString(16).padStart(4, '0')}`);
  }
  const ip = parseIp(frame, 14, ctx);
  if ((type === ETH_P_IP) !== (ip.family === 4)) {
    throw new Error(`parsePacket: ethertype 0x${type.toString(16)} carries an IPv${ip.family} header`);
  }
  return { eth: { src: bytesToMac(frame.subarray(6, 12)), dst: bytesToMac(frame.subarray(0, 6)), type }, ...ip };
}

/** Parses an Ethernet frame; throws a descriptive Error on truncated or malformed headers. */
export function parsePacket(frame: Buffer): ParsedPacket {
  return parseFrame(frame, { lenient: false, prefix: '', regions: undefined });
}

/** Parses a bare IP packet (no Ethernet header), strictly like parsePacket. */
export function parseIpPacket(packet: Buffer): ParsedIpPacket {
  return parseIp(packet, 0, { lenient: false, prefix: '', regions: undefined });
}

// ---------------------------------------------------------------------------
// Test failure messages

/** tcpdump's flag letters and order, so messages read like familiar captures. */
export function tcpFlagString(flags: TcpFlags): string {
  const letters: Array<[keyof TcpFlags, string]> = [
    ['fin', 'F'],
    ['syn', 'S'],
    ['rst', 'R'],
    ['psh', 'P'],
    ['ack', '.'],
    ['urg', 'U'],
    ['ece', 'E'],
    ['cwr', 'W'],
  ];
  const s = letters.map(([name, letter]) => (flags[name] ? letter : '')).join('');
  return s === '' ? 'none' : s;
}

const ICMP_NAMES: Record<1 | 58, Record<number, string>> = {
  1: { 0: 'echo-reply', 3: 'unreachable', 4: 'source-quench', 5: 'redirect', 8: 'echo-request', 11: 'time-exceeded', 12: 'param-problem' },
  58: { 1: 'unreachable', 2: 'packet-too-big', 3: 'time-exceeded', 4: 'param-problem', 128: 'echo-request', 129: 'echo-reply' },
};

function describeIcmp(proto: number, icmp: ParsedIcmp): string {
  const name = ICMP_NAMES[proto as 1 | 58]?.[icmp.type] ?? `type=${icmp.type}`;
  const parts = [name];
  if (icmp.id !== undefined || icmp.seq !== undefined) parts.push(`id=${icmp.id} seq=${icmp.seq}`);
  else parts.push(`code=${icmp.code}`);
  if (icmp.mtu !== undefined) parts.push(`mtu=${icmp.mtu}`);
  if (icmp.inner) parts.push(`{${describePacket(icmp.inner)}}`);
  else if (icmp.innerError) parts.push(`{unparseable: ${icmp.innerError}}`);
  return parts.join(' ');
}

/** One line such as "tcp 10.0.0.1:1234 -> 10.96.0.10:80 [S]" for assertion messages. */
export function describePacket(p: ParsedIpPacket): string {
  const endpoint = (addr: string, port: number | undefined): string =>
    port === undefined ? addr : p.family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
  const name = p.protoName === 'other' ? `proto-${p.proto}` : p.protoName;
  let s = `${name} ${endpoint(p.src, p.sport)} -> ${endpoint(p.dst, p.dport)}`;
  if (p.tcpFlags) s += ` [${tcpFlagString(p.tcpFlags)}]`;
  if (p.icmp) s += ` ${describeIcmp(p.proto, p.icmp)}`;
  if (p.fragment) s += ` frag(off=${p.fragment.offset}${p.fragment.more ? ',MF' : ''},id=${p.fragment.id})`;
  if (p.payload.length > 0 && !p.icmp?.inner) s += ` len=${p.payload.length}`;
  if (p.ipChecksumOk === false) s += ' BAD-IP-CSUM';
  if (p.l4ChecksumOk === false) s += ' BAD-L4-CSUM';
  if (p.truncated) s += ' (truncated)';
  return s;
}

function layoutOf(buf: Buffer): Region[] {
  const regions: Region[] = [];
  const ctx: ParseCtx = { lenient: true, prefix: '', regions };
  const ethertype = buf.length >= 14 ? buf.readUInt16BE(12) : -1;
  const looksLikeIp = buf.length > 0 && (buf[0]! >> 4 === 4 || buf[0]! >> 4 === 6);
  try {
    // Frames are the common case; a bare IP packet (e.g. an ICMP inner) is recognised
    // by a version nibble where a frame would have a non-IP ethertype.
    if (ethertype !== ETH_P_IP && ethertype !== ETH_P_IPV6 && looksLikeIp) parseIp(buf, 0, ctx);
    else parseFrame(buf, ctx);
  } catch {
    // Keep whatever regions were recognised before the parse gave up.
  }
  return regions;
}

function formatField(buf: Buffer, at: number, f: FieldDef): string {
  if (at + f.len > buf.length) return '<missing>';
  const bytes = buf.subarray(at, at + f.len);
  switch (f.fmt) {
    case 'mac':
      return bytesToMac(bytes);
    case 'ip':
      return bytesToIp(bytes);
    case 'dec':
      return String(buf.readUIntBE(at, f.len));
    case 'hex':
      return `0x${bytes.toString('hex')}`;
    case 'tcpflags':
      return `[${tcpFlagString(decodeTcpFlags(bytes[0]!))}]`;
    case 'bytes':
      return bytes.length > 32 ? `${bytes.subarray(0, 32).toString('hex')}...` : bytes.toString('hex');
  }
}

interface DiffSite {
  name: string;
  byte: number;
  detail: string;
}

function locate(a: Buffer, b: Buffer, regions: Region[], i: number): DiffSite {
  const byteAt = (buf: Buffer): string => (i < buf.length ? `0x${buf[i]!.toString(16).padStart(2, '0')}` : '<missing>');
  // Later regions are nested inside earlier ones (ICMP inner packets), so search from the end.
  for (let r = regions.length - 1; r >= 0; r--) {
    const region = regions[r]!;
    if (i < region.start || i >= region.end) continue;
    const field = region.fields.find((f) => i >= region.start + f.off && i < region.start + f.off + f.len);
    if (field) {
      const at = region.start + field.off;
      return { name: `${region.name}.${field.name}`, byte: at, detail: `a=${formatField(a, at, field)} b=${formatField(b, at, field)}` };
    }
    return { name: region.name, byte: i, detail: `(+${i - region.start}) a=${byteAt(a)} b=${byteAt(b)}` };
  }
  return { name: 'trailer', byte: i, detail: `a=${byteAt(a)} b=${byteAt(b)}` };
}

/** Each differing field once, in wire order, located by a's layout (b's if a is unparseable). */
function diffSites(a: Buffer, b: Buffer): DiffSite[] {
  let regions = layoutOf(a);
  if (regions.length === 0) regions = layoutOf(b);
  const sites: DiffSite[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length && i < b.length && a[i] === b[i]) continue;
    const site = locate(a, b, regions, i);
    if (!sites.some((s) => s.name === site.name)) sites.push(site);
  }
  return sites;
}

/**
 * The names of the fields that differ ("eth.dst", "ipv4.src", "icmp.inner.tcp.sport"; a
 * region's name alone for bytes outside its fields, "trailer" past every region).
 */
export function differingFields(a: Buffer, b: Buffer): string[] {
  return a.equals(b) ? [] : diffSites(a, b).map((s) => s.name);
}

/**
 * '' when equal; otherwise names the first differing header field with both values,
 * e.g. "ipv4.dst differs at byte 30: a=10.96.0.10 b=10.244.1.5; also differ: ipv4.checksum, tcp.checksum".
 * Checksum fields are only headlined when nothing else differs: they change as a
 * consequence of other fields, and "only tcp.checksum differs" is itself the telling
 * case (a botched incremental update). Fields are located using a's layout (b's if a
 * is unparseable); the remaining differing fields are listed in wire order.
 */
export function packetDiff(a: Buffer, b: Buffer): string {
  if (a.equals(b)) return '';
  const sites = diffSites(a, b);
  const head = sites.find((s) => !s.name.endsWith('.checksum')) ?? sites[0]!;
  let msg = `${head.name} differs at byte ${head.byte}: ${head.detail}`;
  const rest = sites.filter((s) => s !== head);
  if (rest.length > 0) msg += `; also differ: ${rest.map((s) => s.name).join(', ')}`;
  if (a.length !== b.length) msg += `; lengths a=${a.length} b=${b.length}`;
  return msg;
}
