/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * keys.h — hash map keys written in whole 64-bit words.
 *
 * The kernel hashes a key in 32-bit loads (jhash2) and compares it in 64-bit
 * ones (memcmp). A load that spans several smaller stores cannot be forwarded
 * from the store buffer and waits for them to reach the cache: a key built
 * field by field (a u16 port, a u8 protocol, u32 address words) stalled every
 * lookup a few times. Written as u64 words, every load the kernel makes lies
 * inside one store. A packet that matches nothing (two lookups) went from 63
 * to 50 ns, a new flow from 768 to 718 (scripts/ab-datapath.sh). The words
 * are written through a may_alias type, since the fields are read back by
 * name, and the structs are 8-byte aligned (ekp_abi.h), since the verifier
 * refuses a u64 stack store that is not.
 *
 * EKP_AT places a field of `bytes` bytes at byte `off` of a word, as the
 * struct lays it out in memory, in either byte order; the asserts tie the
 * offsets used here to the structs in ekp_abi.h.
 */
#ifndef EKP_KEYS_H
#define EKP_KEYS_H

#include "common.h"

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define EKP_AT(v, off, bytes) ((__u64)(v) << (8 * (off)))
#else
#define EKP_AT(v, off, bytes) ((__u64)(v) << (64 - 8 * ((off) + (bytes))))
#endif

_Static_assert(__builtin_offsetof(struct ekp_svc_key, port) == 16 &&
	       __builtin_offsetof(struct ekp_svc_key, proto) == 18 &&
	       __builtin_offsetof(struct ekp_svc_key, family) == 19 &&
	       __builtin_offsetof(struct ekp_svc_key, scope) == 20 &&
	       sizeof(struct ekp_svc_key) == 24 && _Alignof(struct ekp_svc_key) == 8,
	       "svc_key_set writes ekp_svc_key as three words");
_Static_assert(__builtin_offsetof(struct ekp_ct4_key, daddr) == 4 &&
	       __builtin_offsetof(struct ekp_ct4_key, sport) == 8 &&
	       __builtin_offsetof(struct ekp_ct4_key, dport) == 10 &&
	       __builtin_offsetof(struct ekp_ct4_key, proto) == 12 &&
	       sizeof(struct ekp_ct4_key) == 16 && _Alignof(struct ekp_ct4_key) == 8,
	       "ct4_key_set writes ekp_ct4_key as two words");
_Static_assert(__builtin_offsetof(struct ekp_ct_key, daddr) == 16 &&
	       __builtin_offsetof(struct ekp_ct_key, sport) == 32 &&
	       __builtin_offsetof(struct ekp_ct_key, dport) == 34 &&
	       __builtin_offsetof(struct ekp_ct_key, proto) == 36 &&
	       __builtin_offsetof(struct ekp_ct_key, family) == 37 &&
	       sizeof(struct ekp_ct_key) == 40 && _Alignof(struct ekp_ct_key) == 8,
	       "ct_key_set writes ekp_ct_key as five words");

typedef __u64 __attribute__((may_alias)) ekp_key_word;

/* Word i (0 or 1) of an address as it lies in memory. */
EKP_INLINE __u64 addr_word(const union ekp_addr *a, int i)
{
	return EKP_AT(a->v6[2 * i], 0, 4) | EKP_AT(a->v6[2 * i + 1], 4, 4);
}

EKP_INLINE void svc_key_set(struct ekp_svc_key *k, const union ekp_addr *addr, __be16 port,
			    __u8 proto, __u8 family, __u8 scope)
{
	ekp_key_word *w = (ekp_key_word *)k;

	w[0] = addr_word(addr, 0);
	w[1] = addr_word(addr, 1);
	w[2] = EKP_AT(port, 0, 2) | EKP_AT(proto, 2, 1) | EKP_AT(family, 3, 1) | EKP_AT(scope, 4, 1);
}

EKP_INLINE void ct4_key_set(struct ekp_ct4_key *k, __be32 saddr, __be32 daddr,
			    __be16 sport, __be16 dport, __u8 proto)
{
	ekp_key_word *w = (ekp_key_word *)k;

	w[0] = EKP_AT(saddr, 0, 4) | EKP_AT(daddr, 4, 4);
	w[1] = EKP_AT(sport, 0, 2) | EKP_AT(dport, 2, 2) | EKP_AT(proto, 4, 1);
}

EKP_INLINE void ct_key_set(struct ekp_ct_key *k, const union ekp_addr *saddr, const union ekp_addr *daddr,
			   __be16 sport, __be16 dport, __u8 proto, __u8 family)
{
	ekp_key_word *w = (ekp_key_word *)k;

	w[0] = addr_word(saddr, 0);
	w[1] = addr_word(saddr, 1);
	w[2] = addr_word(daddr, 0);
	w[3] = addr_word(daddr, 1);
	w[4] = EKP_AT(sport, 0, 2) | EKP_AT(dport, 2, 2) | EKP_AT(proto, 4, 1) | EKP_AT(family, 5, 1);
}

#endif /* EKP_KEYS_H */
