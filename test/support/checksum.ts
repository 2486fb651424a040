// Checksum primitives for the packet test library. Kept separate from packet.ts so
// tests can verify the library's own checksums with code that doesn't build packets.

/**
 * Ones' complement sum of `buf` as 16-bit big-endian words, not yet folded.
 * An odd trailing byte counts as the high byte of a zero-padded word (RFC 1071).
 * Plain numbers are exact up to 2^53, far beyond any 64 KiB packet, so folding
 * happens once at the end instead of per word.
 */
export function onesComplementSum(buf: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = buf.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (buf.length & 1) sum += buf[buf.length - 1]! << 8;
  return sum;
}

/** Folds carries back into 16 bits (end-around carry). */
export function foldChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * Internet checksum (RFC 1071) over the concatenation of `parts`.
 * Returns 0 when run over data that already includes a correct checksum field,
 * which is exactly the test the kernel applies on receive.
 */
export function inetChecksum(...parts: Uint8Array[]): number {
  // Concatenate so an odd-length part can't misalign the words of the next one.
  const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return ~foldChecksum(onesComplementSum(data)) & 0xffff;
}

/** IPv4 pseudo-header for TCP/UDP checksums (RFC 793 / RFC 768). */
export function pseudoHeaderV4(src: Uint8Array, dst: Uint8Array, proto: number, l4Length: number): Buffer {
  const ph = Buffer.alloc(12);
  ph.set(src, 0);
  ph.set(dst, 4);
  ph[9] = proto;
  ph.writeUInt16BE(l4Length, 10);
  return ph;
}

/** IPv6 pseudo-header for TCP/UDP/ICMPv6 checksums (RFC 8200 §8.1). */
export function pseudoHeaderV6(src: Uint8Array, dst: Uint8Array, nextHeader: number, l4Length: number): Buffer {
  const ph = Buffer.alloc(40);
  ph.set(src, 0);
  ph.set(dst, 16);
  ph.writeUInt32BE(l4Length, 32);
  ph[39] = nextHeader;
  return ph;
}

const CRC32C_TABLE: Uint32Array = (() => {
  // Reflected Castagnoli polynomial, as used by SCTP (RFC 3309) and iSCSI.
  const poly = 0x82f63b78;
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC32c (Castagnoli) with the standard init/final XOR; crc32c("123456789") = 0xE3069283.
 * SCTP stores this value little-endian in its common header (RFC 4960 App. B),
 * which is what the kernel's sctp_compute_cksum() produces via cpu_to_le32().
 */
export function crc32c(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < buf.length; i++) crc = CRC32C_TABLE[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
