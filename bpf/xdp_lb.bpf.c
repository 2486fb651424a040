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

/*
 * A translated packet still meets tc_ingress on this device, which would
 * parse it and miss in two lookups (a flow to a backend is neither a
 * frontend nor a conntrack key): a metadata word tells it not to. Without
 * metadata support in the driver the packet goes up without it.
 */
EKP_INLINE int pass_translated(struct xdp_md *ctx)
{
	__u32 *meta;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)) == 0) {
		meta = (void *)(long)ctx->data_meta;
		if ((void *)(meta + 1) <= (void *)(long)ctx->data)
			*meta = EKP_META_XLATED;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_nodeport(struct xdp_md *ctx)
{
	switch (ekp_service_pipeline(ctx)) {
	case EKP_V_DROP:   return XDP_DROP;
	case EKP_V_TX:     return XDP_TX;
	case EKP_V_XLATED: return pass_translated(ctx);
	default:           return XDP_PASS;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
