/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdp_floor — the benchmark's baseline: parse Ethernet/IP/L4 and do one hash
 * lookup of the destination (the service map's key), then XDP_PASS. The
 * distance between this and xdp_lb is the cost of load balancing proper.
 */
#define EKP_XDP 1
#include "lib/parse.h"

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	struct ekp_svc_key k;
	struct pkt p;
	int ret;

	ret = parse_packet(ctx, &p);
	if (ret != EKP_CONTINUE)
		return ret == EKP_V_DROP ? XDP_DROP : XDP_PASS;
	__builtin_memset(&k, 0, sizeof(k));
	addr_copy(&k.addr, &p.daddr);
	k.port = p.dport;
	k.proto = p.proto;
	k.family = p.family;
	if (bpf_map_lookup_elem(&ekp_svc_v1, &k))
		count_event(ctx, EKP_EV_CT_HIT_FWD); /* touch the value like lb does */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
