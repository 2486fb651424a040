/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pipeline.h — the service datapath as one straight line, shared by tc and
 * XDP:  parse -> conntrack (FWD: DNAT again, REV: reverse NAT) -> service
 * lookup -> source ranges -> backend selection -> SNAT decision -> CT create
 * -> rewrite -> forward.  Returns an EKP_V_* verdict.
 */
#ifndef EKP_PIPELINE_H
#define EKP_PIPELINE_H

#include "common.h"
#include "maps.h"
#include "parse.h"
#include "stats.h"
#include "ct.h"
#include "lb.h"
#include "nat.h"
#include "reject.h"
#include "icmp_err.h"
#include "echo.h"

#ifndef AF_INET
#define AF_INET  2
#define AF_INET6 10
#endif

#ifndef EKP_XDP
/* Every network namespace's loopback device has this ifindex (the kernel's LOOPBACK_IFINDEX). */
#define EKP_LOOPBACK_IFINDEX 1

/*
 * A packet rewritten for one of this node's own addresses: a host process's
 * request DNATed to a host-network backend here, or a reply to the node
 * itself that came in from a backend. It must come in as if sent to that
 * address, through lo, instead of leaving by the device it was routed to for
 * the frontend or entering where IPv4 would take its node-address source for
 * a martian. lo's address is all zeros: with that destination MAC the stack
 * takes the frame as its own; lo's accept_local (the daemon sets it) lets
 * IPv4 take a source of its own there (one we wrote: a frontend or the SNAT
 * address, never the sender's choice). Replies leave through lo, where
 * tc_egress runs too.
 */
EKP_INLINE int to_loopback(struct ekp_ctx *ctx)
{
	__u64 zero = 0;

	if (bpf_skb_store_bytes(ctx, 0, &zero, ETH_ALEN, 0) < 0)
		return EKP_V_PASS;
	if (bpf_redirect(EKP_LOOPBACK_IFINDEX, BPF_F_INGRESS) != TC_ACT_REDIRECT)
		return EKP_V_PASS;
	count_event(ctx, EKP_EV_REDIRECT);
	return EKP_V_REDIRECT;
}

/*
 * A packet this hook sends on to another device is forwarded as the stack
 * forwards (ip_forward, ip6_forward): its TTL or hop limit goes down by one,
 * so that traceroute counts this node and a routing loop through it ends.
 * One with 1 or less left is not sent on: forward() answers a request's
 * sender with a time exceeded, as the stack would, and leaves a reply to
 * the stack, which does not send it on either. (Mostly it drops it: what tc
 * reroutes has a new source the stack refuses, one of this node's addresses
 * or a frontend that reverse-path filtering turns away.) What a process on this
 * node sent (FROM_HOST) was not forwarded here: it keeps what the sender
 * set, or what the stack left when it forwarded it. The IPv4 header's sum
 * does not change (its checksum takes the TTL's change, as
 * ip_decrease_ttl); IPv6's hop limit is covered by no checksum, so
 * skb->csum takes it under CHECKSUM_COMPLETE (elsewhere bpf_csum_update
 * does nothing). The redirects that follow cannot fail (flags 0), so a
 * packet lowered here is never lowered again by the stack. Returns 0, or
 * -1 for a packet not to send on.
 */
EKP_INLINE int hop_down(struct ekp_ctx *ctx, __u8 family)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);

	if (ekp_cfg.flags & EKP_CFG_F_FROM_HOST)
		return 0;
	if (family == EKP_FAMILY_V4) {
		struct iphdr *ip = data + ETH_HLEN_;
		__u32 check;

		if ((void *)(ip + 1) > end)
			return -1;
		if (ip->ttl <= 1)
			goto exceeded;
		check = ip->check;
		check += bpf_htons(0x0100);
		ip->check = (__u16)(check + (check >= 0xffff));
		ip->ttl--;
		return 0;
	}
	{
		struct ipv6hdr *ip6 = data + ETH_HLEN_;
		__u16 *word, was;

		if ((void *)(ip6 + 1) > end)
			return -1;
		if (ip6->hop_limit <= 1)
			goto exceeded;
		/* hop_limit shares a 16-bit word of the sum with nexthdr. */
		word = (__u16 *)&ip6->nexthdr;
		was = *word;
		ip6->hop_limit--;
		bpf_csum_update(ctx, csum_to_wsum(csum_diff16(0, was, *word)));
		return 0;
	}
exceeded:
	count_event(ctx, EKP_EV_TTL_EXCEEDED);
	return -1;
}

/* Sends the packet, of family pf (EKP_FAMILY_*), to next hop nh (of family
 * AF_INET/AF_INET6) out of oif. */
EKP_INLINE int redirect_nh(struct ekp_ctx *ctx, __u8 pf, __u32 oif, __u8 family, const union ekp_addr *nh)
{
	struct bpf_redir_neigh r;

	if (hop_down(ctx, pf) < 0)
		return EKP_V_NO_HOP;
	__builtin_memset(&r, 0, sizeof(r));
	r.nh_family = family;
	if (family == AF_INET)
		r.ipv4_nh = nh->v4;
	else
		__builtin_memcpy(r.ipv6_nh, nh->v6, sizeof(r.ipv6_nh));
	if (bpf_redirect_neigh(oif, &r, sizeof(r), 0) != TC_ACT_REDIRECT)
		return EKP_V_PASS;
	count_event(ctx, EKP_EV_REDIRECT);
	return EKP_V_REDIRECT;
}

/* The epoch of a cached next hop: ~1.07 s of CLOCK_MONOTONIC. */
EKP_INLINE __u32 nh_epoch(__u64 now)
{
	return (__u32)(now >> 30);
}

/*
 * An answer is kept as bpf_fib_lookup leaves it in struct bpf_fib_lookup:
 * ifindex (the device to send by), mtu_result, family (of the next hop) and
 * the next hop in ipv6_dst, an IPv4 one in its first word and zeros after it
 * (the lookup's struct is zeroed before, and an IPv4 answer writes one word).
 * A kept answer is read back into the same struct, so reroute's frame holds
 * one of them: it runs as a function of its own, whose frame adds to
 * tc_ingress's, and the two may not exceed 512 bytes.
 */
EKP_INLINE const union ekp_addr *fib_nh(const struct bpf_fib_lookup *fib)
{
	return (const union ekp_addr *)fib->ipv6_dst;
}

/* redirect_nh for the answer in fib. Its struct bpf_redir_neigh is laid over
 * fib: the next hop already where ipv6_nh goes, the family on the last word
 * of ipv6_src, which an answer does not use. */
EKP_INLINE int redirect_fib(struct ekp_ctx *ctx, __u8 pf, struct bpf_fib_lookup *fib)
{
	struct bpf_redir_neigh *r = (struct bpf_redir_neigh *)&fib->ipv6_src[3];

	if (hop_down(ctx, pf) < 0)
		return EKP_V_NO_HOP;

	_Static_assert(__builtin_offsetof(struct bpf_fib_lookup, ipv6_dst) ==
		       __builtin_offsetof(struct bpf_fib_lookup, ipv6_src) + 3 * 4 + __builtin_offsetof(struct bpf_redir_neigh, ipv6_nh),
		       "ipv6_nh must fall on ipv6_dst");
	r->nh_family = fib->family;
	if (bpf_redirect_neigh(fib->ifindex, r, sizeof(*r), 0) != TC_ACT_REDIRECT)
		return EKP_V_PASS;
	count_event(ctx, EKP_EV_REDIRECT);
	return EKP_V_REDIRECT;
}

/* Whether an answer kept for device iif in epoch `epoch` may send this
 * packet: this epoch, the device it came in on, and within the kept MTU or
 * GSO (see reroute). */
EKP_INLINE int nh_fits(const struct ekp_ctx *ctx, __u32 oif, __u32 iif, __u32 epoch, __u16 mtu, __u64 now)
{
	return oif && epoch == nh_epoch(now) && iif == ctx->ifindex &&
	       (ctx->len <= (__u32)mtu + ETH_HLEN_ || ctx->gso_size);
}

/* Keeps answer a in the flow's entry for this direction. */
EKP_INLINE void ct_keep_nh(struct ekp_ctx *ctx, struct ekp_ct_val *ct, const struct bpf_fib_lookup *a, __u64 now)
{
	/* The epoch last, after a compiler barrier: on x86 another CPU on this
	 * flow direction sees it only with the rest, and until then looks the
	 * next hop up itself. Elsewhere, or when only the device changed (same
	 * epoch), it may pair parts of two answers: one packet misrouted or
	 * dropped while a route changes under a flow that arrives on two CPUs or
	 * devices at once. */
	addr_copy(&ct->nh, fib_nh(a));
	ct->nh_family = a->family;
	ct->nh_mtu = a->mtu_result;
	ct->nh_oif = a->ifindex;
	ct->nh_iif = ctx->ifindex;
	asm volatile("" ::: "memory");
	ct->nh_epoch = nh_epoch(now);
}

/* Whether this instance keeps backends' answers (see reroute): on the node's
 * devices only. */
EKP_INLINE int keeps_backend_nh(void)
{
	return !(ekp_cfg.flags & (EKP_CFG_F_FROM_HOST | EKP_CFG_F_FROM_PODS));
}

/*
 * The answer c, a backend's entry of ekp_benh_v1, keeps, into a (see fib_nh), if it is for daddr
 * and may send this packet. Read under the entry's seqcount: every flow to
 * the backend shares the entry, and a CPU may be writing it. The compiler
 * barriers keep the reads in order, which is all x86 needs; other
 * architectures would also need a read barrier, which BPF has none of.
 */
EKP_INLINE int be_nh_get(struct ekp_ctx *ctx, const struct pkt *p, struct ekp_backend_nh *c,
			 const union ekp_addr *daddr, struct bpf_fib_lookup *a, __u64 now)
{
	__u32 seq;
	int ok;

	seq = *(volatile __u32 *)&c->seq;
	if (seq & 1)
		return 0;
	asm volatile("" ::: "memory");
	ok = c->proto == p->proto && c->dst_family == p->family &&
	     nh_fits(ctx, c->oif, c->iif, c->epoch, c->mtu, now) && addr_eq(&c->dst, daddr);
	addr_copy((union ekp_addr *)a->ipv6_dst, &c->nh);
	a->ifindex = c->oif;
	a->mtu_result = c->mtu;
	a->family = c->family;
	asm volatile("" ::: "memory");
	return ok && *(volatile __u32 *)&c->seq == seq;
}

/*
 * Takes entry c to keep the answer for the backend at daddr, before the
 * lookup: marks it being written (seq odd) and writes what the answer will
 * be for, with nothing kept yet. Not when another CPU is writing it, nor
 * when it holds this epoch's answer for another device: where a backend's
 * flows come in on two devices, the first this epoch keeps it, instead of
 * each new flow taking it from the other. Taking it first leaves reroute
 * less to hold across the lookup (its frame adds to tc_ingress's). Both
 * changes of seq are compare-and-swaps, which order the writes between them
 * on every architecture.
 */
EKP_INLINE int be_nh_take(struct ekp_ctx *ctx, const struct pkt *p, struct ekp_backend_nh *c,
			  const union ekp_addr *daddr, __u64 now)
{
	__u32 seq = *(volatile __u32 *)&c->seq;

	if (seq & 1)
		return 0;
	if (c->oif && c->epoch == nh_epoch(now) && c->iif != ctx->ifindex)
		return 0;
	if (__sync_val_compare_and_swap(&c->seq, seq, seq + 1) != seq)
		return 0;
	c->oif = 0;
	c->iif = ctx->ifindex;
	c->epoch = nh_epoch(now);
	c->proto = p->proto;
	c->dst_family = p->family;
	addr_copy(&c->dst, daddr);
	return 1;
}

/* Ends the write be_nh_take began, keeping answer a, or nothing (a NULL: the
 * lookup did not forward). */
EKP_INLINE void be_nh_give(struct ekp_backend_nh *c, const struct bpf_fib_lookup *a)
{
	__u32 seq = *(volatile __u32 *)&c->seq;

	if (a) {
		c->family = a->family;
		c->mtu = a->mtu_result;
		addr_copy(&c->nh, fib_nh(a));
		c->oif = a->ifindex;
	}
	__sync_val_compare_and_swap(&c->seq, seq, seq + 1);
}

/*
 * After a rewrite the packet goes straight to the device the FIB names for
 * its new destination, with the neighbour filled in, instead of back into the
 * stack: host-originated packets (tc egress) were routed for the frontend,
 * not the backend; and a packet whose new source is one of this node's own
 * addresses (SNAT, hairpin, a reply from a NodePort frontend) would be
 * dropped by the stack as a martian if it entered the ingress path.
 *
 * The FIB lookup was 40 % of an established packet's cost on a node (`bench
 * datapath`, routed: 128 ns with it, 79 with the kept answer). A flow's
 * destination does not change, so ct, the flow's entry for this direction,
 * keeps the answer (next hop and device) for the rest of the epoch, for the
 * packets that come in on the same device; the next epoch looks it up again,
 * so a route change reaches established flows within about a second. The
 * next hop's neighbour is still resolved by redirect_neigh for every packet.
 * Only a forwarded answer is kept: a local destination, an unresolved next
 * hop or a failure is looked up every time. A packet bigger than the kept
 * MTU allows (and not GSO) is looked up as well, so that the lookup's MTU
 * check still finds it: a request's sender is answered (answer_sender), and
 * anything else goes to the stack (bpf/README, Known limits).
 * Host-originated packets (tc egress) keep nothing: they carry the route to
 * the frontend, and a kept next hop whose neighbour entry went away would
 * have the kernel send them by that route (see NO_NEIGH below).
 *
 * A packet sent to backend bid (0: not to a backend, as a reply) also finds
 * and keeps the answer in the backend's entry of ekp_benh_v1, on the same
 * terms: a new flow has no answer of its own yet (the kept one took 25-50 ns
 * off its ~600, interleaved in scripts/ab-datapath.sh; a new flow to a
 * backend with nothing kept pays 20-120 ns more, mostly for reading the entry
 * from memory, which handle_new starts before its inserts). Only where tc_lb
 * runs on the node's devices: a pod's packets come in on its own veth, each
 * another device for the entry, and the node's keep nothing.
 */
EKP_INLINE int reroute_kept(struct ekp_ctx *ctx, const struct pkt *p, const struct ekp_ct_val *ct, __u64 now)
{
	if ((ekp_cfg.flags & EKP_CFG_F_FROM_HOST) || !ct ||
	    !nh_fits(ctx, ct->nh_oif, ct->nh_iif, ct->nh_epoch, ct->nh_mtu, now))
		return EKP_CONTINUE;
	return redirect_nh(ctx, p->family, ct->nh_oif, ct->nh_family, &ct->nh);
}

/*
 * The rest of reroute, after the flow's kept answer (reroute_kept, inline on
 * an established packet's path). A global function: the verifier checks it
 * once, on its own, instead of once for every path of tc_ingress that
 * reaches it, which took tc_ingress to ~830,000 of its 1,000,000
 * instructions on 6.18, and tc_lb_noinsert's over them on 6.1. Its pointer
 * arguments may be NULL to the verifier, so they are checked.
 */
__attribute__((noinline)) int reroute(struct ekp_ctx *ctx, const struct pkt *p, const union ekp_addr *daddr,
				      struct ekp_ct_val *ct, __u32 bid)
{
	struct ekp_backend_nh *c = NULL;
	struct bpf_fib_lookup fib;
	__u64 now = 0;
	long rc;

	if (!p || !daddr)
		return EKP_V_PASS;
	if (ekp_cfg.flags & EKP_CFG_F_FROM_HOST)
		ct = NULL;
	if (bid && keeps_backend_nh()) {
		/* The key in fib, not yet in use: a slot less in this frame. */
		fib.ifindex = bid;
		c = bpf_map_lookup_elem(&ekp_benh_v1, &fib.ifindex);
	}
	if (ct || c)
		now = ekp_now(); /* only what is kept needs the epoch */
	if (c && be_nh_get(ctx, p, c, daddr, &fib, now)) {
		if (ct)
			ct_keep_nh(ctx, ct, &fib, now);
		return redirect_fib(ctx, p->family, &fib);
	}
	if (c && !be_nh_take(ctx, p, c, daddr, now))
		c = NULL;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.ifindex = ctx->ifindex;
	fib.l4_protocol = p->proto;
	if (p->family == EKP_FAMILY_V4) {
		fib.family = AF_INET;
		fib.ipv4_dst = daddr->v4;
	} else {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_dst, daddr->v6, sizeof(fib.ipv6_dst));
	}
	/* An ingress-style lookup: BPF_FIB_LOOKUP_OUTPUT would pin the answer to
	 * this device (oif), which is exactly the route we must not keep. */
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	/* Only a forwarded answer is kept (see above). */
	if (c)
		be_nh_give(c, rc == BPF_FIB_LKUP_RET_SUCCESS ? &fib : NULL);
	/* A local destination. A packet already leaving through lo keeps the
	 * local route it has (and skips the input checks: source validation,
	 * strict rp_filter); any other goes in through lo. */
	if (rc == BPF_FIB_LKUP_RET_NOT_FWDED)
		return ctx->ifindex == EKP_LOOPBACK_IFINDEX ? EKP_V_PASS : to_loopback(ctx);
	/* A next hop not resolved yet: the redirect resolves it and holds the
	 * packet meanwhile. It must route the packet itself (no next hop handed
	 * over), which also gives the packet the new route: the kernel sends a
	 * held packet by the route it carries (neigh_update looks the neighbour
	 * up again through it), here the one to the frontend. With our next hop
	 * handed over, a host's first packet to a NodePort went out with lo's
	 * all-zero MACs, and the first to a ClusterIP to the default gateway.
	 * Before 6.3 the lookup says so only for a missing entry, not for one
	 * still being resolved. */
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (hop_down(ctx, p->family) < 0)
			return EKP_V_NO_HOP;
		if (bpf_redirect_neigh(fib.ifindex, NULL, 0, 0) != TC_ACT_REDIRECT)
			return EKP_V_PASS;
		count_event(ctx, EKP_EV_REDIRECT);
		return EKP_V_REDIRECT;
	}
	/* Bigger than the next device takes (the lookup checks the packet
	 * against its MTU, which it gives back; a GSO packet always passes). */
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		count_event(ctx, EKP_EV_FRAG_NEEDED);
		return EKP_V_TOO_BIG | fib.mtu_result;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return EKP_V_PASS; /* no route: let the stack report it */
	/* Hand over the next hop the lookup found: without it the redirect
	 * does a second, full route lookup of its own for every packet. The
	 * gateway of an IPv4 route may be IPv6 (the lookup then says AF_INET6). */
	if (ct)
		ct_keep_nh(ctx, ct, &fib, now);
	return redirect_fib(ctx, p->family, &fib);
}
#endif

#ifndef EKP_XDP
/*
 * A request tc rewrote but cannot send on (`why`: EKP_V_NO_HOP, or
 * EKP_V_TOO_BIG and the next device's MTU) is answered as the stack
 * forwarding it answers (ip_forward, ip6_forward): a time exceeded, or a
 * frag-needed / packet too big, to its sender, quoting the packet as it
 * came. Kube-proxy's node does the same, its netfilter NATing after those
 * checks and its conntrack putting the quote back. Without the answer the
 * packet went to the stack, which dropped it as a martian (its new source
 * one of this node's addresses), and a client's path MTU discovery through
 * a NodePort to a backend behind a smaller MTU never learned. The flow's
 * REV entry, at the rewritten tuple reversed, names the client and the
 * frontend: the error goes from the one to the other, its quote rewritten
 * back as conntrack would (quote_as). An IPv4 packet without DF the
 * stack would fragment instead, which tc cannot: it goes to the stack, as
 * does anything without a REV entry. A global function, verified once on
 * its own, for a path few packets take; p may be NULL to the verifier.
 */
__attribute__((noinline)) int answer_sender(struct ekp_ctx *ctx, const struct pkt *p, int why)
{
	__u32 mtu = why >= EKP_V_TOO_BIG ? (__u32)why & 0xffff : 0;
	struct ct_scratch *sc = ct_scratch();
	struct ekp_ct_val *rev;
	__u8 type, code;
	int v6;

	if (!p || !sc)
		return EKP_V_XLATED;
	v6 = p->family == EKP_FAMILY_V6;
	/* Not about a later fragment: its quote would hold no ports to find the
	 * sender's socket by (IPv4's icmp_send never answers one either). */
	if (p->frag >= EKP_FRAG_LATER)
		return EKP_V_XLATED;
	if (mtu && !v6) {
		struct iphdr *ip = ctx_data(ctx) + ETH_HLEN_;

		if ((void *)(ip + 1) > ctx_data_end(ctx) || !(ip->frag_off & bpf_htons(0x4000)))
			return EKP_V_XLATED;
	}
	if (v6) {
		ct_key_set(&sc->key, &p->daddr, &p->saddr, p->dport, p->sport, p->proto, p->family);
		rev = bpf_map_lookup_elem(&ekp_ct_v2, &sc->key);
	} else {
		ct4_key_set(&sc->key4, p->daddr.v4, p->saddr.v4, p->dport, p->sport, p->proto);
		rev = bpf_map_lookup_elem(&ekp_ct4_v2, &sc->key4);
	}
	if (!rev || rev->type != EKP_CT_REV)
		return EKP_V_XLATED;
	addr_copy(&sc->orig.saddr, &rev->addr2);
	sc->orig.sport = rev->port2;
	addr_copy(&sc->orig.daddr, &rev->addr);
	sc->orig.dport = rev->port;
	if (mtu) {
		type = v6 ? ICMPV6_PKT_TOOBIG_ : ICMP_DEST_UNREACH_;
		code = v6 ? 0 : ICMP_FRAG_NEEDED_;
	} else {
		type = v6 ? ICMPV6_TIME_EXCEED_ : ICMP_TIME_EXCEEDED_;
		code = 0;
	}
	return icmp_error_reply(ctx, p, type, code, bpf_htonl(mtu), EKP_EV_SENDER_ANSWERED, &sc->orig);
}
#endif

/* Hand the rewritten packet on: to the stack, or where the FIB says when the
 * stack could not take it (see reroute). XDP leaves it to the stack; it only
 * ever rewrites flows the stack can route (see xdp_defers). */
EKP_INLINE int forward(struct ekp_ctx *ctx, const struct pkt *p, const union ekp_addr *daddr,
			int must_reroute, struct ekp_ct_val *ct, __u32 bid, __u64 now)
{
#ifndef EKP_XDP
	if (must_reroute) {
		int v = reroute_kept(ctx, p, ct, now);

		if (v == EKP_CONTINUE)
			v = reroute(ctx, p, daddr, ct, bid);
		if (v == EKP_V_REDIRECT)
			return EKP_V_REDIRECT;
		/* A request's: a FWD entry's, or a new flow's (a backend id,
		 * which a translated ICMP error has not: an error is never
		 * answered with one). A reply's sender would be found through
		 * the FWD entry, and the host's own packets (tc egress) are the
		 * stack's to answer. */
		if ((v == EKP_V_NO_HOP || v >= EKP_V_TOO_BIG) && (ct ? ct->type == EKP_CT_FWD : bid != 0) &&
		    !(ekp_cfg.flags & EKP_CFG_F_FROM_HOST))
			return answer_sender(ctx, p, v);
	}
	return EKP_V_XLATED; /* rewritten, for the stack to route */
#else
	return EKP_V_XLATED;
#endif
}

/*
 * Whether the stack could not take the rewritten packet (see reroute): it was
 * routed for the frontend (host egress), its new source may be one of this
 * node's addresses (SNAT, hairpin, a reply from a frontend that may be a node
 * address: to an external client, or to a pod or the node itself that used a
 * NodePort), or it is a local backend's reply. Pods' requests to ClusterIPs,
 * and replies from remote backends, are left to the stack and skip the FIB
 * lookup.
 */
EKP_INLINE int must_reroute(__u8 ct_type, __u8 ct_flags)
{
	if (ekp_cfg.flags & EKP_CFG_F_FROM_HOST)
		return 1;
	/* A local backend's reply, its source now a frontend: the stack would
	 * check that source against the pod's veth (rp_filter, on by default on
	 * many distributions; a veth without an address fails every source not
	 * routed through it) and drop it. */
	if ((ekp_cfg.flags & EKP_CFG_F_FROM_PODS) && ct_type == EKP_CT_REV)
		return 1;
	if (ct_flags & (EKP_CT_F_SNAT | EKP_CT_F_HAIRPIN))
		return 1;
	return ct_type == EKP_CT_REV && (ct_flags & (EKP_CT_F_EXTERNAL | EKP_CT_F_NODE_FRONTEND));
}

/*
 * XDP hands a flow to tc, untouched, when the rewrite would give it a source
 * address of this node (SNAT, or a reply from a NodePort frontend): only tc
 * can send such a packet on without the stack's martian check.
 */
EKP_INLINE int xdp_defers(struct ekp_ctx *ctx, __u8 ct_type, __u8 ct_flags)
{
#ifdef EKP_XDP
	if (ct_type == EKP_CT_REV || (ct_flags & EKP_CT_F_SNAT)) {
		count_event(ctx, EKP_EV_XDP_TO_STACK);
		return 1;
	}
#endif
	return 0;
}

/*
 * A handshake SYN on a live FWD entry: a retransmission, a retry after the
 * backend refused, or the client's next connection from the same port after
 * the backend reset the last (only the REV entry saw the RST). Each keeps
 * the flow's backend, and its REV entry, keyed by the rewritten packet's
 * tuple reversed, starts over in SYN (written whole: it may be closing, or
 * gone), so that the backend's SYN-ACK is the flow's and not a direct
 * connection's (ct_rev_stale).
 */
EKP_INLINE void rev_restart(const struct pkt *p, const struct ekp_ct_val *fwd,
			    const struct nat_tuple *to, __u64 now)
{
	struct ct_scratch *sc = ct_scratch();
	struct ekp_ct_key rk;

	if (!sc)
		return;
	ct_key_set(&rk, &to->daddr, &to->saddr, to->dport, to->sport, p->proto, p->family);
	ct_rev_val(&sc->rev, p, fwd->svc_id, fwd->backend_id, fwd->flags & ~EKP_CT_F_RESET,
		   now + ct_lifetime_ns(EKP_CT_STATE_SYN, p->proto));
	ct_map_update(&rk, &sc->rev, BPF_ANY);
}

/* What a FWD entry makes of p's tuple: the backend, and the SNAT source if any. */
EKP_INLINE void fwd_tuple(const struct pkt *p, const struct ekp_ct_val *ct, struct nat_tuple *to)
{
	addr_copy(&to->daddr, &ct->addr);
	to->dport = ct->port;
	if (ct->flags & EKP_CT_F_SNAT) {
		addr_copy(&to->saddr, &ct->addr2);
		to->sport = ct->port2;
	} else {
		addr_copy(&to->saddr, &p->saddr);
		to->sport = p->sport;
	}
}

/* What a REV entry makes of p's tuple: the frontend as source, and the client
 * as destination where SNAT hid it. */
EKP_INLINE void rev_tuple(const struct pkt *p, const struct ekp_ct_val *ct, struct nat_tuple *to)
{
	addr_copy(&to->saddr, &ct->addr);
	to->sport = ct->port;
	if (ct->flags & EKP_CT_F_SNAT) {
		addr_copy(&to->daddr, &ct->addr2);
		to->dport = ct->port2;
	} else {
		addr_copy(&to->daddr, &p->daddr);
		to->dport = p->dport;
	}
}

/* Established flow, original direction: translate as decided at creation. */
EKP_INLINE int handle_fwd(struct ekp_ctx *ctx, struct pkt *p, struct ekp_ct_val *ct, __u64 now)
{
	struct nat_tuple to;
	__u32 bid = ct->backend_id;

	fwd_tuple(p, ct, &to);
	if (ct_is_syn(p)) {
		rev_restart(p, ct, &to, now);
		/* A new handshake on the tuple: the backend's RST no longer ends it. */
		if (ct->flags & EKP_CT_F_RESET)
			ct->flags &= ~EKP_CT_F_RESET;
	}
	count_svc(ctx, ct->svc_id);
	count_event(ctx, EKP_EV_CT_HIT_FWD);
	if (nat_rewrite(ctx, p, &to) < 0)
		return drop(ctx, EKP_DROP_REWRITE);
	return forward(ctx, p, &to.daddr, must_reroute(EKP_CT_FWD, ct->flags), ct, bid, now);
}

/* Reply direction: restore the frontend as source (and the client as dst). */
EKP_INLINE int rev_rewrite(struct ekp_ctx *ctx, struct pkt *p, const struct ekp_ct_val *ct, struct nat_tuple *to)
{
	rev_tuple(p, ct, to);
	count_svc(ctx, ct->svc_id);
	count_event(ctx, EKP_EV_CT_HIT_REV);
	if (nat_rewrite(ctx, p, to) < 0)
		return drop(ctx, EKP_DROP_REWRITE);
	return EKP_V_XLATED;
}

EKP_INLINE int handle_rev(struct ekp_ctx *ctx, struct pkt *p, struct ekp_ct_val *ct, __u64 now)
{
	struct nat_tuple to;
	int v = rev_rewrite(ctx, p, ct, &to);

	if (v != EKP_V_XLATED)
		return v;
	return forward(ctx, p, &to.daddr, must_reroute(EKP_CT_REV, ct->flags), ct, 0, now);
}

/*
 * tc_lb_noinsert.bpf.c (bench only, never attached) builds the datapath with
 * the conntrack inserts of ct_create() taken out, every one succeeding at no
 * cost, to time everything else a new flow does. The empty asm takes the key
 * and value, so the compiler still builds both as the real inserts would have
 * them; no SNAT port is ever retried.
 */
#ifdef EKP_BENCH_NO_CT_INSERT
#define ct_insert(k, v, flags) ({ asm volatile("" :: "r"(k), "r"(v) : "memory"); 0L; })
#else
#define ct_insert(k, v, flags) ct_map_update(k, v, flags)
#endif

/*
 * Create both CT entries of a new flow. With SNAT the REV key must be unique
 * (it is how replies find the client), so the source port is drawn at random
 * from the configured range and inserted with NOEXIST, retrying on collision.
 */
EKP_INLINE int ct_create(struct ekp_ctx *ctx, const struct pkt *p,
			 const struct ekp_svc_val *svc, __u32 bid,
			 const struct ekp_backend_val *be,
			 struct ct_scratch *sc, __u8 flags, __u64 now)
{
	struct ekp_ct_val *fwd = &sc->fwd, *rv = &sc->rev;
	struct ekp_ct_key fk, rk;
	__u8 st = ct_next_state(EKP_CT_STATE_NEW, p);
	__u64 exp = now + ct_lifetime_ns(st, p->proto);
	int snat = flags & EKP_CT_F_SNAT;

	ct_rev_val(rv, p, svc->svc_id, bid, flags, exp);

	fwd->expires_ns = exp;
	addr_copy(&fwd->addr, &be->addr);
	fwd->port = be->port;
	fwd->svc_id = svc->svc_id;
	fwd->backend_id = bid;
	fwd->type = EKP_CT_FWD;
	fwd->state = st;
	fwd->flags = flags;
	fwd->tcp_flags_seen = p->tcp_flags;

	if (snat) {
		int ok = 0;

		/* Only the port changes per try. With the whole key written
		 * inside the loop, 6.1's verifier refused tc_ingress ("back-edge
		 * from insn 3995 to 3996", at that line); 6.18 took it. */
		ct_key_set(&rk, &be->addr, &fwd->addr2, be->port, 0, p->proto, p->family);
		for (int i = 0; i < EKP_SNAT_RETRIES; i++) {
			rk.dport = snat_pick_port();
			if (ct_insert(&rk, rv, BPF_NOEXIST) == 0) {
				ok = 1;
				break;
			}
			count_event(ctx, EKP_EV_SNAT_RETRY);
		}
		if (!ok)
			return -EKP_DROP_SNAT_NO_PORT;
		fwd->port2 = rk.dport;
	} else {
		ct_key_set(&rk, &be->addr, &p->saddr, be->port, p->sport, p->proto, p->family);
		if (ct_insert(&rk, rv, BPF_ANY) < 0)
			count_event(ctx, EKP_EV_CT_INSERT_FAIL);
	}

	ct_key_from_pkt(&fk, p);
	if (ct_insert(&fk, fwd, BPF_ANY) < 0) {
		count_event(ctx, EKP_EV_CT_INSERT_FAIL);
		if (snat) {
			ct_map_delete(&rk);
			return -EKP_DROP_CT_INSERT;
		}
	}
	count_event(ctx, EKP_EV_CT_CREATED);
	return 0;
}

#undef ct_insert /* ct_create's alone */

enum vip_class {
	VIP_NONE = 0,        /* no ClusterIP, in no Service CIDR: routed    */
	VIP_CLUSTER_IP = 1,  /* a ClusterIP on a port no service has        */
	VIP_UNALLOCATED = 2, /* in a Service CIDR, no ClusterIP             */
};

/*
 * What p, which no service has (address, port and protocol), is bound for.
 * To a ClusterIP (ekp_vip_v1) it is refused, and to an unallocated address
 * of a Service CIDR (ekp_svccidr_v1) dropped, as kube-proxy's nftables mode
 * does, instead of going out by the default route. Only a packet that missed
 * conntrack and every service, to an address inside the common prefix of
 * both (ekp_vipnet_v1, an array: no hashing), pays the lookups; XDP leaves
 * it all to tc.
 */
EKP_INLINE enum vip_class vip_class_of(const struct pkt *p)
{
#ifdef EKP_XDP
	return VIP_NONE;
#else
	struct ekp_svccidr_key ck;
	struct ekp_vip_key k;
	struct ekp_vipnet *n;
	__u32 zero = 0;

	n = bpf_map_lookup_elem(&ekp_vipnet_v1, &zero);
	if (!n)
		return VIP_NONE;
	if (p->family == EKP_FAMILY_V4) {
		if (!n->v4_on || ((p->daddr.v4 ^ n->v4_net.v4) & n->v4_mask.v4))
			return VIP_NONE;
	} else if (!n->v6_on ||
		   ((p->daddr.v6[0] ^ n->v6_net.v6[0]) & n->v6_mask.v6[0]) ||
		   ((p->daddr.v6[1] ^ n->v6_net.v6[1]) & n->v6_mask.v6[1]) ||
		   ((p->daddr.v6[2] ^ n->v6_net.v6[2]) & n->v6_mask.v6[2]) ||
		   ((p->daddr.v6[3] ^ n->v6_net.v6[3]) & n->v6_mask.v6[3])) {
		return VIP_NONE;
	}
	__builtin_memset(&k, 0, sizeof(k));
	addr_copy(&k.addr, &p->daddr);
	k.family = p->family;
	if (bpf_map_lookup_elem(&ekp_vip_v1, &k))
		return VIP_CLUSTER_IP;
	__builtin_memset(&ck, 0, sizeof(ck));
	ck.prefixlen = EKP_SVCCIDR_PREFIX_BASE + (p->family == EKP_FAMILY_V4 ? 32 : 128);
	ck.family = p->family;
	addr_copy(&ck.addr, &p->daddr);
	return bpf_map_lookup_elem(&ekp_svccidr_v1, &ck) ? VIP_UNALLOCATED : VIP_NONE;
#endif
}

EKP_INLINE int handle_new(struct ekp_ctx *ctx, struct pkt *p)
{
	struct ekp_backend_val *be = NULL;
	struct ct_scratch *sc;
	struct ekp_svc_val *svc;
	struct ekp_ct_val *fwd;
	struct nat_tuple to;
	__u8 flags = 0;
	__u64 now;
	long bid;
	int err;

	svc = svc_lookup(p);
	if (!svc) {
		enum vip_class c = vip_class_of(p);

		if (c == VIP_NONE)
			return EKP_V_PASS;
		if (c == VIP_UNALLOCATED)
			return drop(ctx, EKP_DROP_UNALLOCATED);
		count_event(ctx, EKP_EV_VIP_NO_PORT);
		/* One call of reject(): a second inlined copy had clang keep
		 * &ctx->data_end in a register, which the verifier refuses. */
		goto refuse;
	}
	if (svc_has(svc, EKP_SVC_F_SRC_RANGES) && !src_range_allowed(svc, p))
		return drop(ctx, EKP_DROP_SRC_RANGE);
#ifdef EKP_XDP
	/* Only a source-preserving service is sure to need no SNAT; hand the
	 * rest to tc before choosing a backend tc would choose again. */
	if (!svc_has(svc, EKP_SVC_F_PRESERVE_SRC)) {
		count_event(ctx, EKP_EV_XDP_TO_STACK);
		return EKP_V_PASS;
	}
#endif

	now = ekp_now();
	bid = lb_select(svc, p, &be, now, ctx, 0);
	if (bid < 0)
		return drop(ctx, (enum ekp_drop_reason)-bid);
	if (bid == 0 || !be) {
		count_svc(ctx, svc->svc_id);
		if (svc_has(svc, EKP_SVC_F_DROP_EMPTY))
			return drop(ctx, EKP_DROP_NO_LOCAL_BACKEND);
refuse:
#ifdef EKP_XDP
		count_event(ctx, EKP_EV_XDP_TO_STACK);
		return EKP_V_PASS; /* tc on this device builds the reject */
#else
		return reject(ctx, p);
#endif
	}
	if (be->family != p->family)
		return drop(ctx, EKP_DROP_BACKEND_MISSING);

	sc = ct_scratch();
	if (!sc)
		return EKP_V_PASS;
	fwd = &sc->fwd;
	__builtin_memset(fwd, 0, sizeof(*fwd));
	if (addr_eq(&be->addr, &p->saddr)) {
		flags |= EKP_CT_F_HAIRPIN | EKP_CT_F_SNAT;
		snat_addr(&fwd->addr2, p->family, 1);
	} else if (!(be->flags & EKP_BE_F_LOCAL) &&
		   (origin_is_local() ? addr_eq(&p->saddr, &p->daddr)
				      : !svc_has(svc, EKP_SVC_F_PRESERVE_SRC))) {
		/* From here (the node, its pods) only a request whose source is
		 * its destination is SNATed: the node's own, to a frontend
		 * address it holds (a kube-vip VIP, a NodePort on a second
		 * address), which the kernel gave that source. A remote backend
		 * would answer it by its own routes, never back here. One from
		 * the SNAT address already needs nothing. */
		snat_addr(&fwd->addr2, p->family, 0);
		if (origin_is_local() && addr_eq(&fwd->addr2, &p->saddr))
			__builtin_memset(&fwd->addr2, 0, sizeof(fwd->addr2));
		else
			flags |= EKP_CT_F_SNAT;
	}
	if (!origin_is_local())
		flags |= EKP_CT_F_EXTERNAL;
	/* Branch-free: only replies look at this bit, and a branch here would
	 * double the verifier's states through the rest of the new flow.
	 * Node addresses only: other ExternalIPs' and LB IPs' replies stay with
	 * the stack. */
	flags |= (__u8)(((svc->flags >> 6) | (svc->flags >> 8)) & 1) << 3;
	_Static_assert(EKP_SVC_F_NODEPORT == 1u << 6 && EKP_SVC_F_NODE_ADDR == 1u << 8 &&
		       EKP_CT_F_NODE_FRONTEND == 1u << 3, "bit positions above");
	if ((flags & EKP_CT_F_SNAT) && addr_is_zero(&fwd->addr2))
		flags &= ~(EKP_CT_F_SNAT | EKP_CT_F_HAIRPIN); /* not configured */
	if (xdp_defers(ctx, EKP_CT_FWD, flags))
		return EKP_V_PASS;

#ifndef EKP_XDP
	/* The backend's kept next hop (reroute) is read from memory after the
	 * conntrack inserts; a load now starts that read while they run. */
	if (keeps_backend_nh() && must_reroute(EKP_CT_FWD, flags)) {
		__u32 id = (__u32)bid;
		struct ekp_backend_nh *c = bpf_map_lookup_elem(&ekp_benh_v1, &id);

		if (c)
			(void)*(volatile __u32 *)&c->seq;
	}
#endif
	err = ct_create(ctx, p, svc, (__u32)bid, be, sc, flags, now);
	if (err < 0)
		return drop(ctx, (enum ekp_drop_reason)-err);

	addr_copy(&to.daddr, &be->addr);
	to.dport = be->port;
	if (flags & EKP_CT_F_SNAT) {
		addr_copy(&to.saddr, &fwd->addr2);
		to.sport = fwd->port2;
	} else {
		addr_copy(&to.saddr, &p->saddr);
		to.sport = p->sport;
	}
	count_svc(ctx, svc->svc_id);
	if (nat_rewrite(ctx, p, &to) < 0)
		return drop(ctx, EKP_DROP_REWRITE);
	return forward(ctx, p, &to.daddr, must_reroute(EKP_CT_FWD, flags), NULL, (__u32)bid, now);
}

#ifndef EKP_XDP
/*
 * A ping to a ClusterIP, ExternalIP or LoadBalancer IP is answered (echo.h),
 * as the node answers it in kube-proxy's ipvs mode; one to an unallocated
 * address of a Service CIDR is dropped, as any packet to it. EKP_CONTINUE for
 * any other ICMP packet. A function of its own, not inlined: pings are rare,
 * and stay out of the body every packet's program runs.
 */
static __attribute__((noinline)) int handle_echo(struct ekp_ctx *ctx, const struct pkt *p)
{
	enum vip_class c;
	struct ekp_vip_key k;

	if (!icmp_is_echo_request(ctx, p))
		return EKP_CONTINUE;
	c = vip_class_of(p);
	if (c == VIP_UNALLOCATED)
		return drop(ctx, EKP_DROP_UNALLOCATED);
	if (c == VIP_NONE) {
		__builtin_memset(&k, 0, sizeof(k));
		addr_copy(&k.addr, &p->daddr);
		k.family = p->family;
		if (!bpf_map_lookup_elem(&ekp_extvip_v1, &k))
			return EKP_V_PASS;
	}
	return echo_reply(ctx, p);
}
#endif

/* An ICMP error about a NATed flow: translated, then forwarded as the flow's own
 * packets are. A ping: handle_echo. */
EKP_INLINE int handle_icmp(struct ekp_ctx *ctx, struct pkt *p)
{
#ifdef EKP_XDP
	return EKP_V_PASS; /* tc on this device translates it */
#else
	__u8 type = 0, flags = 0;
	int ret = handle_echo(ctx, p);

	if (ret != EKP_CONTINUE)
		return ret;
	ret = icmp_error(ctx, p, &type, &flags);

	if (ret != EKP_CONTINUE)
		return ret;
	return forward(ctx, p, &p->daddr, must_reroute(type, flags), NULL, 0, 0);
#endif
}

/* The expired path only: the key is built here, not for every packet. */
EKP_INLINE int fwd_other_live(const struct pkt *p, const struct ekp_ct_val *fwd, __u64 now)
{
	return ct_other_live(CT_TUPLE_OF(p), fwd, now);
}

#ifndef EKP_XDP
/*
 * A later fragment without a flow: not a service's, so passed untouched as
 * any fragment used to be; but bound for a ClusterIP or another address of
 * a Service CIDR (its first was refused or dropped), dropped as the first
 * was, rather than routed out. Global, on a path few packets take:
 * vip_class_of()'s keys have no room in the pipeline's frame. p may be NULL
 * to the verifier.
 */
__attribute__((noinline)) int frag_no_flow(struct ekp_ctx *ctx, const struct pkt *p)
{
	if (!p)
		return EKP_V_PASS;
	if (p->frag == EKP_FRAG_UNSEEN)
		count_event(ctx, EKP_EV_FRAG_UNKNOWN);
	if (vip_class_of(p) != VIP_NONE)
		return drop(ctx, EKP_DROP_FRAG_NO_FLOW);
	if (p->frag != EKP_FRAG_UNSEEN)
		count_event(ctx, EKP_EV_PASS_FRAGMENT);
	return EKP_V_PASS;
}

/*
 * A later fragment of a UDP datagram (parse.h, EKP_FRAG): its flow is the
 * one its first fragment's ports name (none when tc did not see the first:
 * EKP_FRAG_UNSEEN), and it is rewritten and sent on as the first was, its
 * addresses only. It starts no flow and is never answered (its quote could
 * not name the sender's socket). One without a live flow goes to
 * frag_no_flow(). The first fragment refreshed the flow a moment ago, so an
 * expired entry is not this datagram's. `made_here`: tc_to_pod's
 * (ekp_made_here), which translates replies only and sends nothing on.
 */
EKP_INLINE int handle_fragment(struct ekp_ctx *ctx, struct pkt *p, int made_here)
{
	struct ekp_ct_val *ct = p->frag == EKP_FRAG_UNSEEN ? NULL : ct_lookup(p);
	struct nat_tuple to;
	__u64 now = ekp_now();
	int rev;

	if (!ct || ct_expired(ct, now) || (made_here && ct->type != EKP_CT_REV))
		return made_here ? EKP_V_PASS : frag_no_flow(ctx, p);
	rev = ct->type == EKP_CT_REV;
	ct_refresh(ct, p, now);
	if (rev)
		rev_tuple(p, ct, &to);
	else
		fwd_tuple(p, ct, &to);
	if (nat_rewrite_l3(ctx, p, &to) < 0)
		return drop(ctx, EKP_DROP_REWRITE);
	count_svc(ctx, ct->svc_id);
	count_event(ctx, EKP_EV_FRAG_FOLLOWED);
	if (made_here)
		return EKP_V_XLATED;
	return forward(ctx, p, &to.daddr, must_reroute(ct->type, ct->flags), ct, rev ? 0 : ct->backend_id, now);
}
#endif

EKP_INLINE int ekp_service_pipeline(struct ekp_ctx *ctx)
{
	struct ekp_ct_val *ct;
	struct pkt p;
	__u64 now;
	int ret;

	ret = parse_packet(ctx, &p);
	if (ret != EKP_CONTINUE) {
		if (ret == EKP_ICMP)
			return handle_icmp(ctx, &p);
#ifndef EKP_XDP
		if (ret == EKP_FRAG)
			return handle_fragment(ctx, &p, 0);
#endif
		return ret;
	}
	ct = ct_lookup(&p);
	if (ct) {
		if (xdp_defers(ctx, ct->type, ct->flags))
			return EKP_V_PASS;
		now = ekp_now();
		if (ct->type == EKP_CT_REV) {
			/* A stale entry's packet is a backend's, to a client: no frontend. */
			if (ct_rev_stale(ctx, &p, ct, now))
				return EKP_V_PASS;
			ct_seen(ct, &p, now);
			return handle_rev(ctx, &p, ct, now);
		}
		/* A handshake SYN on an expired entry starts a new flow;
		 * anything else on one whose REV entry lives is the flow's. */
		if (!ct_is_reopen(ct, &p) && (!ct_expired(ct, now) || (!ct_is_syn(&p) && fwd_other_live(&p, ct, now)))) {
			ct_seen(ct, &p, now);
			return handle_fwd(ctx, &p, ct, now);
		}
		count_event(ctx, EKP_EV_CT_EXPIRED_REUSE);
	}
	return handle_new(ctx, &p);
}

#ifndef EKP_XDP
/*
 * A packet this node made, leaving through a pod's veth: the reply of a
 * host-network backend (one at a node address) to a pod that reached it
 * through a frontend, or an ICMP error the node raised about a pod's NATed
 * packet (its own port unreachable, a frag-needed on the way to a remote
 * backend). Neither enters through a device where tc_ingress would see it.
 * Both are translated in place and go on to the pod; nothing here starts or
 * reroutes a flow, and a FWD entry is never applied to a packet (that would
 * DNAT it to the pod; an ICMP error may be translated through one, as
 * icmp_err.h does everywhere).
 */
EKP_INLINE int ekp_made_here(struct ekp_ctx *ctx)
{
	struct ekp_ct_val *ct;
	struct nat_tuple to;
	struct pkt p;
	__u8 type = 0, flags = 0;
	__u64 now;
	int ret;

	ret = parse_packet(ctx, &p);
	if (ret == EKP_ICMP) {
		ret = icmp_error(ctx, &p, &type, &flags);
		return ret == EKP_CONTINUE ? EKP_V_XLATED : ret;
	}
	if (ret == EKP_FRAG)
		return handle_fragment(ctx, &p, 1);
	if (ret != EKP_CONTINUE)
		return ret;
	ct = ct_lookup(&p);
	if (!ct || ct->type != EKP_CT_REV)
		return EKP_V_PASS;
	now = ekp_now();
	if (ct_rev_stale(ctx, &p, ct, now))
		return EKP_V_PASS;
	ct_seen(ct, &p, now);
	return rev_rewrite(ctx, &p, ct, &to);
}
#endif

#endif /* EKP_PIPELINE_H */
