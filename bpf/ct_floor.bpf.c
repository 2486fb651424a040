/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ct_floor — `bench datapath` only, never attached: the part of a new flow
 * that any hash-map conntrack pays, with nothing of the rest. Parse, a
 * conntrack miss, then the datapath's own ct_create() for a SNAT flow (the
 * REV entry on a random port, NOEXIST, and the FWD entry) to one of ten
 * fixed backends; no service lookup, backend choice, rewrite or forwarding. Fed
 * new flows as syn_vip's tc_ingress is (syn_feed.bpf.c), it tells how much of a
 * new flow's cost is the conntrack miss and the two LRU inserts themselves.
 *
 * tc_flow_floor is the least a load balancer that remembers its flows can do
 * for a new one: parse, the conntrack miss, and ONE insert of a FWD value
 * (its contents do not change what the insert costs). One entry per flow is
 * Katran's whole per-flow state; we keep two, since replies come back through us.
 */
#include "lib/pipeline.h"

/* TEST-NET-3: no synthetic backend lives here, so no REV key collides with a real flow's.
 * Ten of them, as a synthetic service has: with one, the SNAT port draws of a batch would
 * collide (and retry, each retry an insert attempt) ten times as often as syn_vip's. */
#define CT_FLOOR_BACKEND 0xcb007101 /* 203.0.113.1 */
#define CT_FLOOR_BACKENDS 10

/*
 * What both programs do before their inserts: parse, the conntrack miss, and
 * the per-CPU scratch value (taken as the datapath takes it, so its lookup is
 * paid here too), zeroed. NULL: not a new IPv4 flow, nothing to insert.
 */
EKP_INLINE struct ct_scratch *floor_new_flow(struct __sk_buff *skb, struct pkt *p)
{
	struct ct_scratch *sc;

	if (parse_packet(skb, p) != EKP_CONTINUE || p->family != EKP_FAMILY_V4)
		return NULL;
	if (ct_lookup(p))
		return NULL;
	sc = ct_scratch();
	if (sc)
		__builtin_memset(&sc->fwd, 0, sizeof(sc->fwd));
	return sc;
}

EKP_INLINE __be32 floor_backend(const struct pkt *p)
{
	return bpf_htonl(CT_FLOOR_BACKEND + bpf_ntohs(p->sport) % CT_FLOOR_BACKENDS);
}

SEC("tc")
int tc_ct_floor(struct __sk_buff *skb)
{
	struct ekp_backend_val be;
	struct ekp_svc_val svc;
	struct ct_scratch *sc;
	struct pkt p;

	sc = floor_new_flow(skb, &p);
	if (!sc)
		return TC_ACT_OK;
	__builtin_memset(&svc, 0, sizeof(svc));
	__builtin_memset(&be, 0, sizeof(be));
	svc.svc_id = 1;
	be.addr.v4 = floor_backend(&p);
	be.port = bpf_htons(8080);
	be.family = EKP_FAMILY_V4;
	snat_addr(&sc->fwd.addr2, p.family, 0);
	if (ct_create(skb, &p, &svc, 1, &be, sc, EKP_CT_F_SNAT | EKP_CT_F_EXTERNAL, ekp_now()) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int tc_flow_floor(struct __sk_buff *skb)
{
	struct ekp_ct_val *fwd;
	struct ct_scratch *sc;
	struct ekp_ct_key k;
	struct pkt p;

	sc = floor_new_flow(skb, &p);
	if (!sc)
		return TC_ACT_OK;
	fwd = &sc->fwd;
	fwd->expires_ns = ekp_now() + ct_lifetime_ns(EKP_CT_STATE_SYN, p.proto);
	fwd->addr.v4 = floor_backend(&p);
	fwd->port = bpf_htons(8080);
	fwd->svc_id = 1;
	fwd->type = EKP_CT_FWD;
	fwd->state = EKP_CT_STATE_SYN;
	fwd->tcp_flags_seen = p.tcp_flags;
	ct_key_from_pkt(&k, &p);
	if (ct_map_update(&k, fwd, BPF_ANY) < 0) {
		count_event(skb, EKP_EV_CT_INSERT_FAIL);
		return TC_ACT_SHOT;
	}
	count_event(skb, EKP_EV_CT_CREATED);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
