import { describe, it, expect } from 'vitest';
import { crc32c, foldChecksum, inetChecksum, onesComplementSum, pseudoHeaderV4, pseudoHeaderV6 } from '../support/checksum.js';
import {
  buildIpPacket,
  buildPacket,
  bytesToIp,
  canonicalIp,
  describePacket,
  fragmentPacket,
  ipToBytes,
  packetDiff,
  parseIpPacket,
  parsePacket,
  sctpChunk,
  truncate,
  type PacketSpec,
  type ParsedPacket,
  type Proto,
} from '../support/packet.js';

const V4 = { src: '10.0.0.1', dst: '10.96.0.10' } as const;
const V6 = { src: 'fd00::1', dst: 'fd00:96::a' } as const;
const PROTO_NUM: Record<Proto, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };

/** Independent re-check of an L4 checksum straight from the wire bytes. */
function l4Residue(frame: Buffer): number {
  const v4 = frame.readUInt16BE(12) === 0x0800;
  const ip = frame.subarray(14);
  if (v4) {
    const ihl = (ip[0]! & 0x0f) * 4;
    const l4 = ip.subarray(ihl, ip.readUInt16BE(2));
    return inetChecksum(pseudoHeaderV4(ip.subarray(12, 16), ip.subarray(16, 20), ip[9]!, l4.length), l4);
  }
  const l4 = ip.subarray(40, 40 + ip.readUInt16BE(4));
  return inetChecksum(pseudoHeaderV6(ip.subarray(8, 24), ip.subarray(24, 40), ip[6]!, l4.length), l4);
}

describe('checksum primitives', () => {
  it('computes CRC32c of the standard check string', () => {
    expect(crc32c(Buffer.from('123456789', 'ascii'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('matches the RFC 1071 worked example', () => {
    const data = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(foldChecksum(onesComplementSum(data))).toBe(0xddf2);
    expect(inetChecksum(data)).toBe(0x220d);
  });

  it('pads an odd trailing byte as a high byte, also across concatenated parts', () => {
    expect(onesComplementSum(Buffer.from([0x12, 0x34, 0x56]))).toBe(0x1234 + 0x5600);
    expect(inetChecksum(Buffer.from([0x12]), Buffer.from([0x34]))).toBe(inetChecksum(Buffer.from([0x12, 0x34])));
  });
});

describe('addresses', () => {
  it.each([
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['FD00:0000::00A', 'fd00::a'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::FFFF:a00:1', '::ffff:10.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['10.96.0.10', '10.96.0.10'],
  ])('canonicalises %s as %s', (input, canonical) => {
    expect(canonicalIp(input)).toBe(canonical);
  });

  it('round-trips bytes and rejects non-literals', () => {
    expect(ipToBytes('fd00::1').toString('hex')).toBe('fd000000000000000000000000000001');
    expect(bytesToIp(ipToBytes('1:2:3:4:5:6:7:8'))).toBe('1:2:3:4:5:6:7:8');
    expect(() => ipToBytes('fe80::1%eth0')).toThrow(/not an IP/);
    expect(() => ipToBytes('10.0.0.256')).toThrow(/not an IP/);
  });
});

describe('known wire images', () => {
  // Independently produced bytes (scapy), so the builder is checked against something other than itself.
  it('matches scapy IP()/TCP()', () => {
    const pkt = buildIpPacket({ src: '127.0.0.1', dst: '127.0.0.1', proto: 'tcp', sport: 20, dport: 80, seq: 0, window: 8192, ipId: 1 });
    expect(pkt.toString('hex')).toBe('450000280001000040067ccd7f0000017f00000100140050000000000000000050022000917c0000');
  });

  it('matches scapy IP()/UDP()', () => {
    const pkt = buildIpPacket({ src: '127.0.0.1', dst: '127.0.0.1', proto: 'udp', sport: 53, dport: 53, ipId: 1 });
    expect(pkt.toString('hex')).toBe('4500001c0001000040117cce7f0000017f0000010035003500080172');
  });

  it('matches scapy IP()/SCTP()/SCTPChunkInit, CRC32c stored little-endian', () => {
    const initValue = Buffer.concat([Buffer.alloc(16), Buffer.from('000500087f000001', 'hex')]);
    const pkt = buildIpPacket({ src: '127.0.0.1', dst: '127.0.0.1', proto: 'sctp', sport: 0, dport: 0, ipId: 1, payload: sctpChunk(1, 0, initValue) });
    const scapy = Buffer.from(
      'E\x00\x00<\x00\x01\x00\x00@\x84|;\x7f\x00\x00\x01\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00@,\x0b_' +
        '\x01\x00\x00\x1c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x08\x7f\x00\x00\x01',
      'latin1',
    );
    expect(pkt.toString('hex')).toBe(scapy.toString('hex'));
    expect(parseIpPacket(pkt).l4Checksum).toBe(0x5f0b2c40);
  });

  it('matches the textbook IPv4 header checksum (0xb861)', () => {
    const frame = buildPacket({ src: '192.168.0.1', dst: '192.168.0.199', proto: 'udp', df: true, payload: Buffer.alloc(87) });
    expect(frame.subarray(14, 34).toString('hex')).toBe('45000073000040004011b861c0a80001c0a800c7');
  });
});

const ROUND_TRIPS: Array<{ proto: Proto; family: 4 | 6 }> = [
  { proto: 'tcp', family: 4 },
  { proto: 'tcp', family: 6 },
  { proto: 'udp', family: 4 },
  { proto: 'udp', family: 6 },
  { proto: 'sctp', family: 4 },
  { proto: 'sctp', family: 6 },
  { proto: 'icmp', family: 4 },
  { proto: 'icmpv6', family: 6 },
];

function specFor(proto: Proto, family: 4 | 6, extra: Partial<PacketSpec> = {}): PacketSpec {
  return { ...(family === 4 ? V4 : V6), proto, sport: 1234, dport: 80, payload: 'hello', ...extra };
}

describe('round trips', () => {
  it.each(ROUND_TRIPS)('$proto over IPv$family', ({ proto, family }) => {
    const spec = specFor(proto, family, { ttl: 17, tos: 0x10, eth: { src: 'AA:BB:CC:00:00:01', dst: 'aa-bb-cc-00-00-02' } });
    const frame = buildPacket(spec);
    const p = parsePacket(frame);
    expect(p.eth).toEqual({ src: 'aa:bb:cc:00:00:01', dst: 'aa:bb:cc:00:00:02', type: family === 4 ? 0x0800 : 0x86dd });
    expect(p.family).toBe(family);
    expect(p.src).toBe(canonicalIp(spec.src));
    expect(p.dst).toBe(canonicalIp(spec.dst));
    expect(p.proto).toBe(PROTO_NUM[proto]);
    expect(p.protoName).toBe(proto);
    expect(p.ttl).toBe(17);
    expect(p.tos).toBe(0x10);
    expect(p.ipChecksumOk).toBe(family === 4 ? true : null);
    expect(p.l4ChecksumOk).toBe(true);
    expect(p.payload.toString()).toBe('hello');
    expect(p.length).toBe(frame.length - 14);
    expect(p.truncated).toBe(false);
    if (proto === 'icmp' || proto === 'icmpv6') {
      expect(p.icmp).toEqual({ type: proto === 'icmp' ? 8 : 128, code: 0, id: 1, seq: 1 });
      expect(p.sport).toBeUndefined();
    } else {
      expect([p.sport, p.dport]).toEqual([1234, 80]);
    }
  });

  it('defaults TCP to a bare SYN with window 64240 and data offset 5', () => {
    const p = parsePacket(buildPacket({ ...V4, proto: 'tcp' }));
    expect(p.tcpFlags).toEqual({ syn: true, ack: false, fin: false, rst: false, psh: false, urg: false, ece: false, cwr: false });
    expect(p.window).toBe(64240);
    expect(p.tcpOptions).toBeUndefined();
    expect(p.length).toBe(40);
  });

  it('carries explicit TCP flags, sequence numbers and options', () => {
    const mss = Buffer.from('020405b4', 'hex');
    const frame = buildPacket({ ...V6, proto: 'tcp', tcpFlags: { syn: true, ack: true }, seq: 0xfffffffe, ackSeq: 7, tcpOptions: Buffer.from('0303', 'hex'), window: 1 });
    const p = parsePacket(frame);
    expect(p.tcpFlags?.syn && p.tcpFlags.ack && !p.tcpFlags.fin).toBe(true);
    expect([p.seq, p.ackSeq, p.window]).toEqual([0xfffffffe, 7, 1]);
    expect(p.tcpOptions?.toString('hex')).toBe('03030000');
    expect(frame[14 + 40 + 12]! >> 4).toBe(6);
    expect(p.l4ChecksumOk).toBe(true);
    expect(parsePacket(buildPacket({ ...V4, proto: 'tcp', tcpOptions: mss })).tcpOptions).toEqual(mss);
  });

  it('carries the SCTP verification tag', () => {
    const p = parsePacket(buildPacket({ ...V6, proto: 'sctp', vtag: 0xdeadbeef, payload: sctpChunk(0, 3, Buffer.from('abc')) }));
    expect(p.vtag).toBe(0xdeadbeef);
    expect(p.payload.toString('hex')).toBe('0003000761626300');
    expect(p.l4ChecksumOk).toBe(true);
  });

  it('rejects mismatched families and ICMP flavours', () => {
    expect(() => buildPacket({ src: '10.0.0.1', dst: 'fd00::1', proto: 'tcp' })).toThrow(/family mismatch/);
    expect(() => buildPacket({ ...V6, proto: 'icmp' })).toThrow(/icmpv6/);
    expect(() => buildPacket({ ...V4, proto: 'icmpv6' })).toThrow(/IPv6/);
    expect(() => buildPacket({ ...V4, proto: 'tcp', sport: 65536 })).toThrow(/sport/);
    expect(() => buildPacket({ ...V4, proto: 'tcp', eth: { src: 'nope' } })).toThrow(/MAC/);
  });
});

describe('checksums', () => {
  it.each(ROUND_TRIPS)('$proto over IPv$family verifies independently', ({ proto, family }) => {
    const frame = buildPacket(specFor(proto, family, { payload: 'odd' }));
    if (family === 4) expect(inetChecksum(frame.subarray(14, 34))).toBe(0);
    if (proto === 'sctp') {
      const sctp = Buffer.from(frame.subarray(14 + (family === 4 ? 20 : 40)));
      const stored = sctp.readUInt32LE(8);
      sctp.writeUInt32LE(0, 8);
      expect(crc32c(sctp)).toBe(stored);
    } else if (proto === 'icmp') {
      expect(inetChecksum(frame.subarray(34))).toBe(0);
    } else {
      expect(l4Residue(frame)).toBe(0);
    }
  });

  it.each(ROUND_TRIPS)('$proto over IPv$family: badChecksum is detected', ({ proto, family }) => {
    const p = parsePacket(buildPacket(specFor(proto, family, { badChecksum: true })));
    expect(p.l4ChecksumOk).toBe(false);
    expect(describePacket(p)).toContain('BAD-L4-CSUM');
  });

  it('detects a bad IPv4 header checksum and a corrupted byte', () => {
    expect(parsePacket(buildPacket({ ...V4, proto: 'udp', badIpChecksum: true })).ipChecksumOk).toBe(false);
    const frame = buildPacket({ ...V4, proto: 'tcp' });
    frame[14 + 8] = 1; // TTL, which is covered by the IP checksum but not by TCP's
    expect(parsePacket(frame)).toMatchObject({ ipChecksumOk: false, l4ChecksumOk: true });
    frame[30] ^= 1; // dst address: covered by both (pseudo-header)
    expect(parsePacket(frame).l4ChecksumOk).toBe(false);
  });

  it('sends a computed UDP checksum of 0 as 0xffff', () => {
    // A 2-byte payload equal to the checksum over a zero payload makes the new sum exactly 0.
    const base = parsePacket(buildPacket({ ...V4, proto: 'udp', payload: Buffer.alloc(2) })).l4Checksum!;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(base);
    const p = parsePacket(buildPacket({ ...V4, proto: 'udp', payload }));
    expect(p.l4Checksum).toBe(0xffff);
    expect(p.l4ChecksumOk).toBe(true);
  });

  it('accepts a zero UDP checksum on IPv4 only (IPv6 builds one, as a tunnel endpoint may, but it is not valid)', () => {
    const p = parsePacket(buildPacket({ ...V4, proto: 'udp', udpNoChecksum: true }));
    expect([p.l4Checksum, p.l4ChecksumOk]).toEqual([0, true]);
    expect(parsePacket(buildPacket({ ...V6, proto: 'udp', udpNoChecksum: true }))).toMatchObject({ l4Checksum: 0, l4ChecksumOk: false });
    const v6 = buildPacket({ ...V6, proto: 'udp' });
    v6.writeUInt16BE(0, 14 + 40 + 6);
    expect(parsePacket(v6).l4ChecksumOk).toBe(false);
  });
});

describe('truncation', () => {
  it.each(ROUND_TRIPS)('$proto over IPv$family: every shorter prefix throws', ({ proto, family }) => {
    const frame = buildPacket(specFor(proto, family));
    for (let len = 0; len < frame.length; len++) {
      expect(() => parsePacket(truncate(frame, len)), `len ${len}`).toThrow(/parsePacket: truncated/);
    }
    expect(() => parsePacket(truncate(frame, frame.length))).not.toThrow();
  });

  it('names the truncated header', () => {
    const frame = buildPacket({ ...V4, proto: 'tcp' });
    expect(() => parsePacket(truncate(frame, 10))).toThrow(/Ethernet header/);
    expect(() => parsePacket(truncate(frame, 20))).toThrow(/IPv4 header/);
    expect(() => parsePacket(truncate(frame, 40))).toThrow(/IPv4 datagram/);
  });

  it('ignores Ethernet padding past the IP length', () => {
    const frame = Buffer.concat([buildPacket({ ...V4, proto: 'udp' }), Buffer.alloc(18)]);
    const p = parsePacket(frame);
    expect(p.payload.length).toBe(0);
    expect(p.l4ChecksumOk).toBe(true);
  });

  it('copies, and range-checks its length', () => {
    const frame = buildPacket({ ...V4, proto: 'udp' });
    const cut = truncate(frame, 20);
    cut[0] = 0x55;
    expect(frame[0]).not.toBe(0x55);
    expect(() => truncate(frame, frame.length + 1)).toThrow(RangeError);
    expect(() => truncate(frame, -1)).toThrow(RangeError);
  });

  it('rejects malformed headers clearly', () => {
    const frame = buildPacket({ ...V4, proto: 'tcp' });
    const badIhl = Buffer.from(frame);
    badIhl[14] = 0x44;
    expect(() => parsePacket(badIhl)).toThrow(/IHL/);
    const arp = Buffer.from(frame);
    arp.writeUInt16BE(0x0806, 12);
    expect(() => parsePacket(arp)).toThrow(/ethertype 0x0806/);
    const mismatch = Buffer.from(frame);
    mismatch.writeUInt16BE(0x86dd, 12);
    expect(() => parsePacket(mismatch)).toThrow(/carries an IPv4/);
  });
});

describe('IP options and extension headers', () => {
  it('pads IPv4 options to 4 bytes and raises IHL', () => {
    const frame = buildPacket({ ...V4, proto: 'udp', ipOptions: Buffer.from('940400', 'hex') });
    expect(frame[14]).toBe(0x46);
    const p = parsePacket(frame);
    expect(p.ipOptions?.toString('hex')).toBe('94040000');
    expect(p).toMatchObject({ ipChecksumOk: true, l4ChecksumOk: true, dport: 80 });
    expect(inetChecksum(frame.subarray(14, 38))).toBe(0);
    expect(() => buildPacket({ ...V4, proto: 'udp', ipOptions: Buffer.alloc(41) })).toThrow(/40 bytes/);
  });

  it('walks IPv6 extension headers to the upper-layer protocol', () => {
    const frame = buildPacket({
      ...V6,
      proto: 'tcp',
      ipv6ExtHeaders: [{ type: 0 }, { type: 60, data: Buffer.alloc(10) }],
    });
    expect(frame[14 + 6]).toBe(0);
    const p = parsePacket(frame);
    expect(p.ipv6ExtHeaders).toEqual([0, 60]);
    expect(p).toMatchObject({ protoName: 'tcp', sport: 40000, l4ChecksumOk: true, length: 40 + 8 + 16 + 20 });
    expect(() => buildPacket({ ...V6, proto: 'tcp', ipv6ExtHeaders: [{ type: 44 }] })).toThrow(/fragment/);
  });
});

describe('fragments', () => {
  it('builds IPv4 first and later fragments', () => {
    const first = parsePacket(buildPacket({ ...V4, proto: 'udp', ipId: 77, fragment: { offset: 0, more: true }, payload: 'x'.repeat(16) }));
    expect(first.fragment).toEqual({ offset: 0, more: true, id: 77 });
    expect(first).toMatchObject({ dport: 80, l4ChecksumOk: null, ipChecksumOk: true });

    const later = parsePacket(buildPacket({ ...V4, proto: 'udp', fragment: { offset: 24, more: false, id: 77 }, payload: 'tail' }));
    expect(later.fragment).toEqual({ offset: 24, more: false, id: 77 });
    expect(later.sport).toBeUndefined();
    expect(later.payload.toString()).toBe('tail');
    expect(describePacket(later)).toBe('udp 10.0.0.1 -> 10.96.0.10 frag(off=24,id=77) len=4');
  });

  it('uses the IPv6 Fragment header (next header 44)', () => {
    const frame = buildPacket({ ...V6, proto: 'tcp', fragment: { offset: 1232, more: true, id: 0x12345678 }, payload: 'abcdefgh' });
    expect(frame[14 + 6]).toBe(44);
    expect(frame[14 + 40]).toBe(6);
    const p = parsePacket(frame);
    expect(p.ipv6ExtHeaders).toEqual([44]);
    expect(p.fragment).toEqual({ offset: 1232, more: true, id: 0x12345678 });
    expect(p.protoName).toBe('tcp');
    expect(p.l4ChecksumOk).toBeNull();
  });

  it('rejects offsets that are not multiples of 8', () => {
    expect(() => buildPacket({ ...V4, proto: 'udp', fragment: { offset: 12, more: false } })).toThrow(/multiple of 8/);
  });

  it.each([4, 6] as const)('fragmentPacket over IPv%i reassembles to a valid datagram', (family) => {
    const spec = specFor('udp', family, { payload: Buffer.alloc(100, 0xab), ipId: 9 });
    const frames = fragmentPacket(spec, 48);
    const parsed = frames.map(parsePacket);
    expect(parsed.map((p) => [p.fragment?.offset, p.fragment?.more, p.fragment?.id])).toEqual([
      [0, true, 9],
      [48, true, 9],
      [96, false, 9],
    ]);
    expect(parsed[0]!.sport).toBe(1234);
    // First fragment's payload follows the UDP header; the others are raw datagram bytes.
    const l4 = Buffer.concat([
      family === 4 ? frames[0]!.subarray(34) : frames[0]!.subarray(14 + 48),
      ...parsed.slice(1).map((p) => p.payload),
    ]);
    const whole = buildPacket(spec);
    expect(l4.equals(whole.subarray(family === 4 ? 34 : 54))).toBe(true);
    expect(parsePacket(whole).l4ChecksumOk).toBe(true);
  });
});

describe('ICMP errors', () => {
  it('embeds and parses the original packet of an ICMPv4 port unreachable', () => {
    const original = buildIpPacket({ src: V4.dst, dst: V4.src, proto: 'udp', sport: 53, dport: 5353, payload: 'query' });
    const frame = buildPacket({ ...V4, proto: 'icmp', icmp: { type: 3, code: 3, inner: original } });
    const p = parsePacket(frame);
    expect(p.l4ChecksumOk).toBe(true);
    expect(p.icmp).toMatchObject({ type: 3, code: 3 });
    expect(p.icmp?.id).toBeUndefined();
    const inner = p.icmp!.inner!;
    expect(inner).toMatchObject({ family: 4, src: V4.dst, dst: V4.src, protoName: 'udp', sport: 53, dport: 5353, ipChecksumOk: true, l4ChecksumOk: true, truncated: false });
    expect(p.payload.equals(original)).toBe(true);
    expect(describePacket(p)).toBe('icmp 10.0.0.1 -> 10.96.0.10 unreachable code=3 {udp 10.96.0.10:53 -> 10.0.0.1:5353 len=5}');
  });

  it('parses an inner packet truncated to IP header + 8 bytes (RFC 792)', () => {
    const original = buildIpPacket({ src: V4.dst, dst: V4.src, proto: 'tcp', sport: 80, dport: 40000, tcpFlags: { syn: true, ack: true } });
    const p = parsePacket(buildPacket({ ...V4, proto: 'icmp', icmp: { type: 11, code: 0, inner: truncate(original, 28) } }));
    const inner = p.icmp!.inner!;
    expect(inner).toMatchObject({ sport: 80, dport: 40000, seq: 1000, truncated: true, l4ChecksumOk: null, ipChecksumOk: true, length: 40 });
    expect(inner.tcpFlags).toBeUndefined();
    expect(describePacket(p)).toContain('time-exceeded code=0 {tcp 10.96.0.10:80 -> 10.0.0.1:40000 (truncated)}');
  });

  it('embeds an ICMPv6 port unreachable built from a spec', () => {
    const inner: PacketSpec = { src: V6.dst, dst: V6.src, proto: 'tcp', sport: 443, dport: 50000, tcpFlags: { rst: true } };
    const frame = buildPacket({ ...V6, proto: 'icmpv6', icmp: { type: 1, code: 4, inner } });
    const p = parsePacket(frame);
    expect(p.l4ChecksumOk).toBe(true);
    expect(l4Residue(frame)).toBe(0);
    expect(p.icmp?.inner).toMatchObject({ family: 6, src: 'fd00:96::a', dst: 'fd00::1', sport: 443, dport: 50000, l4ChecksumOk: true });
    expect(p.icmp?.inner?.tcpFlags?.rst).toBe(true);
    expect(describePacket(p)).toBe('icmpv6 fd00::1 -> fd00:96::a unreachable code=4 {tcp [fd00:96::a]:443 -> [fd00::1]:50000 [R]}');
  });

  it('carries the MTU of frag-needed and packet-too-big', () => {
    const v4 = parsePacket(buildPacket({ ...V4, proto: 'icmp', icmp: { type: 3, code: 4, mtu: 1400, inner: buildIpPacket({ ...V4, proto: 'udp' }) } }));
    expect(v4.icmp?.mtu).toBe(1400);
    const v6 = parsePacket(buildPacket({ ...V6, proto: 'icmpv6', icmp: { type: 2, code: 0, mtu: 1280, inner: buildIpPacket({ ...V6, proto: 'udp' }) } }));
    expect(v6.icmp?.mtu).toBe(1280);
    expect(v6.icmp?.inner?.protoName).toBe('udp');
  });

  it('reports an inner packet too short to parse instead of throwing', () => {
    const p = parsePacket(buildPacket({ ...V4, proto: 'icmp', icmp: { type: 3, code: 1, inner: Buffer.from('4500', 'hex') } }));
    expect(p.icmp?.inner).toBeUndefined();
    expect(p.icmp?.innerError).toMatch(/truncated IPv4 header/);
  });

  it('keeps echo id/seq', () => {
    const p = parsePacket(buildPacket({ ...V6, proto: 'icmpv6', icmp: { type: 129, code: 0, id: 0xbeef, seq: 3 } }));
    expect(p.icmp).toEqual({ type: 129, code: 0, id: 0xbeef, seq: 3 });
    expect(describePacket(p)).toBe('icmpv6 fd00::1 -> fd00:96::a echo-reply id=48879 seq=3');
  });
});

describe('describePacket', () => {
  it('formats the common cases', () => {
    const d = (spec: PacketSpec): string => describePacket(parsePacket(buildPacket(spec)));
    expect(d({ src: '10.0.0.1', dst: '10.96.0.10', proto: 'tcp', sport: 1234, dport: 80, tcpFlags: { syn: true } })).toBe(
      'tcp 10.0.0.1:1234 -> 10.96.0.10:80 [S]',
    );
    expect(d({ ...V6, proto: 'tcp', sport: 1, dport: 2, tcpFlags: { syn: true, ack: true } })).toBe('tcp [fd00::1]:1 -> [fd00:96::a]:2 [S.]');
    expect(d({ ...V4, proto: 'tcp', tcpFlags: {} })).toContain('[none]');
    expect(d({ ...V4, proto: 'udp', sport: 1, dport: 2, payload: 'abc' })).toBe('udp 10.0.0.1:1 -> 10.96.0.10:2 len=3');
  });
});

describe('packetDiff', () => {
  const base: PacketSpec = { ...V4, proto: 'tcp', sport: 1234, dport: 80 };

  it('is empty for identical buffers', () => {
    expect(packetDiff(buildPacket(base), buildPacket(base))).toBe('');
  });

  it('names the first differing field and lists the rest', () => {
    const msg = packetDiff(buildPacket(base), buildPacket({ ...base, dst: '10.244.1.5' }));
    expect(msg).toBe('ipv4.dst differs at byte 30: a=10.96.0.10 b=10.244.1.5; also differ: ipv4.checksum, tcp.checksum');
  });

  it('headlines a checksum only when nothing else differs', () => {
    const good = buildPacket(base);
    expect(packetDiff(good, buildPacket({ ...base, badChecksum: true }))).toMatch(/^tcp\.checksum differs at byte 50: a=0x[0-9a-f]{4} b=0x[0-9a-f]{4}$/);
  });

  it('reports fields in wire order with decoded values', () => {
    const msg = packetDiff(buildPacket(base), buildPacket({ ...base, dport: 8080, eth: { dst: '02:00:00:00:00:99' } }));
    expect(msg).toBe('eth.dst differs at byte 0: a=02:00:00:00:00:02 b=02:00:00:00:00:99; also differ: tcp.dport, tcp.checksum');
    expect(packetDiff(buildPacket({ ...base, tcpFlags: { syn: true } }), buildPacket({ ...base, tcpFlags: { rst: true } }))).toMatch(
      /^tcp\.flags differs at byte 47: a=\[S\] b=\[R\]/,
    );
  });

  it('names fields inside an ICMP inner packet', () => {
    const icmp = (src: string): Buffer =>
      buildPacket({ ...V6, proto: 'icmpv6', icmp: { type: 1, code: 4, inner: { src, dst: V6.src, proto: 'udp' } } });
    expect(packetDiff(icmp('fd00:96::a'), icmp('fd00:244::5'))).toBe(
      'icmpv6.inner.ipv6.src differs at byte 70: a=fd00:96::a b=fd00:244::5; also differ: icmpv6.inner.udp.checksum',
    );
    // The outer checksum is unchanged: the address is also in the inner UDP pseudo-header,
    // so the inner checksum moves by exactly the opposite amount.
  });

  it('handles payload and length differences and bare IP packets', () => {
    const msg = packetDiff(buildPacket({ ...base, payload: 'abc' }), buildPacket({ ...base, payload: 'abd' }));
    expect(msg).toBe('payload differs at byte 56: (+2) a=0x63 b=0x64; also differ: tcp.checksum');
    expect(packetDiff(buildPacket({ ...V4, proto: 'udp', payload: 'aaaa' }), buildPacket({ ...V4, proto: 'udp', payload: 'aa' }))).toMatch(
      /ipv4\.totalLength differs at byte 16: a=32 b=30.*lengths a=46 b=44$/,
    );
    expect(packetDiff(buildIpPacket(base), buildIpPacket({ ...base, ttl: 1 }))).toMatch(/^ipv4\.ttl differs at byte 8: a=64 b=1/);
  });
});

describe('parsed result shape', () => {
  it('is a plain object whose buffers do not alias the frame', () => {
    const frame = buildPacket({ ...V4, proto: 'udp', payload: 'data' });
    const p: ParsedPacket = parsePacket(frame);
    frame.fill(0);
    expect(p.payload.toString()).toBe('data');
  });
});
