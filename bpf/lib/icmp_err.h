/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * icmp_err.h — translate ICMP/ICMPv6 errors about NATed flows, as Linux
 * conntrack does (nf_nat_icmp_reply_translation), so each end gets an error
 * about the packet IT sent:
 *  - from a backend (or a router on its side) about a DNATed packet
 *    (client-or-SNAT -> backend): the embedded packet becomes client ->
 *    frontend, found by the flow's REV entry;
 *  - from the client (or a router on its side) about a reverse-NATed reply
 *    (frontend -> client): the embedded packet becomes backend -> client-or-
 *    SNAT, found by the flow's FWD entry.
 * Either way the CT entry is keyed by the embedded tuple reversed, and the new
 * embedded tuple is what that entry does to a packet, reversed back.
 * Outer header: a destination equal to the embedded source follows it (the
 * error goes to whoever now sent the embedded packet); a source equal to the
 * embedded destination follows that (the error comes from the peer the
 * recipient knows). Other sources (routers: frag-needed, time exceeded) stay,
 * so traceroute and PMTU still name the real hop.
 *
 * Checksums, incrementally, exactly those the kernel fixes: the embedded IPv4
 * header checksum; the embedded UDP checksum (left 0 if it was, IPv4), the
 * embedded TCP checksum only when the quote holds it (a quote need only carry
 * 8 bytes of L4); never an SCTP CRC (it covers the whole original packet);
 * then the outer IPv4 header and the ICMP checksum (ICMPv6: with its
 * pseudo-header). A bad ICMP checksum stays exactly as bad. The sums of the
 * patched regions do not change, so skb->csum (CHECKSUM_COMPLETE) stays right.
 *
 * Rule for odd errors: anything not understood passes UNTOUCHED, never half
 * rewritten (event PASS_ICMP_ERR when it is an error type): an outer IPv4
 * header with options (passed earlier by parse), a quote shorter than the
 * embedded IP header + 8 bytes, embedded IPv4 options or a non-first
 * fragment, embedded IPv6 extension headers (but the fragment header of a
 * UDP datagram's first fragment), an embedded header whose version
 * is wrong. Errors about flows without a CT entry, embedded protocols we never
 * NAT, and non-error ICMP pass without an event.
 *
 * tc only: XDP passes ICMP to the stack, where tc on the same device sees it.
 */
#ifndef EKP_ICMP_ERR_H
#define EKP_ICMP_ERR_H

#ifndef EKP_XDP

#include "common.h"
#include "csum.h"
#include "ct.h"
#include "nat.h"
#include "parse.h"
#include "stats.h"

#define ICMP_TIME_EXCEEDED_  11
#define ICMP_PARAMETERPROB_  12
#define ICMPV6_PKT_TOOBIG_   2
#define ICMPV6_TIME_EXCEED_  3
#define ICMPV6_PARAMPROB_    4

#define ICMP_HLEN_ 8

/* Embedded packet, the L4 header's first 8 bytes (or all 20 of TCP). */
struct emb_l4 {
	__be16 sport;
	__be16 dport;
	__be16 w2;      /* UDP: length.   TCP: seq (high) */
	__be16 w3;      /* UDP: checksum. TCP: seq (low)  */
	__be32 w4;      /* TCP: ack */
	__be32 w5;      /* TCP: offset, flags, window */
	__be16 tcp_check;
	__be16 urg;
};

EKP_INLINE int icmp_is_error(__u8 type, int v6)
{
	if (v6)
		return type == ICMPV6_DEST_UNREACH_ || type == ICMPV6_PKT_TOOBIG_ ||
		       type == ICMPV6_TIME_EXCEED_ || type == ICMPV6_PARAMPROB_;
	return type == ICMP_DEST_UNREACH_ || type == ICMP_TIME_EXCEEDED_ ||
	       type == ICMP_PARAMETERPROB_;
}

EKP_INLINE int icmp_err_odd(struct ekp_ctx *ctx)
{
	count_event(ctx, EKP_EV_PASS_ICMP_ERR);
	return EKP_V_PASS;
}

/*
 * The new embedded tuple, in place: the entry's translation applied to the
 * reversed embedded tuple (FWD: new dst, and new src with SNAT; REV: new src,
 * and new dst with SNAT), reversed back.
 */
EKP_INLINE void emb_translate(const struct ekp_ct_val *ct, struct nat_tuple *e)
{
	int snat = ct->flags & EKP_CT_F_SNAT;

	if (ct->type == EKP_CT_FWD) {
		addr_copy(&e->saddr, &ct->addr);
		e->sport = ct->port;
		if (snat) {
			addr_copy(&e->daddr, &ct->addr2);
			e->dport = ct->port2;
		}
	} else {
		addr_copy(&e->daddr, &ct->addr);
		e->dport = ct->port;
		if (snat) {
			addr_copy(&e->saddr, &ct->addr2);
			e->sport = ct->port2;
		}
	}
}

/*
 * Patch the embedded L4 header to the new ports and return the change of its
 * bytes' sum (for the ICMP checksum). emb_len: quoted bytes from the embedded
 * L4 header on; the first 8 are known to be there.
 */
EKP_INLINE __u64 emb_l4_patch(struct emb_l4 *l4, void *end, __u8 proto, int v6,
			      __u32 emb_len, __u64 addr_diff, const struct nat_tuple *n)
{
	__u64 port_diff = 0;
	__u16 c, nc;

	port_diff = csum_diff16(port_diff, l4->sport, n->sport);
	port_diff = csum_diff16(port_diff, l4->dport, n->dport);
	l4->sport = n->sport;
	l4->dport = n->dport;
	if (proto == IPPROTO_UDP) {
		c = l4->w3;
		if (c == 0 && !v6)
			return port_diff; /* UDP/IPv4 without checksum stays without */
		nc = csum_apply(c, addr_diff + port_diff);
		if (nc == 0)
			nc = 0xffff;
		l4->w3 = nc;
		return csum_diff16(port_diff, c, nc);
	}
	if (proto == IPPROTO_TCP && emb_len >= 18 && (void *)&l4->urg <= end) {
		c = l4->tcp_check;
		nc = csum_apply(c, addr_diff + port_diff);
		l4->tcp_check = nc;
		return csum_diff16(port_diff, c, nc);
	}
	return port_diff;
}

/* addr_eq without its short-circuit branches: every branch here multiplies
 * the paths the verifier walks through the rest of the error's rewrite. */
EKP_INLINE int addr_same(const union ekp_addr *a, const union ekp_addr *b)
{
	return ((a->v6[0] ^ b->v6[0]) | (a->v6[1] ^ b->v6[1]) |
		(a->v6[2] ^ b->v6[2]) | (a->v6[3] ^ b->v6[3])) == 0;
}

EKP_INLINE int icmp_embedded_proto_ok(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/*
 * Stack is scarce here (the pipeline's frame is most of the 512 bytes): the
 * old tuple is read from the packet where it is needed, only the new one is
 * kept, and the outer addresses live in p.
 */
EKP_INLINE int icmp4_error(struct ekp_ctx *ctx, struct pkt *p, __u8 *ct_type, __u8 *ct_flags)
{
	const __u32 min = ICMP_HLEN_ + sizeof(struct iphdr) + 8;
	struct ekp_ct4_key k4;
	struct ekp_ct_val *ct;
	struct nat_tuple n;
	struct iphdr *ip, *iip;
	struct icmphdr_ *ic;
	struct emb_l4 *l4;
	__be32 os, od;
	__u64 addr_diff, sum;
	__u16 c;
	void *end;

	/* parse passed outer options already: the layout is fixed. */
	if (p->l4_off != ETH_HLEN_ + sizeof(struct iphdr) || p->l4_len < ICMP_HLEN_)
		return EKP_V_PASS;
	if (ctx_pull(ctx, p->l4_off + (p->l4_len < min + 12 ? p->l4_len : min + 12)) < 0)
		return EKP_V_PASS;
	ip = ctx_data(ctx) + ETH_HLEN_;
	ic = (void *)(ip + 1);
	iip = (void *)(ic + 1);
	l4 = (void *)(iip + 1);
	end = ctx_data_end(ctx);
	if ((void *)iip > end)
		return EKP_V_PASS;
	if (!icmp_is_error(ic->type, 0))
		return EKP_V_PASS;
	if (p->l4_len < min || (void *)&l4->w4 > end)
		return icmp_err_odd(ctx);
	if (iip->version != 4 || iip->ihl != 5 || (iip->frag_off & bpf_htons(IP_OFFSET_)))
		return icmp_err_odd(ctx);
	if (!icmp_embedded_proto_ok(iip->protocol))
		return EKP_V_PASS;

	ct4_key_set(&k4, iip->daddr, iip->saddr, l4->dport, l4->sport, iip->protocol);
	ct = bpf_map_lookup_elem(&ekp_ct4_v2, &k4);
	/* An expired entry whose other half is gone too is a finished flow's
	 * (ct_rev_stale): the error is about whatever uses the tuple now. */
	if (!ct || !ct4_live(&k4, ct, ekp_now()))
		return EKP_V_PASS;
	__builtin_memset(&n, 0, sizeof(n));
	n.saddr.v4 = iip->saddr;
	n.daddr.v4 = iip->daddr;
	n.sport = l4->sport;
	n.dport = l4->dport;
	emb_translate(ct, &n);

	/* Outer: see the top of this file. */
	os = ip->saddr;
	od = ip->daddr;
	if (od == iip->saddr)
		od = n.saddr.v4;
	if (os == iip->daddr)
		os = n.daddr.v4;

	/* Embedded IP header: addresses and its checksum. */
	addr_diff = csum_diff32(0, iip->saddr, n.saddr.v4);
	addr_diff = csum_diff32(addr_diff, iip->daddr, n.daddr.v4);
	c = iip->check;
	iip->check = csum_apply(c, addr_diff);
	sum = addr_diff + csum_diff16(0, c, iip->check);
	iip->saddr = n.saddr.v4;
	iip->daddr = n.daddr.v4;
	sum += emb_l4_patch(l4, end, iip->protocol, 0,
			    p->l4_len - ICMP_HLEN_ - sizeof(struct iphdr), addr_diff, &n);
	/* ICMPv4 has no pseudo-header. */
	ic->checksum = csum_apply(ic->checksum, sum);

	addr_diff = csum_diff32(0, ip->saddr, os);
	addr_diff = csum_diff32(addr_diff, ip->daddr, od);
	ip->check = csum_apply(ip->check, addr_diff);
	ip->saddr = os;
	ip->daddr = od;
	p->saddr.v4 = os;
	p->daddr.v4 = od;

	*ct_type = ct->type;
	*ct_flags = ct->flags;
	count_event(ctx, EKP_EV_ICMP_ERR_XLATE);
	return EKP_CONTINUE;
}

/*
 * fh: 8 for an error about a UDP datagram's first fragment, whose UDP
 * header follows the fragment header (as conntrack finds it,
 * ipv6_skip_exthdr), else 0. A constant in each of icmp6_error()'s two
 * calls: one offset variable would cost the pipeline's frame a slot it
 * does not have. icmp6_error() checked the offsets and pulled the headers.
 */
EKP_INLINE int icmp6_error_at(struct ekp_ctx *ctx, struct pkt *p, __u8 *ct_type, __u8 *ct_flags, const __u32 fh)
{
	const __u32 min = ICMP_HLEN_ + sizeof(struct ipv6hdr) + fh + 8;
	struct ekp_ct_key k;
	struct ekp_ct_val *ct;
	struct nat_tuple n;
	struct ipv6hdr *ip6, *iip6;
	struct icmphdr_ *ic;
	struct emb_l4 *l4;
	__u64 addr_diff, sum;
	int fix_s, fix_d;
	void *end;
	__u8 nh;

	ip6 = ctx_data(ctx) + ETH_HLEN_;
	ic = (void *)(ip6 + 1);
	iip6 = (void *)(ic + 1);
	l4 = (void *)(iip6 + 1) + fh;
	end = ctx_data_end(ctx);
	if ((void *)iip6 > end)
		return EKP_V_PASS;
	if (!icmp_is_error(ic->type, 1))
		return EKP_V_PASS;
	if (p->l4_len < min || (void *)&l4->w4 > end)
		return icmp_err_odd(ctx);
	nh = iip6->nexthdr;
	if (iip6->version != 6)
		return icmp_err_odd(ctx);
	if (fh) {
		struct frag_hdr_ *ifh = (void *)(iip6 + 1);

		if (nh != IPPROTO_FRAGMENT || (void *)(ifh + 1) > end || ifh->nexthdr != IPPROTO_UDP ||
		    (ifh->frag_off & bpf_htons(0xfff8)))
			return icmp_err_odd(ctx);
		nh = IPPROTO_UDP;
	}
	if (!icmp_embedded_proto_ok(nh)) {
		/* Extension headers: we never parse past them (see parse.h). */
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
		    nh == IPPROTO_DSTOPTS || nh == 51 || nh == 50)
			return icmp_err_odd(ctx);
		return EKP_V_PASS;
	}

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(&k.saddr, &iip6->daddr, 16);
	__builtin_memcpy(&k.daddr, &iip6->saddr, 16);
	k.sport = l4->dport;
	k.dport = l4->sport;
	k.proto = nh;
	k.family = EKP_FAMILY_V6;
	ct = bpf_map_lookup_elem(&ekp_ct_v2, &k);
	if (!ct || !ct_live(&k, ct, ekp_now()))
		return EKP_V_PASS;
	/* The old tuple is k reversed. */
	addr_copy(&n.saddr, &k.daddr);
	addr_copy(&n.daddr, &k.saddr);
	n.sport = k.dport;
	n.dport = k.sport;
	emb_translate(ct, &n);
	fix_d = addr_same(&p->daddr, &k.daddr);
	fix_s = addr_same(&p->saddr, &k.saddr);

	addr_diff = csum_diff_addr(0, &k.daddr, &n.saddr, EKP_FAMILY_V6);
	addr_diff = csum_diff_addr(addr_diff, &k.saddr, &n.daddr, EKP_FAMILY_V6);
	__builtin_memcpy(&iip6->saddr, &n.saddr, 16);
	__builtin_memcpy(&iip6->daddr, &n.daddr, 16);
	sum = addr_diff + emb_l4_patch(l4, end, nh, 1,
				       p->l4_len - ICMP_HLEN_ - sizeof(struct ipv6hdr) - fh, addr_diff, &n);
	/* ICMPv6: the pseudo-header has the outer addresses. */
	if (fix_d)
		addr_copy(&p->daddr, &n.saddr);
	if (fix_s)
		addr_copy(&p->saddr, &n.daddr);
	sum = csum_diff_addr(sum, (union ekp_addr *)&ip6->saddr, &p->saddr, EKP_FAMILY_V6);
	sum = csum_diff_addr(sum, (union ekp_addr *)&ip6->daddr, &p->daddr, EKP_FAMILY_V6);
	ic->checksum = csum_apply(ic->checksum, sum);
	__builtin_memcpy(&ip6->saddr, &p->saddr, 16);
	__builtin_memcpy(&ip6->daddr, &p->daddr, 16);

	*ct_type = ct->type;
	*ct_flags = ct->flags;
	count_event(ctx, EKP_EV_ICMP_ERR_XLATE);
	return EKP_CONTINUE;
}

EKP_INLINE int icmp6_error(struct ekp_ctx *ctx, struct pkt *p, __u8 *ct_type, __u8 *ct_flags)
{
	/* ICMPv6's header, the embedded IPv6 header, a fragment header, and 20
	 * bytes of the embedded L4 header: one pull for both layouts. */
	const __u32 most = ICMP_HLEN_ + sizeof(struct ipv6hdr) + 8 + 20;
	__u8 *nh;

	if (p->l4_off != ETH_HLEN_ + sizeof(struct ipv6hdr) || p->l4_len < ICMP_HLEN_)
		return EKP_V_PASS;
	if (ctx_pull(ctx, p->l4_off + (p->l4_len < most ? p->l4_len : most)) < 0)
		return EKP_V_PASS;
	/* The embedded header's next header: its byte 6, past ICMPv6's 8. */
	nh = ctx_data(ctx) + ETH_HLEN_ + sizeof(struct ipv6hdr) + ICMP_HLEN_ + 6;
	if ((void *)(nh + 1) <= ctx_data_end(ctx) && *nh == IPPROTO_FRAGMENT)
		return icmp6_error_at(ctx, p, ct_type, ct_flags, 8);
	return icmp6_error_at(ctx, p, ct_type, ct_flags, 0);
}

/*
 * parse_packet said EKP_ICMP: p has the outer addresses and the ICMP offsets.
 * Returns a verdict, or EKP_CONTINUE when the error was translated: p then has
 * the new outer addresses, and ct_type, ct_flags those of the flow's entry, for the
 * same forwarding decision as the flow's own packets.
 */
EKP_INLINE int icmp_error(struct ekp_ctx *ctx, struct pkt *p, __u8 *ct_type, __u8 *ct_flags)
{
	if (p->family == EKP_FAMILY_V6)
		return icmp6_error(ctx, p, ct_type, ct_flags);
	return icmp4_error(ctx, p, ct_type, ct_flags);
}

#endif /* !EKP_XDP */
#endif /* EKP_ICMP_ERR_H */
