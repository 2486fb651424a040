/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tc_floor — the benchmark's baseline at tc (lib/floor.h): parse + one lookup, TC_ACT_OK. */
#include "lib/floor.h"

SEC("tc")
int tc_floor(struct __sk_buff *ctx)
{
	floor_lookup(ctx);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
