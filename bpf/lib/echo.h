/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * echo.h — a ping to a service's address answered in place: the echo
 * request turned into its echo reply, from the address the client pinged,
 * and sent back where it came from. kube-proxy's ipvs mode answers these
 * because it puts every service address on a dummy device; without this
 * the request left by the default route: nothing answered a ClusterIP, and
 * an ExternalIP or LoadBalancer IP routed to the node went back to the
 * gateway, which routed it to the node again until its TTL ran out.
 * Which addresses are answered is the pipeline's decision (handle_icmp).
 * tc only: XDP passes ICMP to tc.
 */
#ifndef EKP_ECHO_H
#define EKP_ECHO_H

#ifndef EKP_XDP

#include "common.h"
#include "csum.h"
#include "reject.h"
#include "stats.h"

#define ICMP_ECHOREPLY_       0
#define ICMP_ECHO_            8
#define ICMPV6_ECHO_REQUEST_  128
#define ICMPV6_ECHO_REPLY_    129

/* Whether p (ICMP or ICMPv6, from parse_packet) is an echo request, in the linear part. */
EKP_INLINE int icmp_is_echo_request(struct ekp_ctx *ctx, const struct pkt *p)
{
	int v6 = p->family == EKP_FAMILY_V6;
	struct icmphdr_ *ic;
	void *data, *end;

	/* Options or extension headers: parse passed those on already; the
	 * reply below assumes the plain header. */
	if (p->l4_off != ETH_HLEN_ + (v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr)) ||
	    p->l4_len < sizeof(*ic))
		return 0;
	if (ctx_pull(ctx, p->l4_off + sizeof(*ic)) < 0)
		return 0;
	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	ic = data + (p->l4_off & 0xff); /* checked above: a bound the verifier sees */
	if ((void *)(ic + 1) > end)
		return 0;
	return ic->code == 0 && ic->type == (v6 ? ICMPV6_ECHO_REQUEST_ : ICMP_ECHO_);
}

/*
 * The request becomes the reply: addresses swapped, type changed, a fresh
 * TTL. Both checksums are patched for what changed; swapping the addresses
 * changes neither (nor the pseudo-header's sum), so under CHECKSUM_COMPLETE
 * the skb's sum stays right too, except for IPv6's hop limit, which no
 * checksum covers: that byte is written through the helper that keeps it.
 */
EKP_INLINE int echo_reply(struct ekp_ctx *ctx, const struct pkt *p)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	struct icmphdr_ *ic;

	if (p->family == EKP_FAMILY_V6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;
		__u8 hops = EKP_REPLY_TTL;

		ic = (void *)(ip6 + 1);
		if ((void *)(ic + 1) > end)
			return EKP_V_PASS;
		eth_swap(data);
		__builtin_memcpy(&ip6->saddr, &p->daddr, 16);
		__builtin_memcpy(&ip6->daddr, &p->saddr, 16);
		ic->type = ICMPV6_ECHO_REPLY_;
		ic->checksum = csum_apply(ic->checksum, csum_diff16(0, bpf_htons(ICMPV6_ECHO_REQUEST_ << 8),
								    bpf_htons(ICMPV6_ECHO_REPLY_ << 8)));
		if (bpf_skb_store_bytes(ctx, ETH_HLEN_ + 7, &hops, 1, BPF_F_RECOMPUTE_CSUM) < 0)
			return drop(ctx, EKP_DROP_REJECT);
	} else {
		struct iphdr *ip = data + ETH_HLEN_;
		__u16 ttl_was;

		ic = (void *)(ip + 1);
		if ((void *)(ic + 1) > end)
			return EKP_V_PASS;
		eth_swap(data);
		ip->saddr = p->daddr.v4;
		ip->daddr = p->saddr.v4;
		/* TTL and protocol share a 16-bit word of the header's sum. */
		ttl_was = *(__u16 *)&ip->ttl;
		ip->ttl = EKP_REPLY_TTL;
		ip->check = csum_apply(ip->check, csum_diff16(0, ttl_was, *(__u16 *)&ip->ttl));
		ic->type = ICMP_ECHOREPLY_;
		ic->checksum = csum_apply(ic->checksum, csum_diff16(0, bpf_htons(ICMP_ECHO_ << 8),
								    bpf_htons(ICMP_ECHOREPLY_ << 8)));
	}
	count_event(ctx, EKP_EV_ECHO_REPLY);
	return reply_redirect(ctx);
}

#endif /* !EKP_XDP */
#endif /* EKP_ECHO_H */
