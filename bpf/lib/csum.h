/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * csum.h — Internet checksum arithmetic (RFC 1071/1624).
 *
 * A rewrite first builds a *diff* (64-bit ones'-complement accumulator of
 * ~old + new words, all in raw memory order), then applies it once per
 * checksum field. At XDP the field is patched directly (there is no skb yet);
 * at tc too, as the kernel would for the skb's checksum state (nat.h,
 * skb_csum.h), except under CHECKSUM_COMPLETE or where that state cannot be
 * read: there bpf_l4_csum_replace() keeps skb->csum right.
 */
#ifndef EKP_CSUM_H
#define EKP_CSUM_H

#include "common.h"

EKP_INLINE __u16 csum_fold64(__u64 s)
{
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* 64-bit accumulator -> 32-bit __wsum for the kernel helpers. */
EKP_INLINE __u32 csum_to_wsum(__u64 s)
{
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffffffffULL) + (s >> 32);
	return (__u32)s;
}

EKP_INLINE __u64 csum_diff32(__u64 acc, __u32 from, __u32 to)
{
	return acc + (__u32)~from + to;
}

EKP_INLINE __u64 csum_diff16(__u64 acc, __u16 from, __u16 to)
{
	return acc + (__u16)~from + to;
}

EKP_INLINE __u64 csum_diff_addr(__u64 acc, const union ekp_addr *from,
				const union ekp_addr *to, __u8 family)
{
	acc = csum_diff32(acc, from->v6[0], to->v6[0]);
	if (family == EKP_FAMILY_V6) {
		acc = csum_diff32(acc, from->v6[1], to->v6[1]);
		acc = csum_diff32(acc, from->v6[2], to->v6[2]);
		acc = csum_diff32(acc, from->v6[3], to->v6[3]);
	}
	return acc;
}

/* Patch a checksum field in place by a diff (RFC 1624 eqn. 3). */
EKP_INLINE __u16 csum_apply(__u16 old, __u64 diff)
{
	return (__u16)~csum_fold64(diff + (__u16)~old);
}

/*
 * The kernel's csum_add() and csum_fold() on a __wsum, bit for bit
 * (include/asm-generic/checksum.h, include/net/checksum.h), so a field
 * patched here holds exactly what bpf_l4_csum_replace() would have written.
 */
EKP_INLINE __u32 kcsum_add(__u32 a, __u32 b)
{
	__u32 r = a + b;

	return r + (r < b);
}

EKP_INLINE __u16 kcsum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Fold a freshly summed region (seeded) into a final checksum field value. */
EKP_INLINE __u16 csum_finish(__u64 sum)
{
	return (__u16)~csum_fold64(sum);
}

/* Pseudo-header sum for a full (re)computation. len and proto host order. */
EKP_INLINE __u64 csum_pseudo(const union ekp_addr *s, const union ekp_addr *d,
			     __u8 family, __u32 len, __u8 proto)
{
	__u64 acc = 0;
	int n = family == EKP_FAMILY_V6 ? 4 : 1;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i < n)
			acc += (__u64)s->v6[i] + d->v6[i];
	}
	acc += bpf_htonl(len) + bpf_htonl((__u32)proto);
	return acc;
}

#endif /* EKP_CSUM_H */
