/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc_lb — service load balancing at tc (clsact).
 *
 * tc_ingress: node devices (NodePort/ExternalIP/LB traffic and replies from
 *   remote backends) and pod-facing host veths (pod -> service, and replies
 *   of local backends). Load with EKP_CFG_F_FROM_PODS for host veths.
 * tc_egress: node devices, for host-originated packets to a frontend that
 *   the socket-level LB did not translate (load with EKP_CFG_F_FROM_HOST).
 * Both run the same pipeline: one CT lookup classifies a packet as an
 * established flow, a reply, or a candidate for a service lookup.
 */
#include "lib/pipeline.h"

EKP_INLINE int to_tc(int v)
{
	switch (v) {
	case EKP_V_DROP:     return TC_ACT_SHOT;
	case EKP_V_REDIRECT: return TC_ACT_REDIRECT;
	default:             return TC_ACT_OK;
	}
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	__u32 *meta = (void *)(long)skb->data_meta;

	/* XDP on this device translated it already (see xdp_lb). The word is
	 * cleared as it is read: metadata bytes can outlive this hook in the
	 * headroom, and no later hook may take them for a fresh hint. */
	if ((void *)(meta + 1) <= (void *)(long)skb->data && *meta == EKP_META_XLATED) {
		*meta = 0;
		return TC_ACT_OK;
	}
	return to_tc(ekp_service_pipeline(skb));
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	/* Forwarded packets too, not only host-originated ones: one that came in
	 * on a device we have not attached to yet (a pod's veth in its first
	 * second) is translated here instead. */
	return to_tc(ekp_service_pipeline(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
