/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* stats.h — drop reasons, events and per-service counters (per-CPU). */
#ifndef EKP_STATS_H
#define EKP_STATS_H

#include "maps.h"

EKP_INLINE void counter_add(void *map, __u32 idx, __u32 bytes)
{
	struct ekp_counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

EKP_INLINE void count_event(struct ekp_ctx *ctx, enum ekp_event ev)
{
	counter_add(&ekp_event_v1, ev, ctx_len(ctx));
}

EKP_INLINE void count_svc(struct ekp_ctx *ctx, __u32 svc_id)
{
	counter_add(&ekp_svcstat_v1, svc_id, ctx_len(ctx));
}

/* Every drop goes through here: count it under its reason, return DROP. */
EKP_INLINE int drop(struct ekp_ctx *ctx, enum ekp_drop_reason reason)
{
	counter_add(&ekp_drop_v1, reason, ctx_len(ctx));
	return EKP_V_DROP;
}

#endif /* EKP_STATS_H */
