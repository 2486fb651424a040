/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sctp.h — SCTP port rewrite with an incremental CRC32c update.
 *
 * CRC32c is linear over GF(2): for equal-length messages
 *   crc(A) ^ crc(B) == crc0(A ^ B)   (crc0: init 0, no final xor),
 * and A ^ B is zero except the 4 port bytes at the start of the SCTP header.
 * crc0 of "4 bytes then n zero bytes" is crc0(4 bytes) * x^(8n) mod P, which
 * costs a few hundred ALU ops (square-and-multiply over the bits of n, as in
 * zlib's crc32_combine) instead of a pass over the payload. Addresses are not
 * covered by the SCTP checksum, so DNAT of the address alone is free.
 *
 * A CRC of 0 is left alone. The kernel's SCTP sends it so wherever the
 * device computes the CRC (CHECKSUM_PARTIAL), and a pod's veth is such a
 * device: the field stays 0 until a device without CRC offload (most NICs)
 * sums the packet as it then is, the field's bytes included. The sum of a
 * patched 0 would be wrong there (a pod's SCTP to a remote backend, a
 * local backend's replies to a NodePort client); netfilter's SCTP NAT
 * leaves such a packet's field alone too. A packet summed already has a
 * CRC of 0 once in 2^32.
 */
#ifndef EKP_SCTP_H
#define EKP_SCTP_H

#include "common.h"
#include "csum.h"
#include "parse.h"

#define CRC32C_POLY 0x82F63B78u

/* x^(8 * 2^i) mod P in the reflected representation, i = 0..15. */
static const __u32 crc32c_x8_pow2[16] = {
	0x00800000, 0x00008000, 0x82f63b78, 0x6ea2d55c,
	0x18b8ea18, 0x510ac59a, 0xb82be955, 0xb8fdb1e7,
	0x88e56f72, 0x74c360a4, 0xe4172b16, 0x0d65762a,
	0x35d73a62, 0x28461564, 0xbf455269, 0xe2ea32dc,
};

/* Rolled loops: unrolled, this math spills past the 512-byte stack. Only
 * crc32c_shifted is a real BPF-to-BPF call: kernels before 6.x count each
 * frame of a call chain as at least 32 bytes against the 512-byte limit, and
 * tc_ingress's own frame leaves room for one more (Debian 12's 6.1 refused a
 * second). */
EKP_INLINE __u32 crc32c_mulmod(__u32 a, __u32 b)
{
	__u32 p = 0;

#pragma clang loop unroll(disable)
	for (int i = 31; i >= 0; i--) {
		p ^= b & -((a >> i) & 1);
		b = (b >> 1) ^ (CRC32C_POLY & -(b & 1));
	}
	return p;
}

/* crc0 of 4 bytes `w` (little-endian load) followed by n zero bytes. */
static __attribute__((noinline)) __u32 crc32c_shifted(__u32 w, __u32 n)
{
	__u32 s = w, x = 0x80000000u; /* x^0 */

#pragma clang loop unroll(disable)
	for (int i = 0; i < 32; i++)
		s = (s >> 1) ^ (CRC32C_POLY & -(s & 1));
#pragma clang loop unroll(disable)
	for (int i = 0; i < 16; i++) {
		__u32 m = crc32c_mulmod(crc32c_x8_pow2[i], x);

		x = ((n >> i) & 1) ? m : x;
	}
	return crc32c_mulmod(x, s);
}

/*
 * Rewrite the SCTP ports in place and patch the CRC32c. The Internet sum of
 * what changed (ports and CRC) is added to *diff, for skb->csum: no header
 * checksum offsets it, as TCP's and UDP's do theirs.
 */
EKP_INLINE int sctp_update_ports(struct ekp_ctx *ctx, const struct pkt *p,
				 __be16 sport, __be16 dport, __u64 *diff)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	struct sctphdr_ *sh;
	__u32 w, crc_was;

	if (p->sport == sport && p->dport == dport)
		return 0;
	if (p->l4_off > 256 || p->l4_len < sizeof(*sh) || p->l4_len > 0xffff)
		return -1;
	sh = data + p->l4_off;
	if ((void *)(sh + 1) > end)
		return -1;
	w = ((__u32)(__u16)(p->sport ^ sport)) | ((__u32)(__u16)(p->dport ^ dport) << 16);
	crc_was = sh->checksum;
	if (crc_was)
		sh->checksum ^= crc32c_shifted(w, p->l4_len - 4);
	sh->source = sport;
	sh->dest = dport;
	*diff = csum_diff32(*diff, crc_was, sh->checksum);
	*diff = csum_diff16(csum_diff16(*diff, p->sport, sport), p->dport, dport);
	return 0;
}

#endif /* EKP_SCTP_H */
