/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * common.h — includes, the context abstraction shared by the tc and XDP
 * pipelines, and the config global.
 *
 * An entry file that runs at XDP defines EKP_XDP before including anything;
 * otherwise the context is a struct __sk_buff (tc).  Pipeline helpers take a
 * `struct ekp_ctx *` and never care which one it is, except where a helper
 * exists only for skbs (checksum helpers that keep skb->csum right, skb
 * resize); those sit behind #ifdef EKP_XDP in one place each.
 */
#ifndef EKP_COMMON_H
#define EKP_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "ekp_abi.h"

#if defined(EKP_XDP)
#define ekp_ctx xdp_md
#elif defined(EKP_SOCK)
#define ekp_ctx bpf_sock_addr   /* socket hooks: no packet */
#else
#define ekp_ctx __sk_buff
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define EKP_INLINE static __always_inline

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Pipeline sentinel (Katran's FURTHER_PROCESSING): a stage returns either a
 * final verdict (>= 0, in the hook's own verdict space) or EKP_CONTINUE.
 */
#define EKP_CONTINUE (-1)

/* Verdicts in one vocabulary; the entry file maps them to TC_ACT_ / XDP_. */
#define EKP_V_PASS     0  /* let the stack have it (maybe rewritten) */
#define EKP_V_DROP     1
#define EKP_V_REDIRECT 2  /* a redirect helper already chose the target */
#define EKP_V_TX       3  /* XDP only: bounce out of the same device */
#define EKP_V_XLATED   4  /* rewritten, now for the stack (see xdp_lb, tc_lb) */
/* Internal to tc's forwarding (pipeline.h), never a program's verdict: */
#define EKP_V_NO_HOP   5  /* no hop left to send the rewritten packet on */
#define EKP_V_TOO_BIG  0x10000 /* | the next device's MTU: too big to send on */

/* XDP metadata word telling tc_ingress on the same device that XDP already
 * translated the packet (Cilium hands tc the same hint through XDP metadata). */
#define EKP_META_XLATED 0x656b7058u /* "ekpX" */

/* linux/icmp.h drags in libc headers; the few bits we need: */
struct icmphdr_ {
	__u8   type;
	__u8   code;
	__sum16 checksum;
	__be32 rest;
};
#define ICMP_DEST_UNREACH_     3
#define ICMP_PORT_UNREACH_     3
#define ICMP_FRAG_NEEDED_      4
#define ICMPV6_DEST_UNREACH_   1
#define ICMPV6_PORT_UNREACH_   4
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define EKP_NSEC_PER_SEC 1000000000ULL

/* Read-only configuration, set by userspace before load (see ekp_abi.h). */
const volatile struct ekp_config ekp_cfg = {
	.abi_version = EKP_ABI_VERSION,
	.snat_port_min = EKP_SNAT_PORT_MIN_DEFAULT,
	.snat_port_max = EKP_SNAT_PORT_MAX_DEFAULT,
	.ct_timeout_syn_s = EKP_CT_TIMEOUT_SYN_S,
	.ct_timeout_established_s = EKP_CT_TIMEOUT_ESTABLISHED_S,
	.ct_timeout_closing_s = EKP_CT_TIMEOUT_CLOSING_S,
	.ct_timeout_udp_s = EKP_CT_TIMEOUT_UDP_S,
	.ct_timeout_other_s = EKP_CT_TIMEOUT_OTHER_S,
};

#ifdef EKP_SOCK
EKP_INLINE __u32 ctx_len(struct ekp_ctx *ctx)
{
	return 0;
}

EKP_INLINE int ctx_is_gso(struct ekp_ctx *ctx)
{
	return 0;
}
#else
/* A GSO packet (tc only): BIG TCP's over 64 KiB have 0 in their IP length
 * field, and the skb's length is the packet's (as skb_ip_totlen() has it). */
EKP_INLINE int ctx_is_gso(struct ekp_ctx *ctx)
{
#ifdef EKP_XDP
	return 0;
#else
	return ctx->gso_size != 0;
#endif
}

/*
 * The context's data fields are __u32: compiled for BPF v3 (32-bit
 * subregisters), clang knows the upper half of such a pointer is zero and may
 * spill it as 32 bits, which the verifier refuses for a pointer. It did so in
 * xdp_nodeport; the barrier hides what clang knows. tc loads data plainly
 * and data_end by inline assembly (below).
 */
#ifndef EKP_XDP
/*
 * tc: the field loaded by one instruction the compiler cannot take apart.
 * Left to itself, clang may compute data_end's address (ctx + 80) once, keep
 * it in a register or on the stack and load through it later, which the
 * verifier refuses ("dereference of modified ctx ptr"); it did so in
 * tc_ingress once the ping answer (echo.h) was added. Every call loads anew,
 * which suits data_end: the verifier bounds a packet pointer against any
 * copy of it. Not for data: a packet pointer from a second load starts with
 * no known bounds.
 */
#define EKP_SKB_FIELD(ctx, field) ({						\
	void *v_;								\
	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(v_)			\
		     : "r"(ctx), "i"(__builtin_offsetof(struct __sk_buff, field))); \
	v_;									\
})
#endif

EKP_INLINE void *ctx_data(struct ekp_ctx *ctx)
{
	void *d = (void *)(long)ctx->data;

#ifdef EKP_XDP
	barrier_var(d);
#endif
	return d;
}

EKP_INLINE void *ctx_data_end(struct ekp_ctx *ctx)
{
#ifdef EKP_XDP
	void *d = (void *)(long)ctx->data_end;

	barrier_var(d);
	return d;
#else
	return EKP_SKB_FIELD(ctx, data_end);
#endif
}

EKP_INLINE __u32 ctx_len(struct ekp_ctx *ctx)
{
#ifdef EKP_XDP
	return (__u32)(ctx_data_end(ctx) - ctx_data(ctx));
#else
	return ctx->len;
#endif
}

/* Make the first `len` bytes directly accessible (skb may be non-linear). */
EKP_INLINE int ctx_pull(struct ekp_ctx *ctx, __u32 len)
{
	if (ctx_data(ctx) + len <= ctx_data_end(ctx))
		return 0;
#ifdef EKP_XDP
	return -1;
#else
	if (len > ctx->len)
		return -1;
	return bpf_skb_pull_data(ctx, len);
#endif
}
#endif /* !EKP_SOCK */

/*
 * The datapath's clock: CLOCK_MONOTONIC at tick resolution. Conntrack and
 * affinity timeouts are whole seconds, and the precise clock (a serialized TSC
 * read behind bpf_ktime_get_ns) was a fifth of an established packet's cost.
 * Userspace compares against the precise clock; the coarse one lags it by at
 * most a tick, so an entry only ever looks expired a tick early to the GC.
 */
EKP_INLINE __u64 ekp_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

EKP_INLINE int addr_eq(const union ekp_addr *a, const union ekp_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] &&
	       a->v6[2] == b->v6[2] && a->v6[3] == b->v6[3];
}

EKP_INLINE int addr_is_zero(const union ekp_addr *a)
{
	return (a->v6[0] | a->v6[1] | a->v6[2] | a->v6[3]) == 0;
}

EKP_INLINE void addr_copy(union ekp_addr *dst, const union ekp_addr *src)
{
	dst->v6[0] = src->v6[0];
	dst->v6[1] = src->v6[1];
	dst->v6[2] = src->v6[2];
	dst->v6[3] = src->v6[3];
}

#endif /* EKP_COMMON_H */
