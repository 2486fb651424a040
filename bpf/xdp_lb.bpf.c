/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * xdp_lb — NodePort/LoadBalancer/ExternalIP fast path on external devices.
 *
 * Same pipeline as tc, but anything that needs an skb (building a reject,
 * IP options, fragments) is passed to the stack untouched, where tc_ingress
 * on the same device handles it. Rewritten packets are passed to the stack
 * for routing.
 */
#define EKP_XDP 1
#include "lib/pipeline.h"

SEC("xdp")
int xdp_nodeport(struct xdp_md *ctx)
{
	switch (ekp_service_pipeline(ctx)) {
	case EKP_V_DROP: return XDP_DROP;
	case EKP_V_TX:   return XDP_TX;
	default:         return XDP_PASS;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
