/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock_lb — connect-time translation of service frontends for host and pod
 * sockets (attach to the root cgroup, or a pod's). See lib/sock.h.
 */
#define EKP_SOCK 1
#include "lib/sock.h"

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_fwd(ctx, EKP_FAMILY_V4, 1);
}

SEC("cgroup/connect6")
int sock_connect6(struct bpf_sock_addr *ctx)
{
	return sock_xlate_fwd(ctx, EKP_FAMILY_V6, 1);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_fwd(ctx, EKP_FAMILY_V4, 0);
}

SEC("cgroup/sendmsg6")
int sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_xlate_fwd(ctx, EKP_FAMILY_V6, 0);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx, EKP_FAMILY_V4);
}

SEC("cgroup/recvmsg6")
int sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx, EKP_FAMILY_V6);
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx, EKP_FAMILY_V4);
}

SEC("cgroup/getpeername6")
int sock_getpeername6(struct bpf_sock_addr *ctx)
{
	return sock_xlate_rev(ctx, EKP_FAMILY_V6);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
