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
 * fragment that overtook its first finds nothing (tc cannot hold it back):
 * handle_fragment() says what becomes of it.
 */
#ifndef EKP_FRAG_H
#define EKP_FRAG_H

#ifndef EKP_XDP

#include "common.h"
#include "maps.h"

/*
 * Puts the reassembly key of p's datagram (`id` its identification) in the
 * scratch map, for frag_ports(): the programs that parse have no room for
 * it in their frame. Returns 0, or -1 without the scratch map.
 */
EKP_INLINE int frag_key(const struct pkt *p, __u32 id)
{
	struct ct_scratch *sc = ct_scratch();

	if (!sc)
		return -1;
	addr_copy(&sc->frag.saddr, &p->saddr);
	addr_copy(&sc->frag.daddr, &p->daddr);
	sc->frag.id = id;
	sc->frag.proto = p->proto;
	sc->frag.family = p->family;
	sc->frag.pad[0] = 0;
	sc->frag.pad[1] = 0;
	return 0;
}

/*
 * With ports (sport in the low 16 bits, as the packet has them), keeps them
 * under the key frag_key() left and returns them; with 0, returns those
 * kept there, or -1. Global, verified once; it takes no pointer, so the
 * caller's parsed packet keeps what the verifier knows of it.
 */
__attribute__((noinline)) long frag_ports(__u32 ports)
{
	struct ct_scratch *sc = ct_scratch();
	struct ekp_frag_val *v;

	if (!sc)
		return -1;
	if (ports) {
		struct ekp_frag_val nv = { .sport = (__be16)ports, .dport = (__be16)(ports >> 16) };

		bpf_map_update_elem(&ekp_frag_v1, &sc->frag, &nv, BPF_ANY);
		return ports;
	}
	v = bpf_map_lookup_elem(&ekp_frag_v1, &sc->frag);
	if (!v)
		return -1;
	return (__u32)v->sport | (__u32)v->dport << 16;
}

#endif /* !EKP_XDP */
#endif /* EKP_FRAG_H */
