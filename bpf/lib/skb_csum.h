/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * skb_csum.h — tc only: which checksum state the kernel keeps for this skb
 * (skb->ip_summed), so a rewrite can patch the L4 checksum field itself
 * instead of calling bpf_l4_csum_replace() twice (addresses, then ports):
 * `bench datapath` A/B: established and reply packets 3-6 % faster.
 *
 * __sk_buff has no ip_summed; the kernel's sk_buff does. bpf_cast_to_kern_ctx()
 * (6.2+, inlined by the verifier into a register move) gives a read-only
 * pointer to it, and a CO-RE bitfield relocation finds the field in this
 * kernel's layout. The kfunc is weak, so a kernel without it still loads the
 * program; userspace sets EKP_CFG_F_KERN_CTX only from 6.2 on, elsewhere the
 * branch is dead and the helpers do the work. (Testing the kfunc's address
 * instead would need 6.4: before it the verifier refuses an ld_imm64 of a
 * kfunc, and 6.2/6.3 have the kfunc.) Needs the kernel's BTF, as every CO-RE
 * relocation does: the probe requires it for ebpf mode.
 */
#ifndef EKP_SKB_CSUM_H
#define EKP_SKB_CSUM_H

#include "common.h"
#include <bpf/bpf_core_read.h>

/* include/linux/skbuff.h */
#define EKP_CHECKSUM_NONE        0
#define EKP_CHECKSUM_UNNECESSARY 1
#define EKP_CHECKSUM_COMPLETE    2
#define EKP_CHECKSUM_PARTIAL     3

/* The one field we read; libbpf matches it to the kernel's struct sk_buff. */
struct sk_buff___ekp {
	__u8 ip_summed:2;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym __weak;

/* skb->ip_summed, or -1 where this kernel does not let us read it. */
EKP_INLINE int skb_ip_summed(struct __sk_buff *ctx)
{
	struct sk_buff___ekp *skb;

	if (!(ekp_cfg.flags & EKP_CFG_F_KERN_CTX))
		return -1;
	skb = bpf_cast_to_kern_ctx(ctx);
	return (int)BPF_CORE_READ_BITFIELD(skb, ip_summed);
}

#endif /* EKP_SKB_CSUM_H */
