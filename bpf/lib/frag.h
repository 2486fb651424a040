/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * frag.h — the ports of a fragmented UDP datagram, for its fragments that
 * carry none (tc only; XDP passes every fragment to tc).
 *
 * kube-proxy's conntrack reassembles a datagram before NAT (nf_defrag) and
 * sends it on in fragments again. tc sees the fragments one by one: the
 * first has the UDP header and goes through the pipeline like any datagram;
 * it leaves its ports in ekp_frag_v1, under the fields every fragment of the
 * datagram repeats. The later ones find their ports there, then their flow
 * (pipeline.h, handle_fragment), and take the first's new addresses. A later
 * fragment that overtook its first finds nothing and passes untouched, as
 * Cilium's datapath drops it: tc cannot hold it back.
 */
#ifndef EKP_FRAG_H
#define EKP_FRAG_H

#ifndef EKP_XDP

#include "common.h"
#include "maps.h"

/*
 * With ports (sport in the low 16 bits, as the packet has them), keeps
 * them for IPv4 datagram `id` of saddr to daddr and returns them; with 0,
 * returns those kept, or -1. Global, verified once: its key has no room in
 * the frame of the programs that parse.
 */
__attribute__((noinline)) long frag4_ports(__u32 saddr, __u32 daddr, __u32 id, __u32 ports)
{
	struct ekp_frag_key k = {};
	struct ekp_frag_val *v;

	k.saddr.v4 = saddr;
	k.daddr.v4 = daddr;
	k.id = id;
	k.proto = IPPROTO_UDP;
	k.family = EKP_FAMILY_V4;
	if (ports) {
		struct ekp_frag_val nv = { .sport = (__be16)ports, .dport = (__be16)(ports >> 16) };

		bpf_map_update_elem(&ekp_frag_v1, &k, &nv, BPF_ANY);
		return ports;
	}
	v = bpf_map_lookup_elem(&ekp_frag_v1, &k);
	if (!v)
		return -1;
	return (__u32)v->sport | (__u32)v->dport << 16;
}

#endif /* !EKP_XDP */
#endif /* EKP_FRAG_H */
