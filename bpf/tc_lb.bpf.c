/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc_lb — service load balancing at tc (clsact).
 *
 * tc_ingress: node devices (NodePort/ExternalIP/LB traffic and replies from
 *   remote backends) and pod-facing host veths (pod -> service, and replies
 *   of local backends). Load with EKP_CFG_F_FROM_PODS for host veths.
 * tc_egress: node devices and lo, for host-originated packets to a frontend
 *   that the socket-level LB did not translate (load with
 *   EKP_CFG_F_FROM_HOST); lo is where they go to the node's own addresses
 *   (a NodePort here) and where replies to the node itself from a
 *   host-network backend leave.
 * Both run the same pipeline: one CT lookup classifies a packet as an
 * established flow, a reply, or a candidate for a service lookup.
 * tc_to_pod: egress of pod-facing host veths, for what the node itself sends
 *   to a pod (ekp_made_here): host-network backends' replies, its own ICMP
 *   errors.
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

/*
 * A packet tc_ingress translated (or built: a reject) needs nothing from
 * tc_egress on its way out of this node, where it would only miss in
 * conntrack and in the service map: a local backend's reply redirected
 * to the node device, say (~1 us less per new connection and ~150 ns
 * per keep-alive request in the lab benchmark). The mark rides in
 * skb->tc_index, which nothing else on a node uses any more (Cilium
 * passes its skip flags the same way) and which a redirect keeps. A packet
 * left to the stack arrived at tc_egress without it here (6.18: a pod's
 * packet to a remote backend, never counted as egress_done), so it is
 * looked at again, as before. tc_egress clears it.
 */
#define EKP_TC_INDEX_XLATED 0x8000

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	__u32 *meta = (void *)(long)skb->data_meta;
	int v;

	/* Only this pass may mark it: a pod that forwards hands a packet back
	 * with the mark of its first pass through here. */
	if (skb->tc_index & EKP_TC_INDEX_XLATED)
		skb->tc_index &= ~EKP_TC_INDEX_XLATED;
	/* XDP on this device translated it already (see xdp_lb). The word is
	 * cleared as it is read: metadata bytes can outlive this hook in the
	 * headroom, and no later hook may take them for a fresh hint. */
	if ((void *)(meta + 1) <= (void *)(long)skb->data && *meta == EKP_META_XLATED) {
		*meta = 0;
		skb->tc_index |= EKP_TC_INDEX_XLATED;
		return TC_ACT_OK;
	}
	v = ekp_service_pipeline(skb);
	if (v == EKP_V_XLATED || v == EKP_V_REDIRECT)
		skb->tc_index |= EKP_TC_INDEX_XLATED;
	return to_tc(v);
}

/*
 * On lo: traffic to 127.0.0.0/8 and ::1, nearly all of lo's, never has a
 * frontend, and costs this one load. The rest is the node talking to its own
 * addresses.
 */
EKP_INLINE int to_localhost(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + ETH_HLEN_;

		return (void *)(ip + 1) <= end && (bpf_ntohl(ip->daddr) >> 24) == 127;
	}
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + ETH_HLEN_;

		return (void *)(ip6 + 1) <= end &&
		       !(ip6->daddr.in6_u.u6_addr32[0] | ip6->daddr.in6_u.u6_addr32[1] | ip6->daddr.in6_u.u6_addr32[2]) &&
		       ip6->daddr.in6_u.u6_addr32[3] == bpf_htonl(1);
	}
	return 0;
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	if (skb->ifindex == EKP_LOOPBACK_IFINDEX && to_localhost(skb))
		return TC_ACT_OK;
	if (skb->tc_index & EKP_TC_INDEX_XLATED) {
		skb->tc_index &= ~EKP_TC_INDEX_XLATED;
		count_event(skb, EKP_EV_EGRESS_DONE);
		return TC_ACT_OK;
	}
	/* Forwarded packets too, not only host-originated ones: one that came in
	 * on a device we have not attached to yet (a pod's veth in its first
	 * second) is translated here instead. */
	return to_tc(ekp_service_pipeline(skb));
}

/*
 * A packet with an ingress device was forwarded, and translated (if at all)
 * where it entered this node: only packets made here are looked at, so the
 * pods' ordinary traffic pays one load.
 */
SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex)
		return TC_ACT_OK;
	return to_tc(ekp_made_here(skb));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
