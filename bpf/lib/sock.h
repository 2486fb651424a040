/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock.h — socket-level load balancing (cgroup sock_addr hooks): translate a
 * frontend to a backend when a host or pod socket connects (or sends an
 * unconnected datagram), so no packet of the flow needs NAT; remember the
 * frontend per {socket cookie, backend} so recvmsg/getpeername show the
 * application the address it asked for.
 *
 * Session affinity at this layer is per network namespace (the client IP is
 * not known yet at connect time): the netns cookie stands in for it.
 */
#ifndef EKP_SOCK_H
#define EKP_SOCK_H

#include "common.h"
#include "maps.h"
#include "stats.h"
#include "tuple.h"
#include "lb.h"

#define EKP_SOCK_ALLOW 1
#define EKP_SOCK_DENY  0
#define EKP_ECONNREFUSED 111

EKP_INLINE int sock_proto_ok(__u32 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

EKP_INLINE void sock_get_addr(struct bpf_sock_addr *ctx, __u8 family, union ekp_addr *a)
{
	__builtin_memset(a, 0, sizeof(*a));
	if (family == EKP_FAMILY_V4) {
		a->v4 = ctx->user_ip4;
	} else {
		a->v6[0] = ctx->user_ip6[0];
		a->v6[1] = ctx->user_ip6[1];
		a->v6[2] = ctx->user_ip6[2];
		a->v6[3] = ctx->user_ip6[3];
	}
}

EKP_INLINE void sock_set_addr(struct bpf_sock_addr *ctx, __u8 family,
			      const union ekp_addr *a, __be16 port)
{
	if (family == EKP_FAMILY_V4) {
		ctx->user_ip4 = a->v4;
	} else {
		ctx->user_ip6[0] = a->v6[0];
		ctx->user_ip6[1] = a->v6[1];
		ctx->user_ip6[2] = a->v6[2];
		ctx->user_ip6[3] = a->v6[3];
	}
	ctx->user_port = (__u32)port;
}

/*
 * connect / sendmsg: frontend -> backend.
 *
 * A connected UDP socket is left to the per-packet path: translated here it
 * would hold its backend's address for life, and when that endpoint went
 * away its datagrams would go on to the dead pod (statsd, DNS forwarders:
 * kube-proxy's stale-UDP black hole) with no conntrack entry to clear. Per
 * packet, the flow's entry is swept with the endpoint and the same socket
 * moves on. (Cilium instead destroys such sockets, which the application
 * sees as an error.) Unconnected datagrams are translated one by one here,
 * so they never outlive a backend.
 */
EKP_INLINE int sock_xlate_fwd(struct bpf_sock_addr *ctx, __u8 family, int connecting)
{
	struct ekp_backend_val *be = NULL;
	struct ekp_svc_val *svc;
	struct ekp_sock_key sk;
	struct ekp_sock_val sv;
	struct pkt p;
	__u64 netns, cookie;
	long bid;

	if (!sock_proto_ok(ctx->protocol))
		return EKP_SOCK_ALLOW;
	if (connecting && ctx->protocol == IPPROTO_UDP)
		return EKP_SOCK_ALLOW;
	__builtin_memset(&p, 0, sizeof(p));
	p.family = family;
	p.proto = ctx->protocol;
	sock_get_addr(ctx, family, &p.daddr);
	p.dport = (__be16)ctx->user_port;
	svc = svc_lookup_scoped(&p, 1);
	if (!svc)
		return EKP_SOCK_ALLOW;
	/* The source the ranges are checked against is not chosen yet: the
	 * per-packet path checks them (a pod's veth, tc egress for the host). */
	if (svc_has(svc, EKP_SVC_F_SRC_RANGES))
		return EKP_SOCK_ALLOW;

	netns = bpf_get_netns_cookie(ctx);
	__builtin_memcpy(&p.saddr, &netns, sizeof(netns));
	/* An unconnected socket's datagrams to one frontend keep one backend,
	 * as conntrack keeps a 5-tuple's: picked by the socket's hash, never
	 * at random per datagram (a QUIC or DNS client on one socket would be
	 * sprayed over the backends). A connect has no source port yet, so a
	 * Maglev table hashes the socket too: by the namespace alone, every
	 * connection of a pod went to one backend. With ClientIP affinity the
	 * client is the network namespace, and its affinity entry keeps the
	 * backend. */
	cookie = bpf_get_socket_cookie(ctx);
	if (!svc_has(svc, EKP_SVC_F_AFFINITY))
		__builtin_memcpy(&p.saddr.v6[2], &cookie, sizeof(cookie));
	bid = lb_select(svc, &p, &be, ekp_now(), ctx, !connecting);
	if (bid < 0)
		return EKP_SOCK_ALLOW; /* the packet path will count the drop */
	if (bid == 0 || !be) {
		count_svc(ctx, svc->svc_id);
		bpf_set_retval(-EKP_ECONNREFUSED);
		return EKP_SOCK_DENY;
	}
	if (be->family != family)
		return EKP_SOCK_ALLOW;

	__builtin_memset(&sk, 0, sizeof(sk));
	sk.cookie = cookie;
	addr_copy(&sk.addr, &be->addr);
	sk.port = be->port;
	sk.family = family;
	__builtin_memset(&sv, 0, sizeof(sv));
	addr_copy(&sv.addr, &p.daddr);
	sv.port = p.dport;
	sv.svc_id = svc->svc_id;
	bpf_map_update_elem(&ekp_sock_v1, &sk, &sv, BPF_ANY);

	sock_set_addr(ctx, family, &be->addr, be->port);
	count_svc(ctx, svc->svc_id);
	count_event(ctx, EKP_EV_SOCK_XLATE);
	return EKP_SOCK_ALLOW;
}

/* recvmsg / getpeername: backend -> frontend the application used. */
EKP_INLINE int sock_xlate_rev(struct bpf_sock_addr *ctx, __u8 family)
{
	struct ekp_sock_key sk;
	struct ekp_sock_val *sv;

	__builtin_memset(&sk, 0, sizeof(sk));
	sk.cookie = bpf_get_socket_cookie(ctx);
	sock_get_addr(ctx, family, &sk.addr);
	sk.port = (__be16)ctx->user_port;
	sk.family = family;
	sv = bpf_map_lookup_elem(&ekp_sock_v1, &sk);
	if (sv)
		sock_set_addr(ctx, family, &sv->addr, sv->port);
	return EKP_SOCK_ALLOW;
}

#endif /* EKP_SOCK_H */
