/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * floor.h — the benchmark's baseline, at either hook: parse Ethernet/IP/L4 and
 * do one hash lookup of the destination (the service map's key). The distance
 * between this and the real program at the same hook is the cost of load
 * balancing proper; the same body at both hooks shows what the hook itself
 * costs (test-run of a tc program that only returns costs ~2x an XDP one).
 */
#ifndef EKP_FLOOR_H
#define EKP_FLOOR_H

#include "keys.h"
#include "parse.h"

/* 1: the packet parsed and its destination was looked up; 0: not parsed. */
EKP_INLINE int floor_lookup(struct ekp_ctx *ctx)
{
	struct ekp_svc_key k;
	struct pkt p;

	if (parse_packet(ctx, &p) != EKP_CONTINUE)
		return 0;
	svc_key_set(&k, &p.daddr, p.dport, p.proto, p.family, EKP_SCOPE_EXT);
	if (bpf_map_lookup_elem(&ekp_svc_v1, &k))
		count_event(ctx, EKP_EV_CT_HIT_FWD); /* touch the value like lb does */
	return 1;
}

#endif /* EKP_FLOOR_H */
