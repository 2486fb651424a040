/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lb.h — service lookup, loadBalancerSourceRanges, backend selection
 * (ClientIP affinity, random, Maglev) over the shared slot pool.
 */
#ifndef EKP_LB_H
#define EKP_LB_H

#include "common.h"
#include "keys.h"
#include "maps.h"
#include "stats.h"
#include "tuple.h"

EKP_INLINE int svc_has(const struct ekp_svc_val *s, __u32 f)
{
	return (s->flags & f) != 0;
}

/* Packets that originate on this node (a local pod or the host) may use the
 * internal-scope entry of a two-scope service (eTP vs iTP slot sets). */
EKP_INLINE int origin_is_local(void)
{
	return (ekp_cfg.flags & (EKP_CFG_F_FROM_PODS | EKP_CFG_F_FROM_HOST)) != 0;
}

EKP_INLINE struct ekp_svc_val *svc_lookup_scoped(const struct pkt *p, int local)
{
	struct ekp_svc_key k;
	struct ekp_svc_val *s, *si;

	svc_key_set(&k, &p->daddr, p->dport, p->proto, p->family, EKP_SCOPE_EXT);
	s = bpf_map_lookup_elem(&ekp_svc_v1, &k);
	if (s && svc_has(s, EKP_SVC_F_TWO_SCOPES) && local) {
		svc_key_set(&k, &p->daddr, p->dport, p->proto, p->family, EKP_SCOPE_INT);
		si = bpf_map_lookup_elem(&ekp_svc_v1, &k);
		if (si)
			return si;
	}
	return s;
}

EKP_INLINE struct ekp_svc_val *svc_lookup(const struct pkt *p)
{
	return svc_lookup_scoped(p, origin_is_local());
}

EKP_INLINE int src_range_allowed(const struct ekp_svc_val *s, const struct pkt *p)
{
	struct ekp_srcrange_key k;
	struct ekp_srcrange_val *v;

	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = EKP_SRCRANGE_PREFIX_BASE +
		      (p->family == EKP_FAMILY_V6 ? 128 : 32);
	k.svc_id = s->svc_id;
	k.family = p->family;
	addr_copy(&k.addr, &p->saddr);
	v = bpf_map_lookup_elem(&ekp_srcrange_v1, &k);
	return v && v->allow;
}

/* murmur3-style mixing; the flow hash needs no userspace twin. */
EKP_INLINE __u32 mix32(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = (k << 15) | (k >> 17);
	k *= 0x1b873593;
	h ^= k;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64;
}

EKP_INLINE __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

EKP_INLINE __u32 flow_hash(const struct pkt *p, int with_sport)
{
	__u32 h = 0x6b8b4567;

	h = mix32(h, p->saddr.v6[0]);
	h = mix32(h, p->saddr.v6[1]);
	h = mix32(h, p->saddr.v6[2]);
	h = mix32(h, p->saddr.v6[3]);
	h = mix32(h, p->daddr.v6[0] ^ p->daddr.v6[3]);
	h = mix32(h, ((__u32)(with_sport ? p->sport : 0) << 16) | p->dport);
	h = mix32(h, p->proto);
	return fmix32(h);
}

EKP_INLINE int backend_usable(const struct ekp_backend_val *b)
{
	return b && b->family && !(b->flags & EKP_BE_F_TERMINATING);
}

/*
 * Pick a backend for a new flow. Returns the backend id (>0) and sets *be,
 * 0 if the service has no slots, or a negative drop reason. `hashed`: pick
 * by the hash of p even where the service picks at random (what p holds
 * stands for a flow that has no conntrack entry to remember its backend).
 */
EKP_INLINE long lb_select(const struct ekp_svc_val *s, const struct pkt *p,
			  struct ekp_backend_val **be, __u64 now,
			  struct ekp_ctx *ctx, int hashed)
{
	struct ekp_affinity_key ak;
	struct ekp_affinity_val *av, nav;
	struct ekp_backend_val *b;
	struct ekp_slot_pair *pair;
	__u32 len = s->slot_len, idx, slot;
	int affinity = svc_has(s, EKP_SVC_F_AFFINITY);

	if (len == 0)
		return 0;
	if (affinity) {
		__builtin_memset(&ak, 0, sizeof(ak));
		ak.svc_id = s->svc_id;
		ak.family = p->family;
		/* As kube-proxy's per-endpoint affinity is checked within its
		 * chain's endpoints only: a Local frontend never takes a
		 * backend that a client's affinity got from the cluster set
		 * (through another frontend of the service), nor the reverse. */
		ak.local_set = svc_has(s, EKP_SVC_F_LOCAL_SET);
		addr_copy(&ak.client, &p->saddr);
		av = bpf_map_lookup_elem(&ekp_affinity_v1, &ak);
		if (av && now - av->last_used_ns <=
			  (__u64)s->affinity_timeout_s * EKP_NSEC_PER_SEC) {
			__u32 aid = av->backend_id;

			b = bpf_map_lookup_elem(&ekp_backend_v1, &aid);
			if (backend_usable(b)) {
				av->last_used_ns = now;
				count_event(ctx, EKP_EV_AFFINITY_HIT);
				*be = b;
				return aid;
			}
		}
	}
	if (hashed || svc_has(s, EKP_SVC_F_MAGLEV))
		idx = flow_hash(p, !affinity) % len;
	else
		idx = bpf_get_prandom_u32() % len;
	slot = s->slot_off + idx;
	idx = slot >> 1;
	pair = bpf_map_lookup_elem(&ekp_slots_v2, &idx);
	if (!pair)
		return -EKP_DROP_BACKEND_MISSING;
	slot = pair->id[slot & 1];
	if (slot == 0)
		return -EKP_DROP_BACKEND_MISSING;
	b = bpf_map_lookup_elem(&ekp_backend_v1, &slot);
	if (!b || !b->family)
		return -EKP_DROP_BACKEND_MISSING;
	if (affinity) {
		nav.last_used_ns = now;
		nav.backend_id = slot;
		nav.pad = 0;
		bpf_map_update_elem(&ekp_affinity_v1, &ak, &nav, BPF_ANY);
	}
	*be = b;
	return slot;
}

#endif /* EKP_LB_H */
