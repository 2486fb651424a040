/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xdp_floor — the benchmark's baseline at XDP (lib/floor.h): parse + one lookup, XDP_PASS. */
#define EKP_XDP 1
#include "lib/floor.h"

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	floor_lookup(ctx);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
