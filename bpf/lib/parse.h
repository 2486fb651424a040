/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * parse.h — Ethernet/IPv4/IPv6 + TCP/UDP/SCTP header parsing into a
 * struct pkt of offsets and the flow tuple (pointers do not survive helper
 * calls that may move packet data, offsets do).
 *
 * Policy for odd packets — never rewrite what we did not fully understand:
 *  - not IP, VLAN-tagged, other L4 protocols:           pass untouched
 *  - ICMP(v6): EKP_ICMP, for the error translation (icmp_err.h)
 *  - IPv4 options, fragments, IPv6 extension headers:    pass untouched + event
 *    (but at tc, fragments of a UDP datagram, IPv4 without options or IPv6
 *    with the fragment header first: the first parses as any datagram, a
 *    later one returns EKP_FRAG with its first's ports; frag.h)
 *  - impossible headers (bad version/ihl/length, L3 or L4 header cut short):
 *                                                        drop with a reason
 */
#ifndef EKP_PARSE_H
#define EKP_PARSE_H

#include "common.h"
#include "stats.h"
#include "tuple.h"
#include "frag.h"

#define ETH_HLEN_ 14
#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1FFF

/* parse_packet: an ICMP(v6) packet, not a verdict (see icmp_err.h). */
#define EKP_ICMP (-2)
/* parse_packet: a later fragment of a UDP datagram, its ports its first's
 * (p->frag is EKP_FRAG_LATER), or none (EKP_FRAG_UNSEEN: tc did not see
 * the first); pipeline.h, handle_fragment. */
#define EKP_FRAG (-3)

/* XDP passes every fragment: what follows a first fragment must meet what
 * the first became, and only tc rewrites every flow. */
#ifdef EKP_XDP
#define EKP_PARSES_FRAGS 0
#else
#define EKP_PARSES_FRAGS 1
#endif

EKP_INLINE int parse_l4(struct ekp_ctx *ctx, struct pkt *p)
{
	void *data, *end;
	__u32 need;

	switch (p->proto) {
	case IPPROTO_TCP:  need = sizeof(struct tcphdr); break;
	case IPPROTO_UDP:  need = sizeof(struct udphdr); break;
	case IPPROTO_SCTP: need = sizeof(struct sctphdr_); break;
	case IPPROTO_ICMP:
		return p->family == EKP_FAMILY_V4 ? EKP_ICMP : EKP_V_PASS;
	case IPPROTO_ICMPV6:
		return p->family == EKP_FAMILY_V6 ? EKP_ICMP : EKP_V_PASS;
	default:
		return EKP_V_PASS;
	}
	if (p->l4_len < need)
		return drop(ctx, EKP_DROP_INVALID_L4);
	if (ctx_pull(ctx, p->l4_off + need) < 0)
		return drop(ctx, EKP_DROP_INVALID_L4);
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	if (p->l4_off > 256)   /* bound for the verifier: l3_off + 60 max */
		return drop(ctx, EKP_DROP_INVALID_L4);

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = data + p->l4_off;

		if ((void *)(th + 1) > end)
			return drop(ctx, EKP_DROP_INVALID_L4);
		if (th->doff < 5 || (__u32)th->doff * 4 > p->l4_len)
			return drop(ctx, EKP_DROP_INVALID_L4);
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + p->l4_off;
		__u32 ulen;

		if ((void *)(uh + 1) > end)
			return drop(ctx, EKP_DROP_INVALID_L4);
		ulen = bpf_ntohs(uh->len);
		/* A first fragment has the datagram's length, not its own. */
		if (ulen < sizeof(*uh) || (ulen > p->l4_len && p->frag != EKP_FRAG_FIRST))
			return drop(ctx, EKP_DROP_INVALID_L4);
		p->sport = uh->source;
		p->dport = uh->dest;
	} else {
		struct sctphdr_ *sh = data + p->l4_off;

		if ((void *)(sh + 1) > end)
			return drop(ctx, EKP_DROP_INVALID_L4);
		p->sport = sh->source;
		p->dport = sh->dest;
	}
	return EKP_CONTINUE;
}

#ifndef EKP_XDP
/*
 * A UDP fragment (IPv4 without options, or IPv6 with the fragment header
 * first), its tuple filled in like any packet's but for the ports: a first
 * fragment parses on and leaves its ports for the rest (frag.h); a later
 * one takes them, and is EKP_FRAG_UNSEEN without.
 */
EKP_INLINE int parse_frag(struct ekp_ctx *ctx, struct pkt *p, __u32 id, int later)
{
	long ports;
	int ret;

	if (frag_key(p, id) < 0)
		return EKP_V_PASS;
	if (later) {
		ports = frag_ports(0);
		if (ports < 0) {
			p->frag = EKP_FRAG_UNSEEN;
			return EKP_FRAG;
		}
		p->frag = EKP_FRAG_LATER;
		p->sport = (__be16)ports;
		p->dport = (__be16)(ports >> 16);
		return EKP_FRAG;
	}
	p->frag = EKP_FRAG_FIRST;
	ret = parse_l4(ctx, p);
	if (ret != EKP_CONTINUE)
		return ret;
	frag_ports((__u32)p->sport | (__u32)p->dport << 16);
	return EKP_CONTINUE;
}
#endif

EKP_INLINE int parse_ipv4(struct ekp_ctx *ctx, struct pkt *p)
{
	struct iphdr *ip;
	void *data, *end;
	__u32 hlen, tot;

	if (ctx_pull(ctx, p->l3_off + sizeof(*ip)) < 0)
		return drop(ctx, EKP_DROP_INVALID_L3);
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	ip = data + p->l3_off;
	if ((void *)(ip + 1) > end)
		return drop(ctx, EKP_DROP_INVALID_L3);
	hlen = (__u32)ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot == 0 && ctx_is_gso(ctx))
		tot = ctx_len(ctx) - p->l3_off;
	if (ip->version != 4 || hlen < sizeof(*ip) || tot < hlen ||
	    p->l3_off + tot > ctx_len(ctx))
		return drop(ctx, EKP_DROP_INVALID_L3);
	if ((ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_)) &&
	    (!EKP_PARSES_FRAGS || ip->protocol != IPPROTO_UDP || hlen != sizeof(*ip))) {
		count_event(ctx, EKP_EV_PASS_FRAGMENT);
		return EKP_V_PASS;
	}
	if (hlen != sizeof(*ip)) {
		count_event(ctx, EKP_EV_PASS_IP_OPTIONS);
		return EKP_V_PASS;
	}
	p->family = EKP_FAMILY_V4;
	p->proto = ip->protocol;
	p->saddr.v4 = ip->saddr;
	p->daddr.v4 = ip->daddr;
	p->l4_off = p->l3_off + hlen;
	p->l4_len = tot - hlen;
#ifndef EKP_XDP
	if (ip->frag_off & bpf_htons(IP_MF_ | IP_OFFSET_))
		return parse_frag(ctx, p, ip->id, !!(ip->frag_off & bpf_htons(IP_OFFSET_)));
#endif
	return parse_l4(ctx, p);
}

/* IPv6's fragment header (RFC 8200, 4.5). */
struct frag_hdr_ {
	__u8   nexthdr;
	__u8   reserved;
	__be16 frag_off;   /* offset in 8-byte units << 3 | M */
	__be32 id;
};

#ifndef EKP_XDP
/*
 * An IPv6 packet whose first extension header is a fragment header: a UDP
 * datagram's fragment goes on as parse_frag() says, its UDP header (in the
 * first) past the fragment header; anything else passes, as every
 * extension header does.
 */
EKP_INLINE int parse_frag6(struct ekp_ctx *ctx, struct pkt *p, __u32 plen)
{
	struct ipv6hdr *ip6;
	struct frag_hdr_ *fh;
	void *data, *end;

	if (ctx_pull(ctx, p->l3_off + sizeof(*ip6) + sizeof(*fh)) < 0)
		return drop(ctx, EKP_DROP_INVALID_L3);
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	ip6 = data + p->l3_off;
	fh = (void *)(ip6 + 1);
	if ((void *)(fh + 1) > end)
		return drop(ctx, EKP_DROP_INVALID_L3);
	if (fh->nexthdr != IPPROTO_UDP) {
		count_event(ctx, EKP_EV_PASS_IPV6_EXTHDR);
		return EKP_V_PASS;
	}
	p->family = EKP_FAMILY_V6;
	p->proto = IPPROTO_UDP;
	__builtin_memcpy(&p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(&p->daddr, &ip6->daddr, 16);
	p->l4_off = p->l3_off + sizeof(*ip6) + sizeof(*fh);
	p->l4_len = plen - sizeof(*fh);
	return parse_frag(ctx, p, fh->id, !!(fh->frag_off & bpf_htons(0xfff8)));
}
#endif

EKP_INLINE int parse_ipv6(struct ekp_ctx *ctx, struct pkt *p)
{
	struct ipv6hdr *ip6;
	void *data, *end;
	__u32 plen;

	if (ctx_pull(ctx, p->l3_off + sizeof(*ip6)) < 0)
		return drop(ctx, EKP_DROP_INVALID_L3);
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	ip6 = data + p->l3_off;
	if ((void *)(ip6 + 1) > end)
		return drop(ctx, EKP_DROP_INVALID_L3);
	plen = bpf_ntohs(ip6->payload_len);
	/* BIG TCP without the jumbo option (6.17+); with it, nexthdr is HOPOPTS. */
	if (plen == 0 && ip6->nexthdr != IPPROTO_HOPOPTS && ctx_is_gso(ctx))
		plen = ctx_len(ctx) - p->l3_off - sizeof(*ip6);
	if (ip6->version != 6 || p->l3_off + sizeof(*ip6) + plen > ctx_len(ctx))
		return drop(ctx, EKP_DROP_INVALID_L3);
#ifndef EKP_XDP
	if (ip6->nexthdr == IPPROTO_FRAGMENT && plen >= sizeof(struct frag_hdr_))
		return parse_frag6(ctx, p, plen);
#endif
	switch (ip6->nexthdr) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_ICMPV6:
		break;
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_DSTOPTS:
	case 51 /* AH */:
	case 50 /* ESP */:
		count_event(ctx, EKP_EV_PASS_IPV6_EXTHDR);
		return EKP_V_PASS;
	default:
		return EKP_V_PASS;
	}
	p->family = EKP_FAMILY_V6;
	p->proto = ip6->nexthdr;
	__builtin_memcpy(&p->saddr, &ip6->saddr, 16);
	__builtin_memcpy(&p->daddr, &ip6->daddr, 16);
	p->l4_off = p->l3_off + sizeof(*ip6);
	p->l4_len = plen;
	return parse_l4(ctx, p);
}

/*
 * Returns EKP_CONTINUE with *p filled for TCP/UDP/SCTP; EKP_ICMP for ICMP (v4)
 * or ICMPv6 with p's addresses and L4 offsets (no ports: see icmp_err.h);
 * else a verdict.
 */
EKP_INLINE int parse_packet(struct ekp_ctx *ctx, struct pkt *p)
{
	struct ethhdr *eth = ctx_data(ctx);

	__builtin_memset(p, 0, sizeof(*p));
	if ((void *)(eth + 1) > ctx_data_end(ctx))
		return EKP_V_PASS;
	p->l3_off = ETH_HLEN_;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(ctx, p);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(ctx, p);
	return EKP_V_PASS;
}

#endif /* EKP_PARSE_H */
