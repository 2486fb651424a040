/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * reject.h — answer a packet for a service without endpoints at once:
 * TCP gets a RST, everything else an ICMP/ICMPv6 port unreachable, built
 * in place from the offending packet and sent back where it came from.
 * tc only (needs skb resize helpers); XDP hands such packets to the stack.
 *
 * Reply source = the frontend address the client used, so the client's
 * stack matches it to its socket.
 */
#ifndef EKP_REJECT_H
#define EKP_REJECT_H

#ifndef EKP_XDP

#include "common.h"
#include "csum.h"
#include "parse.h"
#include "stats.h"

#define EKP_REPLY_TTL 64

EKP_INLINE void eth_swap(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

/* Fill an IPv4 header (no options) and its checksum. */
EKP_INLINE void ip4_fill(struct iphdr *ip, __be32 saddr, __be32 daddr,
			 __u16 tot_len, __u8 proto, __u8 tos)
{
	__u64 sum = 0;

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = tos;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = EKP_REPLY_TTL;
	ip->protocol = proto;
	ip->check = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
#pragma unroll
	for (int i = 0; i < 5; i++)
		sum += ((__u32 *)ip)[i];
	ip->check = csum_finish(sum);
}

EKP_INLINE void ip6_fill(struct ipv6hdr *ip6, const union ekp_addr *saddr,
			 const union ekp_addr *daddr, __u16 plen, __u8 nexthdr)
{
	*(__be32 *)ip6 = bpf_htonl(0x60000000);
	ip6->payload_len = bpf_htons(plen);
	ip6->nexthdr = nexthdr;
	ip6->hop_limit = EKP_REPLY_TTL;
	__builtin_memcpy(&ip6->saddr, saddr, 16);
	__builtin_memcpy(&ip6->daddr, daddr, 16);
}

/*
 * The Internet sum of the reply's first n4 (IPv4) or n6 (IPv6) bytes from
 * the network header, or 0 past the packet's end. A reply is written in
 * place, past the helpers that keep skb->csum; under CHECKSUM_COMPLETE
 * (a NIC that sums every packet) the sums before and after tell
 * bpf_csum_update what changed, which is otherwise a no-op.
 */
EKP_INLINE __u32 net_sum(struct ekp_ctx *ctx, int v6, __u32 n4, __u32 n6)
{
	void *l3 = ctx_data(ctx) + ETH_HLEN_, *end = ctx_data_end(ctx);
	__s64 s;

	if (v6)
		s = l3 + n6 > end ? 0 : bpf_csum_diff(NULL, 0, l3, n6, 0);
	else
		s = l3 + n4 > end ? 0 : bpf_csum_diff(NULL, 0, l3, n4, 0);
	return s < 0 ? 0 : (__u32)s;
}

/* The redirect that sends the reply back to the sender. */
EKP_INLINE int reply_redirect(struct ekp_ctx *ctx)
{
	__u64 flags = (ekp_cfg.flags & EKP_CFG_F_FROM_HOST) ? BPF_F_INGRESS : 0;

	if (bpf_redirect(ctx->ifindex, flags) != TC_ACT_REDIRECT)
		return drop(ctx, EKP_DROP_REJECT);
	return EKP_V_REDIRECT;
}

EKP_INLINE int reject_tcp_rst(struct ekp_ctx *ctx, const struct pkt *p)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	int v6 = p->family == EKP_FAMILY_V6;
	__u32 l3len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 seq, ack_seq, plen, doff, was;
	struct tcphdr *th;
	__u8 flags;
	__u64 sum;

	if (p->l4_off > 256)
		return drop(ctx, EKP_DROP_REJECT);
	th = data + p->l4_off;
	if ((void *)(th + 1) > end)
		return drop(ctx, EKP_DROP_REJECT);
	if (p->tcp_flags & TCPF_RST_)
		return drop(ctx, EKP_DROP_NO_BACKEND); /* never answer a RST */
	seq = bpf_ntohl(th->seq);
	ack_seq = bpf_ntohl(th->ack_seq);
	doff = (__u32)th->doff * 4;
	plen = p->l4_len - doff;
	flags = p->tcp_flags;

	if (bpf_skb_change_tail(ctx, ETH_HLEN_ + l3len + sizeof(*th), 0) < 0)
		return drop(ctx, EKP_DROP_REJECT);
	/* After the cut: a request it cut has left CHECKSUM_COMPLETE (nothing to
	 * keep), and one it did not is these headers, all skb->csum sums. */
	was = net_sum(ctx, v6, sizeof(struct iphdr) + sizeof(*th), sizeof(struct ipv6hdr) + sizeof(*th));
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	if (data + ETH_HLEN_ + l3len + sizeof(*th) > end)
		return drop(ctx, EKP_DROP_REJECT);
	eth_swap(data);
	if (p->family == EKP_FAMILY_V6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;

		if ((void *)(ip6 + 1) > end)
			return drop(ctx, EKP_DROP_REJECT);
		ip6_fill(ip6, &p->daddr, &p->saddr, sizeof(*th), IPPROTO_TCP);
		th = (void *)(ip6 + 1);
	} else {
		struct iphdr *ip = data + ETH_HLEN_;

		if ((void *)(ip + 1) > end)
			return drop(ctx, EKP_DROP_REJECT);
		ip4_fill(ip, p->daddr.v4, p->saddr.v4, sizeof(*ip) + sizeof(*th),
			 IPPROTO_TCP, 0);
		th = (void *)(ip + 1);
	}
	if ((void *)(th + 1) > end)
		return drop(ctx, EKP_DROP_REJECT);
	__builtin_memset(th, 0, sizeof(*th));
	th->source = p->dport;
	th->dest = p->sport;
	th->doff = 5;
	if (flags & TCPF_ACK_) {
		/* RFC 9293 3.10.7.1: <SEQ=SEG.ACK><CTL=RST> */
		th->seq = bpf_htonl(ack_seq);
		th->rst = 1;
	} else {
		/* <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
		ack_seq = seq + plen + !!(flags & TCPF_SYN_) + !!(flags & TCPF_FIN_);
		th->ack_seq = bpf_htonl(ack_seq);
		th->rst = 1;
		th->ack = 1;
	}
	sum = csum_pseudo(&p->daddr, &p->saddr, p->family, sizeof(*th), IPPROTO_TCP);
#pragma unroll
	for (int i = 0; i < 5; i++)
		sum += ((__u32 *)th)[i];
	th->check = csum_finish(sum);
	bpf_csum_update(ctx, kcsum_add(net_sum(ctx, v6, sizeof(struct iphdr) + sizeof(*th), sizeof(struct ipv6hdr) + sizeof(*th)), ~was));
	count_event(ctx, EKP_EV_REJECT_TCP_RST);
	return reply_redirect(ctx);
}

/*
 * Writes tuple `as` into the quote q of an error about p, rewritten as p is
 * (the L3 header and 8 bytes of p's): what Linux's conntrack does to the
 * quote of an error about a NATed flow (nf_nat_icmp_reply_translation):
 * addresses, ports, the IPv4 header's checksum, and UDP's (TCP's and SCTP's
 * lie past the 8 bytes). Adds to *diff how the quote's sum changed, and
 * returns 0, or -1 past end.
 */
EKP_INLINE int quote_as(void *q, void *end, const struct pkt *p, const struct nat_tuple *as, __u64 *diff)
{
	__u64 addr_diff = 0, port_diff;
	__be16 *l4;
	__u16 was;

	addr_diff = csum_diff_addr(addr_diff, &p->saddr, &as->saddr, p->family);
	addr_diff = csum_diff_addr(addr_diff, &p->daddr, &as->daddr, p->family);
	port_diff = csum_diff16(csum_diff16(0, p->sport, as->sport), p->dport, as->dport);
	if (p->family == EKP_FAMILY_V6) {
		struct ipv6hdr *ip6 = q;

		if ((void *)(ip6 + 1) + 8 > end)
			return -1;
		__builtin_memcpy(&ip6->saddr, &as->saddr, 16);
		__builtin_memcpy(&ip6->daddr, &as->daddr, 16);
		*diff += addr_diff;
		l4 = (void *)(ip6 + 1);
		/* A first fragment's ports follow its fragment header. */
		if (p->frag)
			l4 += 4;
	} else {
		struct iphdr *ip = q;

		if ((void *)(ip + 1) + 8 > end)
			return -1;
		ip->saddr = as->saddr.v4;
		ip->daddr = as->daddr.v4;
		/* Its checksum takes the addresses' change: the header's sum stays. */
		ip->check = csum_apply(ip->check, addr_diff);
		l4 = (void *)(ip + 1);
	}
	if ((void *)(l4 + 4) > end)
		return -1;
	l4[0] = as->sport;
	l4[1] = as->dport;
	*diff += port_diff;
	/* A UDP sum of 0 is none, and stays none; one that comes to 0 is 0xffff. */
	if (p->proto == IPPROTO_UDP && l4[3]) {
		was = l4[3];
		l4[3] = csum_apply(was, addr_diff + port_diff);
		if (!l4[3])
			l4[3] = 0xffff;
		*diff = csum_diff16(*diff, was, l4[3]);
	}
	return 0;
}

/*
 * An ICMP(v6) error about p, built in its place and sent back to its sender:
 * type and code of the family's, `rest` the header's second word (an MTU),
 * quoting p's L3 header + 8 bytes (an IPv6 first fragment's fragment header
 * too). From the address p was sent to, to its
 * source; or, with `as` (p as it came, before a rewrite), from as's
 * destination to its source, quoting p as `as`. Counted as `event`.
 */
EKP_INLINE int icmp_error_reply(struct ekp_ctx *ctx, const struct pkt *p, __u8 type, __u8 code,
				__be32 rest, enum ekp_event event, const struct nat_tuple *as)
{
	int v6 = p->family == EKP_FAMILY_V6;
	const union ekp_addr *from = as ? &as->daddr : &p->daddr, *to = as ? &as->saddr : &p->saddr;
	__u32 l3len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	/* IPv6's first fragment: its fragment header too, so that the quote
	 * holds the ports the sender's stack finds its socket by. */
	__u32 fh = v6 && p->frag ? 8 : 0;
	__u32 quote = l3len + fh + 8;     /* quoted bytes */
	__u32 grow = l3len + 8;           /* new L3 + ICMP header */
	__u64 quote_diff = 0;
	void *data, *end;
	__u64 sum = 0;
	__u32 *w;

	if (bpf_skb_change_tail(ctx, ETH_HLEN_ + quote, 0) < 0)
		return drop(ctx, EKP_DROP_REJECT);
	if (bpf_skb_adjust_room(ctx, grow, BPF_ADJ_ROOM_MAC, 0) < 0)
		return drop(ctx, EKP_DROP_REJECT);
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	if (as && quote_as(data + ETH_HLEN_ + grow, end, p, as, &quote_diff) < 0)
		return drop(ctx, EKP_DROP_REJECT);
	if (v6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;
		struct icmphdr_ *ic = (void *)(ip6 + 1);

		/* 14 + 40 + 8 + 48, and the fragment header's 8 below */
		if (data + ETH_HLEN_ + 96 > end)
			return drop(ctx, EKP_DROP_REJECT);
		eth_swap(data);
		ip6_fill(ip6, from, to, 56 + fh, IPPROTO_ICMPV6);
		ic->type = type;
		ic->code = code;
		ic->checksum = 0;
		ic->rest = rest;
		sum = csum_pseudo(from, to, p->family, 56 + fh, IPPROTO_ICMPV6);
		w = (void *)ic;
#pragma unroll
		for (int i = 0; i < 14; i++)
			sum += w[i];
		if (fh) {
			if (data + ETH_HLEN_ + 104 > end)
				return drop(ctx, EKP_DROP_REJECT);
			sum += w[14];
			sum += w[15];
		}
		ic->checksum = csum_finish(sum);
	} else {
		struct iphdr *ip = data + ETH_HLEN_;
		struct icmphdr_ *ic = (void *)(ip + 1);

		/* 14 + 20 + 8 + 28 */
		if (data + ETH_HLEN_ + 56 > end)
			return drop(ctx, EKP_DROP_REJECT);
		eth_swap(data);
		ip4_fill(ip, from->v4, to->v4, 56, IPPROTO_ICMP, 0xc0);
		ic->type = type;
		ic->code = code;
		ic->checksum = 0;
		ic->rest = rest;
		w = (void *)ic;
#pragma unroll
		for (int i = 0; i < 9; i++)
			sum += w[i];
		ic->checksum = csum_finish(sum);
	}
	/* The room adjust_room made was zeros, and of an even size (the quote's
	 * sum stays as it was behind it): what it holds now is the change, with
	 * what quote_as changed in the quote. If change_tail cut the request, it
	 * left CHECKSUM_COMPLETE already. */
	bpf_csum_update(ctx, kcsum_add(net_sum(ctx, v6, sizeof(struct iphdr) + 8, sizeof(struct ipv6hdr) + 8),
				       as ? csum_to_wsum(quote_diff) : 0));
	count_event(ctx, event);
	return reply_redirect(ctx);
}

/* ICMP(v6) port unreachable quoting the original L3 header + 8 bytes. */
EKP_INLINE int reject_icmp(struct ekp_ctx *ctx, const struct pkt *p)
{
	int v6 = p->family == EKP_FAMILY_V6;

	return icmp_error_reply(ctx, p, v6 ? ICMPV6_DEST_UNREACH_ : ICMP_DEST_UNREACH_,
				v6 ? ICMPV6_PORT_UNREACH_ : ICMP_PORT_UNREACH_, 0, EKP_EV_REJECT_ICMP, NULL);
}

EKP_INLINE int reject(struct ekp_ctx *ctx, const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP && !(ekp_cfg.flags & EKP_CFG_F_REJECT_ICMP_TCP))
		return reject_tcp_rst(ctx, p);
	return reject_icmp(ctx, p);
}

#endif /* !EKP_XDP */
#endif /* EKP_REJECT_H */
