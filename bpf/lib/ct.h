/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ct.h — connection tracking for NATed flows (ekp_ct4_v2 and ekp_ct_v2, LRU).
 *
 * Each direction has its own entry (FWD, REV; see ekp_abi.h) keyed by the
 * tuple as it appears on the wire, so one lookup classifies a packet.
 * Each entry follows the TCP state of its own direction; its timeout comes
 * from that state. A full table is handled by the LRU (oldest flows go);
 * insert failures are counted, never fatal unless the flow needs SNAT.
 */
#ifndef EKP_CT_H
#define EKP_CT_H

#include "common.h"
#include "keys.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"

EKP_INLINE void ct_key_from_pkt(struct ekp_ct_key *k, const struct pkt *p)
{
	ct_key_set(k, &p->saddr, &p->daddr, p->sport, p->dport, p->proto, p->family);
}

EKP_INLINE __u8 ct_next_state(__u8 cur, const struct pkt *p)
{
	__u8 f = p->tcp_flags;

	if (p->proto != IPPROTO_TCP)
		return EKP_CT_STATE_NEW;
	if (f & (TCPF_RST_ | TCPF_FIN_))
		return EKP_CT_STATE_CLOSING;
	if (cur == EKP_CT_STATE_CLOSING)
		return cur;
	if (f & TCPF_SYN_)
		return (f & TCPF_ACK_) && cur == EKP_CT_STATE_ESTABLISHED ?
			EKP_CT_STATE_ESTABLISHED : EKP_CT_STATE_SYN;
	if (f & TCPF_ACK_)
		return EKP_CT_STATE_ESTABLISHED;
	return cur;
}

EKP_INLINE __u64 ct_lifetime_ns(__u8 state, __u8 proto)
{
	__u32 s;

	if (proto == IPPROTO_TCP) {
		switch (state) {
		case EKP_CT_STATE_ESTABLISHED: s = ekp_cfg.ct_timeout_established_s; break;
		case EKP_CT_STATE_CLOSING:     s = ekp_cfg.ct_timeout_closing_s; break;
		default:                       s = ekp_cfg.ct_timeout_syn_s; break;
		}
	} else if (proto == IPPROTO_UDP) {
		s = ekp_cfg.ct_timeout_udp_s;
	} else {
		s = ekp_cfg.ct_timeout_other_s;
	}
	return (__u64)s * EKP_NSEC_PER_SEC;
}

EKP_INLINE int ct_expired(const struct ekp_ct_val *v, __u64 now)
{
	return v->expires_ns < now;
}

/* A handshake SYN (without ACK). */
EKP_INLINE int ct_is_syn(const struct pkt *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_SYN_ | TCPF_ACK_)) == TCPF_SYN_;
}

/* A TCP SYN (without ACK) on a closing entry opens a new connection that
 * reuses the tuple: treat it as a new flow. */
EKP_INLINE int ct_is_reopen(const struct ekp_ct_val *v, const struct pkt *p)
{
	return v->state == EKP_CT_STATE_CLOSING && ct_is_syn(p);
}

/* The REV entry of a flow whose client packet, before NAT, is p: what its
 * replies are rewritten back to. */
EKP_INLINE void ct_rev_val(struct ekp_ct_val *rv, const struct pkt *p, __u32 svc_id,
			   __u32 backend_id, __u8 flags, __u64 expires_ns)
{
	__builtin_memset(rv, 0, sizeof(*rv));
	rv->expires_ns = expires_ns;
	addr_copy(&rv->addr, &p->daddr);
	rv->port = p->dport;
	addr_copy(&rv->addr2, &p->saddr);
	rv->port2 = p->sport;
	rv->svc_id = svc_id;
	rv->backend_id = backend_id;
	rv->type = EKP_CT_REV;
	rv->state = p->proto == IPPROTO_TCP ? EKP_CT_STATE_SYN : EKP_CT_STATE_NEW;
	rv->flags = flags;
}

EKP_INLINE void ct_refresh(struct ekp_ct_val *v, const struct pkt *p, __u64 now)
{
	__u8 st = ct_next_state(v->state, p);
	/* The other half was reset (ct_close_other): the flow is over, whatever
	 * this half's late packets say. */
	__u64 exp = now + ct_lifetime_ns((v->flags & EKP_CT_F_RESET) ? EKP_CT_STATE_CLOSING : st, p->proto);

	if (v->state != st)
		v->state = st;
	/* Avoid dirtying the cache line for every packet of a busy flow. */
	if (exp - v->expires_ns > EKP_NSEC_PER_SEC || v->expires_ns > exp)
		v->expires_ns = exp;
	if ((v->tcp_flags_seen | p->tcp_flags) != v->tcp_flags_seen)
		v->tcp_flags_seen |= p->tcp_flags;
}

/*
 * Map access by a full key: an IPv4 tuple goes to ekp_ct4_v2 under its
 * short key, anything else to ekp_ct_v2. Callers build one ekp_ct_key and
 * never care which map holds it.
 */
EKP_INLINE void ct4_key_of(struct ekp_ct4_key *k4, const struct ekp_ct_key *k)
{
	ct4_key_set(k4, k->saddr.v4, k->daddr.v4, k->sport, k->dport, k->proto);
}

EKP_INLINE long ct_map_update(const struct ekp_ct_key *k, const struct ekp_ct_val *v, __u64 flags)
{
	struct ekp_ct4_key k4;

	if (k->family == EKP_FAMILY_V4) {
		ct4_key_of(&k4, k);
		return bpf_map_update_elem(&ekp_ct4_v2, &k4, v, flags);
	}
	return bpf_map_update_elem(&ekp_ct_v2, k, v, flags);
}

EKP_INLINE long ct_map_delete(const struct ekp_ct_key *k)
{
	struct ekp_ct4_key k4;

	if (k->family == EKP_FAMILY_V4) {
		ct4_key_of(&k4, k);
		return bpf_map_delete_elem(&ekp_ct4_v2, &k4);
	}
	return bpf_map_delete_elem(&ekp_ct_v2, k);
}

EKP_INLINE struct ekp_ct_val *ct_map_lookup(const struct ekp_ct_key *k)
{
	struct ekp_ct4_key k4;

	if (k->family == EKP_FAMILY_V4) {
		ct4_key_of(&k4, k);
		return bpf_map_lookup_elem(&ekp_ct4_v2, &k4);
	}
	return bpf_map_lookup_elem(&ekp_ct_v2, k);
}

/*
 * The tuple of an entry's key, or of the packet that found it, by its
 * parts: a packet's is in its struct pkt, so the RST path builds no key of
 * its own for it (its frame has to fit under tc_ingress's).
 */
struct ct_tuple {
	const union ekp_addr *saddr, *daddr;
	__be16 sport, dport;
	__u8 proto, family;
};

#define CT_TUPLE_OF(t) ((struct ct_tuple){ &(t)->saddr, &(t)->daddr, (t)->sport, (t)->dport, (t)->proto, (t)->family })

/* The key of the other direction's entry of v, the entry at t. */
EKP_INLINE void ct_other_key(struct ekp_ct_key *o, struct ct_tuple t, const struct ekp_ct_val *v)
{
	if (v->type == EKP_CT_REV)
		ct_key_set(o, &v->addr2, &v->addr, v->port2, v->port, t.proto, t.family);
	else if (v->flags & EKP_CT_F_SNAT)
		ct_key_set(o, &v->addr, &v->addr2, v->port, v->port2, t.proto, t.family);
	else
		ct_key_set(o, &v->addr, t.saddr, v->port, t.sport, t.proto, t.family);
}

/*
 * Whether o, found at v's other key, is v's other half: a SNAT port or a
 * client port comes round again, so the entry there may be a newer flow's.
 * A REV entry names its client (addr2, port2), the source of its FWD key; a
 * SNAT FWD entry names its SNAT address and port, the destination of its
 * REV key. Without SNAT the keys themselves pair them.
 */
EKP_INLINE int ct_paired(struct ct_tuple t, const struct ekp_ct_val *v, const struct ekp_ct_val *o)
{
	/* Both halves of a flow carry its flags (ct_create, rev_restart). */
	if (o->type == v->type || o->svc_id != v->svc_id || o->backend_id != v->backend_id ||
	    ((o->flags ^ v->flags) & EKP_CT_F_SNAT))
		return 0;
	if (v->type == EKP_CT_FWD)
		return addr_eq(&o->addr2, t.saddr) && o->port2 == t.sport;
	if (o->flags & EKP_CT_F_SNAT)
		return addr_eq(&o->addr2, t.daddr) && o->port2 == t.dport;
	return 1;
}

/* The other half of v, the entry at t, or NULL. */
EKP_INLINE struct ekp_ct_val *ct_other_half(struct ct_tuple t, const struct ekp_ct_val *v)
{
	struct ekp_ct_val *o;
	struct ekp_ct_key ok;

	ct_other_key(&ok, t, v);
	o = ct_map_lookup(&ok);
	return o && ct_paired(t, v, o) ? o : NULL;
}

/*
 * Linux keeps one conntrack entry per flow, kept alive by the packets of
 * either direction; we keep one per direction, each refreshed by its own.
 * Alone, that ends a flow whose one side is quiet: a REV entry left in SYN
 * after the handshake expires in 60 s while the client, its connection
 * established, has not sent anything yet, and the backend's first answer
 * then goes out untranslated; a UDP server that answers less often than
 * the UDP timeout, or a client quiet after its FIN while the server still
 * sends, loses the flow the same way. So an expired entry whose other half
 * is live belongs to a live flow: the datapath refreshes it with the
 * packet, the GC keeps it, and ICMP errors about it are translated. Only
 * the expired path pays the lookup.
 */
EKP_INLINE int ct_other_live(struct ct_tuple t, const struct ekp_ct_val *v, __u64 now)
{
	struct ekp_ct_val *o = ct_other_half(t, v);

	return o && !ct_expired(o, now);
}

/*
 * A RST ends the whole flow: Linux's single entry goes to CLOSE (10 s) on
 * one from either side. Ours would close only the half it passed through,
 * and the other half, due at its state's timeout, would keep both alive
 * for as long (ct_other_live): a client's RST left the REV entry's SNAT
 * port taken for hours. So the other half is due when this one is, and
 * marked (EKP_CT_F_RESET) so that its own late packets (the backend's data
 * in flight) cannot put it back at the established timeout. Its state
 * stays: a client's SYN from the same port after the backend's RST is
 * still the flow's, with the same backend, as Linux reopens an entry the
 * other side reset (nf_conntrack_proto_tcp.c), and clears the mark
 * (handle_fwd, rev_restart); after the client's own RST its FWD entry is
 * closing, and a SYN opens a new flow (ct_is_reopen).
 * A global function, verified once on its own: only RSTs take this path.
 * Its pointer arguments may be NULL to the verifier, so they are checked.
 */
__attribute__((noinline)) int ct_close_other(const struct pkt *p, const struct ekp_ct_val *v, __u64 now)
{
	struct ekp_ct_val *o;
	__u64 exp;

	if (!p || !v)
		return 0;
	o = ct_other_half(CT_TUPLE_OF(p), v);
	if (!o)
		return 0;
	exp = now + ct_lifetime_ns(EKP_CT_STATE_CLOSING, IPPROTO_TCP);
	if (o->expires_ns > exp)
		o->expires_ns = exp;
	if (!(o->flags & EKP_CT_F_RESET))
		o->flags |= EKP_CT_F_RESET;
	return 1;
}

EKP_INLINE int ct_is_rst(const struct pkt *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & TCPF_RST_);
}

/* A packet of the flow through entry v: its half moves on, and a RST ends the other too. */
EKP_INLINE void ct_seen(struct ekp_ct_val *v, const struct pkt *p, __u64 now)
{
	ct_refresh(v, p, now);
	if (ct_is_rst(p))
		ct_close_other(p, v, now);
}

/* Whether v, the entry at k, is still its flow's: not expired, or its other half live. */
EKP_INLINE int ct_live(const struct ekp_ct_key *k, const struct ekp_ct_val *v, __u64 now)
{
	return !ct_expired(v, now) || ct_other_live(CT_TUPLE_OF(k), v, now);
}

/* ct_live for an entry of ekp_ct4_v2, by its short key. */
EKP_INLINE int ct4_live(const struct ekp_ct4_key *k4, const struct ekp_ct_val *v, __u64 now)
{
	union ekp_addr saddr = {}, daddr = {};

	if (!ct_expired(v, now))
		return 1;
	saddr.v4 = k4->saddr;
	daddr.v4 = k4->daddr;
	return ct_other_live((struct ct_tuple){ &saddr, &daddr, k4->sport, k4->dport, k4->proto, EKP_FAMILY_V4 }, v, now);
}

/*
 * A REV entry outlives its flow (the closing timeout, then until the GC),
 * and its key is a plain 4-tuple: a backend answering a client that reached
 * it directly, not through the frontend, from the same port (a kubelet's
 * probe after a ClusterIP request, a pod that used a Service before) sends
 * packets that match it. Rewritten to come from the frontend, they never
 * reach that client's socket: its handshake times out. A handshake through
 * the frontend puts the REV entry back in SYN before the backend can answer
 * it (a reopen replaces the entry, handle_new; a SYN on a live FWD entry
 * restarts it, handle_fwd), so a SYN on a closing entry means the flow
 * is over; so does an expiry with the FWD entry gone or expired too (as
 * for the GC: ct_other_live). The stale entry is deleted:
 * the rest of the direct connection finds nothing, and it is counted.
 * The tuple of a live flow reused directly is a clash at the backend itself,
 * which only a source port rewrite could settle (netfilter's NAT does one).
 */
EKP_INLINE int ct_rev_stale(struct ekp_ctx *ctx, const struct pkt *p, const struct ekp_ct_val *rev, __u64 now)
{
	int closing_syn = p->proto == IPPROTO_TCP && rev->state == EKP_CT_STATE_CLOSING &&
			  (p->tcp_flags & TCPF_SYN_);
	struct ekp_ct_key k;

	if (!closing_syn && !ct_expired(rev, now))
		return 0;
	ct_key_from_pkt(&k, p);
	if (!closing_syn && ct_other_live(CT_TUPLE_OF(&k), rev, now))
		return 0;
	ct_map_delete(&k);
	count_event(ctx, EKP_EV_CT_STALE_REV);
	return 1;
}

EKP_INLINE struct ekp_ct_val *ct_lookup(const struct pkt *p)
{
	struct ekp_ct4_key k4;
	struct ekp_ct_key k;

	/* Every packet comes here: build the short key straight from it. */
	if (p->family == EKP_FAMILY_V4) {
		ct4_key_set(&k4, p->saddr.v4, p->daddr.v4, p->sport, p->dport, p->proto);
		return bpf_map_lookup_elem(&ekp_ct4_v2, &k4);
	}
	ct_key_from_pkt(&k, p);
	return bpf_map_lookup_elem(&ekp_ct_v2, &k);
}

#endif /* EKP_CT_H */
