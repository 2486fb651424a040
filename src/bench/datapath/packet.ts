// Just enough of a packet builder for the datapath benchmark: Ethernet + IPv4 + TCP
// frames with correct checksums, and a parser that reads back what the datapath
// rewrote (the test suite's builder lives under test/ and is not part of dist/).

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface Tcp4 {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** OR of TCP.* */
  flags: number;
  seq?: number;
  ack?: number;
  payload?: Buffer;
  /** Default 64. */
  ttl?: number;
}

const ETH = 14;
const IP = 20;
const TCP_HDR = 20;

export function ipv4ToInt(a: string): number {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new TypeError(`not an IPv4 address: ${a}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** `base` plus `i`, as an address ("10.96.0.0" + 1 = "10.96.0.1"). */
export function ipv4Add(base: string, i: number): string {
  return intToIpv4((ipv4ToInt(base) + i) >>> 0);
}

function sum16(buf: Buffer, start: number, end: number, acc = 0): number {
  let s = acc;
  for (let i = start; i + 1 < end; i += 2) s += buf.readUInt16BE(i);
  if ((end - start) & 1) s += buf[end - 1]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** One Ethernet/IPv4/TCP frame with valid IP and TCP checksums. */
export function tcp4Frame(t: Tcp4): Buffer {
  const payload = t.payload ?? Buffer.alloc(0);
  const b = Buffer.alloc(ETH + IP + TCP_HDR + payload.length);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]).copy(b, 0);
  b.writeUInt16BE(0x0800, 12);
  const ip = ETH;
  b[ip] = 0x45;
  b.writeUInt16BE(IP + TCP_HDR + payload.length, ip + 2);
  b.writeUInt16BE(0x4000, ip + 6); // DF
  b[ip + 8] = t.ttl ?? 64;
  b[ip + 9] = 6;
  b.writeUInt32BE(ipv4ToInt(t.src), ip + 12);
  b.writeUInt32BE(ipv4ToInt(t.dst), ip + 16);
  b.writeUInt16BE(fold(sum16(b, ip, ip + IP)), ip + 10);
  const th = ip + IP;
  b.writeUInt16BE(t.sport, th);
  b.writeUInt16BE(t.dport, th + 2);
  b.writeUInt32BE((t.seq ?? 1000) >>> 0, th + 4);
  b.writeUInt32BE((t.ack ?? 0) >>> 0, th + 8);
  b[th + 12] = (TCP_HDR / 4) << 4;
  b[th + 13] = t.flags;
  b.writeUInt16BE(64240, th + 14);
  payload.copy(b, th + TCP_HDR);
  const len = TCP_HDR + payload.length;
  let s = sum16(b, ip + 12, ip + 20); // pseudo header: addresses
  s += 6 + len;
  b.writeUInt16BE(fold(sum16(b, th, th + len, s)), th + 16);
  return b;
}

export interface ParsedTcp4 {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  ttl: number;
  /** Both the IPv4 header and the TCP checksum verify. */
  checksumsOk: boolean;
}

/** Whether frames a and b are the same but for the IPv4 TTL and header checksum. */
export function sameButTtl(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length || a.length < ETH + IP) return false;
  const c = Buffer.from(b);
  c[ETH + 8] = a[ETH + 8]!;
  a.copy(c, ETH + 10, ETH + 10, ETH + 12);
  return c.equals(a);
}

export function parseTcp4(b: Buffer): ParsedTcp4 {
  if (b.length < ETH + IP + TCP_HDR || b.readUInt16BE(12) !== 0x0800 || b[ETH + 9] !== 6) throw new Error('not an IPv4/TCP frame');
  const ip = ETH;
  const ihl = (b[ip]! & 15) * 4;
  const total = b.readUInt16BE(ip + 2);
  const th = ip + ihl;
  const ipOk = fold(sum16(b, ip, ip + ihl)) === 0;
  const s = sum16(b, ip + 12, ip + 20) + 6 + (total - ihl);
  const tcpOk = fold(sum16(b, th, ip + total, s)) === 0;
  return {
    src: intToIpv4(b.readUInt32BE(ip + 12)),
    dst: intToIpv4(b.readUInt32BE(ip + 16)),
    sport: b.readUInt16BE(th),
    dport: b.readUInt16BE(th + 2),
    flags: b[th + 13]!,
    ttl: b[ip + 8]!,
    checksumsOk: ipOk && tcpOk,
  };
}
