/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nat.h — rewrite a parsed packet's addresses and ports (DNAT, SNAT and the
 * reverse of both) with incremental checksum updates, and pick SNAT ports.
 */
#ifndef EKP_NAT_H
#define EKP_NAT_H

#include "common.h"
#include "csum.h"
#include "parse.h"
#include "sctp.h"
#include "stats.h"
#ifndef EKP_XDP
#include "skb_csum.h"
#endif

EKP_INLINE __u32 l4_csum_off(const struct pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return p->l4_off + offsetof(struct tcphdr, check);
	if (p->proto == IPPROTO_UDP)
		return p->l4_off + offsetof(struct udphdr, check);
	return 0;
}

#ifdef EKP_XDP
/* No skb yet: patch checksum fields directly. */
EKP_INLINE int nat_fix_csums(struct ekp_ctx *ctx, const struct pkt *p,
			     __u64 addr_diff, __u64 port_diff)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	__u32 off;
	__u16 *c;

	if (p->family == EKP_FAMILY_V4) {
		struct iphdr *ip = data + ETH_HLEN_;

		if ((void *)(ip + 1) > end)
			return -1;
		ip->check = csum_apply(ip->check, addr_diff);
	}
	off = l4_csum_off(p);
	if (!off)
		return 0;
	if (off > 256)
		return -1;
	c = data + off;
	if ((void *)(c + 1) > end)
		return -1;
	/* UDP without checksum stays without (IPv6 allows it for tunnels only,
	 * RFC 6935, and a sum patched onto 0 would be wrong anyway): as tc. */
	if (p->proto == IPPROTO_UDP && *c == 0)
		return 0;
	*c = csum_apply(*c, addr_diff + port_diff);
	if (p->proto == IPPROTO_UDP && *c == 0)
		*c = 0xffff;
	return 0;
}
#else
/*
 * The TCP or UDP checksum field of p, or NULL past the packet's end. Read
 * through its header, as parse reads it: a pointer moved by the field's
 * offset instead had no range for 6.1's verifier (6.18's takes it), and
 * kernels from 6.2 on run the direct path below.
 */
EKP_INLINE __u16 *l4_csum_field(struct ekp_ctx *ctx, const struct pkt *p)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);

	if (p->l4_off > 256)
		return NULL;
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = data + p->l4_off;

		return (void *)(uh + 1) > end ? NULL : &uh->check;
	}
	{
		struct tcphdr *th = data + p->l4_off;

		return (void *)(th + 1) > end ? NULL : &th->check;
	}
}

/*
 * What bpf_l4_csum_replace() does to the field (net/core/filter.c,
 * inet_proto_csum_replace_by_diff()), without the call, for the states
 * where only the field changes: the address diff goes in as the
 * pseudo-header's (CHECKSUM_PARTIAL: the field holds only that sum), the
 * ports' diff too unless CHECKSUM_PARTIAL. A UDP field of 0 (no checksum)
 * stays 0, and a result of 0 becomes 0xffff, as with BPF_F_MARK_MANGLED_0.
 */
EKP_INLINE int l4_csum_direct(struct ekp_ctx *ctx, const struct pkt *p,
			      __u32 addr_w, __u32 port_w, int partial)
{
	__u16 *c = l4_csum_field(ctx, p), v;
	int udp = p->proto == IPPROTO_UDP;

	if (!c)
		return -1;
	v = *c;
	if (udp && !v)
		return 0;
	if (addr_w) {
		v = partial ? (__u16)~kcsum_fold(kcsum_add(addr_w, v)) : kcsum_fold(kcsum_add(addr_w, ~(__u32)v));
		if (udp && !v)
			v = 0xffff;
	}
	if (port_w && !partial) {
		v = kcsum_fold(kcsum_add(port_w, ~(__u32)v));
		if (udp && !v)
			v = 0xffff;
	}
	*c = v;
	return 0;
}

EKP_INLINE int nat_fix_csums(struct ekp_ctx *ctx, const struct pkt *p,
			     __u64 addr_diff, __u64 port_diff)
{
	__u32 off = l4_csum_off(p);
	__u64 mangled0 = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	int summed;

	/* The IPv4 header checksum is patched in place, as at XDP: the header
	 * is in the linear part (parse pulled it), and its sum does not change,
	 * so skb->csum needs nothing (bpf_l3_csum_replace does the same, for
	 * the price of a helper call). */
	if (p->family == EKP_FAMILY_V4) {
		struct iphdr *ip = ctx_data(ctx) + ETH_HLEN_;

		if ((void *)(ip + 1) > ctx_data_end(ctx))
			return -1;
		ip->check = csum_apply(ip->check, addr_diff);
	}
	if (!off)
		return 0;
	/* CHECKSUM_COMPLETE also moves skb->csum, which only the helper may write. */
	summed = skb_ip_summed(ctx);
	if (summed >= 0 && summed != EKP_CHECKSUM_COMPLETE)
		return l4_csum_direct(ctx, p, addr_diff ? csum_to_wsum(addr_diff) : 0,
				      port_diff ? csum_to_wsum(port_diff) : 0,
				      summed == EKP_CHECKSUM_PARTIAL);
	/* A UDP datagram without a checksum keeps none (the helper leaves a 0
	 * alone, BPF_F_MARK_MANGLED_0), so no field in it takes the ports'
	 * change out of the packet's sum: skb->csum must take it in. (IPv6's
	 * addresses' is put in below, as for every datagram.) */
	if (mangled0 && port_diff) {
		__u16 *c = l4_csum_field(ctx, p);

		if (!c)
			return -1;
		if (!*c)
			bpf_csum_update(ctx, csum_to_wsum(port_diff));
	}
	if (addr_diff &&
	    bpf_l4_csum_replace(ctx, off, 0, csum_to_wsum(addr_diff),
				BPF_F_PSEUDO_HDR | mangled0) < 0)
		return -1;
	/* Under CHECKSUM_COMPLETE the helper also takes the pseudo-header's
	 * change out of skb->csum: right for IPv4, whose address bytes and
	 * header checksum cancel in the sum, leaving the L4 field's change;
	 * wrong for IPv6, whose address bytes cancel the L4 field's change
	 * themselves (6.16 fixed it only behind a new flag, BPF_F_IPV6). Put it
	 * back. A UDP field of 0 the helper left alone, taking nothing out:
	 * then nothing offsets IPv6's addresses' change, which must go in all
	 * the same. Outside CHECKSUM_COMPLETE bpf_csum_update does nothing. */
	if (addr_diff && p->family == EKP_FAMILY_V6)
		bpf_csum_update(ctx, csum_to_wsum(addr_diff));
	if (port_diff &&
	    bpf_l4_csum_replace(ctx, off, 0, csum_to_wsum(port_diff), mangled0) < 0)
		return -1;
	return 0;
}
#endif

/*
 * Rewrite p's tuple into `to`. Only fields that change are touched. On
 * success p reflects the new tuple. Returns 0 or -1 (packet unchanged only
 * if the failure was in the first step; callers drop with a reason).
 */
EKP_INLINE int nat_rewrite(struct ekp_ctx *ctx, struct pkt *p,
			   const struct nat_tuple *to)
{
	__u64 addr_diff = 0, port_diff = 0;
	void *data, *end;
	int v6 = p->family == EKP_FAMILY_V6;

	addr_diff = csum_diff_addr(addr_diff, &p->saddr, &to->saddr, p->family);
	addr_diff = csum_diff_addr(addr_diff, &p->daddr, &to->daddr, p->family);
	if (addr_eq(&p->saddr, &to->saddr) && addr_eq(&p->daddr, &to->daddr))
		addr_diff = 0;
	if (p->sport != to->sport)
		port_diff = csum_diff16(port_diff, p->sport, to->sport);
	if (p->dport != to->dport)
		port_diff = csum_diff16(port_diff, p->dport, to->dport);

	/* SCTP: only the IPv4 header checksum here (l4_csum_off() is 0); its
	 * CRC32c covers the ports, not the addresses. */
	if (nat_fix_csums(ctx, p, addr_diff, port_diff) < 0)
		return -1;
	if (p->proto == IPPROTO_SCTP) {
		/* What skb->csum must take in under CHECKSUM_COMPLETE: the
		 * ports and CRC, and IPv6's addresses, which no checksum in
		 * the packet offsets (IPv4's header checksum does). */
		__u64 sum_diff = v6 ? addr_diff : 0;

		if (sctp_update_ports(ctx, p, to->sport, to->dport, &sum_diff) < 0)
			return -1;
#ifndef EKP_XDP
		if (sum_diff)
			bpf_csum_update(ctx, csum_to_wsum(sum_diff));
#endif
	}

	data = ctx_data(ctx);
	end = ctx_data_end(ctx);
	if (v6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;

		if ((void *)(ip6 + 1) > end)
			return -1;
		__builtin_memcpy(&ip6->saddr, &to->saddr, 16);
		__builtin_memcpy(&ip6->daddr, &to->daddr, 16);
	} else {
		struct iphdr *ip = data + ETH_HLEN_;

		if ((void *)(ip + 1) > end)
			return -1;
		ip->saddr = to->saddr.v4;
		ip->daddr = to->daddr.v4;
	}
	{
		__be16 *ports;

		if (p->l4_off > 256)
			return -1;
		ports = data + p->l4_off;
		if ((void *)(ports + 2) > end)
			return -1;
		ports[0] = to->sport;
		ports[1] = to->dport;
	}
	addr_copy(&p->saddr, &to->saddr);
	addr_copy(&p->daddr, &to->daddr);
	p->sport = to->sport;
	p->dport = to->dport;
	return 0;
}

#ifndef EKP_XDP
/*
 * The rewrite of a later fragment of a datagram (parse.h), which has no L4
 * header: its addresses, and IPv4's header checksum. The UDP checksum, in
 * the first fragment, took the whole datagram's change there. IPv4's header
 * sum does not change, so skb->csum needs nothing; IPv6's addresses are
 * offset by no checksum in the packet, so under CHECKSUM_COMPLETE skb->csum
 * takes their change (elsewhere bpf_csum_update does nothing).
 */
EKP_INLINE int nat_rewrite_l3(struct ekp_ctx *ctx, struct pkt *p, const struct nat_tuple *to)
{
	void *data = ctx_data(ctx), *end = ctx_data_end(ctx);
	__u64 addr_diff = 0;

	addr_diff = csum_diff_addr(addr_diff, &p->saddr, &to->saddr, p->family);
	addr_diff = csum_diff_addr(addr_diff, &p->daddr, &to->daddr, p->family);
	if (p->family == EKP_FAMILY_V6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;

		if ((void *)(ip6 + 1) > end)
			return -1;
		__builtin_memcpy(&ip6->saddr, &to->saddr, 16);
		__builtin_memcpy(&ip6->daddr, &to->daddr, 16);
		bpf_csum_update(ctx, csum_to_wsum(addr_diff));
	} else {
		struct iphdr *ip = data + ETH_HLEN_;

		if ((void *)(ip + 1) > end)
			return -1;
		ip->check = csum_apply(ip->check, addr_diff);
		ip->saddr = to->saddr.v4;
		ip->daddr = to->daddr.v4;
	}
	addr_copy(&p->saddr, &to->saddr);
	addr_copy(&p->daddr, &to->daddr);
	p->sport = to->sport;
	p->dport = to->dport;
	return 0;
}
#endif

EKP_INLINE void cfg_addr(union ekp_addr *out, const volatile union ekp_addr *in)
{
	out->v6[0] = in->v6[0];
	out->v6[1] = in->v6[1];
	out->v6[2] = in->v6[2];
	out->v6[3] = in->v6[3];
}

/* Source address for SNAT (or hairpin) of a flow; all zero = not configured. */
EKP_INLINE void snat_addr(union ekp_addr *out, __u8 family, int hairpin)
{
	if (family == EKP_FAMILY_V6) {
		cfg_addr(out, &ekp_cfg.hairpin_v6);
		if (!hairpin || addr_is_zero(out))
			cfg_addr(out, &ekp_cfg.snat_v6);
		return;
	}
	cfg_addr(out, &ekp_cfg.hairpin_v4);
	if (!hairpin || addr_is_zero(out))
		cfg_addr(out, &ekp_cfg.snat_v4);
}

EKP_INLINE __be16 snat_pick_port(void)
{
	__u32 lo = ekp_cfg.snat_port_min, hi = ekp_cfg.snat_port_max;
	__u32 span = hi >= lo ? hi - lo + 1 : 1;

	return bpf_htons((__u16)(lo + bpf_get_prandom_u32() % span));
}

#endif /* EKP_NAT_H */
