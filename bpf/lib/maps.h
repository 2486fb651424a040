/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps.h — every map of the datapath. All are pinned by name, so the tc, XDP
 * and cgroup objects share one instance through the pin directory and flows
 * survive a controller restart. Layouts are in ekp_abi.h; names carry the
 * layout version (EKP_MAP_* there).
 */
#ifndef EKP_MAPS_H
#define EKP_MAPS_H

#include "common.h"
#include "tuple.h"

/* EKP_NO_PIN: developer builds for `bpftool prog loadall` (which would pin
 * under /sys/fs/bpf); the real objects always pin by name. */
#ifdef EKP_NO_PIN
#define EKP_PIN
#else
#define EKP_PIN __uint(pinning, LIBBPF_PIN_BY_NAME)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ekp_svc_key);
	__type(value, struct ekp_svc_val);
	__uint(max_entries, EKP_SVC_MAX);
	EKP_PIN;
} ekp_svc_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_backend_val);
	__uint(max_entries, EKP_BACKEND_MAX);
	EKP_PIN;
} ekp_backend_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_backend_nh);
	__uint(max_entries, EKP_BACKEND_MAX);
	EKP_PIN;
} ekp_benh_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_slot_pair);
	__uint(max_entries, EKP_SLOT_PAIRS_MAX);
	EKP_PIN;
} ekp_slots_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ekp_ct_key);
	__type(value, struct ekp_ct_val);
	__uint(max_entries, EKP_CT_MAX);
	EKP_PIN;
} ekp_ct_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ekp_ct4_key);
	__type(value, struct ekp_ct_val);
	__uint(max_entries, EKP_CT_MAX);
	EKP_PIN;
} ekp_ct4_v2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ekp_frag_key);
	__type(value, struct ekp_frag_val);
	__uint(max_entries, EKP_FRAG_MAX);
	EKP_PIN;
} ekp_frag_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ekp_affinity_key);
	__type(value, struct ekp_affinity_val);
	__uint(max_entries, EKP_AFFINITY_MAX);
	EKP_PIN;
} ekp_affinity_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ekp_vip_key);
	__type(value, struct ekp_vip_val);
	__uint(max_entries, EKP_VIP_MAX);
	/* Written by the daemon only: memory for the ClusterIPs there are, not for the most. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	EKP_PIN;
} ekp_vip_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ekp_vip_key);
	__type(value, struct ekp_vip_val);
	__uint(max_entries, EKP_VIP_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	EKP_PIN;
} ekp_extvip_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_vipnet);
	__uint(max_entries, 1);
	EKP_PIN;
} ekp_vipnet_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ekp_svccidr_key);
	__type(value, struct ekp_svccidr_val);
	__uint(max_entries, EKP_SVCCIDR_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	EKP_PIN;
} ekp_svccidr_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ekp_srcrange_key);
	__type(value, struct ekp_srcrange_val);
	__uint(max_entries, EKP_SRCRANGE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	EKP_PIN;
} ekp_srcrange_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ekp_sock_key);
	__type(value, struct ekp_sock_val);
	__uint(max_entries, EKP_SOCK_MAX);
	EKP_PIN;
} ekp_sock_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_counter);
	__uint(max_entries, EKP_DROP_MAX);
	EKP_PIN;
} ekp_drop_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_counter);
	__uint(max_entries, EKP_EV_MAX);
	EKP_PIN;
} ekp_event_v1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ekp_counter);
	__uint(max_entries, EKP_SVCSTAT_MAX);
	EKP_PIN;
} ekp_svcstat_v1 SEC(".maps");

/*
 * Room for the two conntrack values a new flow writes (they are too big for
 * the 512-byte stack next to everything else on that path), for the key
 * and tuple answer_sender() works with (its frame has to fit under
 * tc_ingress's, which leaves it 128 bytes on 6.1), and for a fragment's
 * reassembly key (frag.h). Not shared and
 * not pinned: one per loaded object, per CPU, used by all its programs. A
 * program runs to its end on its CPU, and none of them starts on that CPU
 * meanwhile (tc and XDP run in softirq or with bottom halves off), except
 * on PREEMPT_RT kernels, where a preempted program's new flow could be
 * written with another's values (bpf/README.md, known limits). The struct is
 * no ABI: userspace never sees it (the ABI test claims every ekp_ struct).
 */
struct ct_scratch {
	struct ekp_ct_val fwd;
	struct ekp_ct_val rev;
	struct ekp_ct_key key;
	struct ekp_ct4_key key4;
	struct nat_tuple orig;
	struct ekp_frag_key frag;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ct_scratch);
	__uint(max_entries, 1);
} ekp_scratch SEC(".maps");

EKP_INLINE struct ct_scratch *ct_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&ekp_scratch, &zero);
}

#endif /* EKP_MAPS_H */
