/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ct_gc — the conntrack garbage collector, run by the daemon through
 * BPF_PROG_TEST_RUN (it is never attached).
 *
 * Why in BPF: a collector in userspace reads the table, then deletes what
 * was expired when it read it. In between (hundreds of milliseconds for a
 * full table) the datapath may have reused an expired tuple for a new
 * connection (a client port coming round again), and the delete then takes
 * the new flow's entry: its next packet picks a backend afresh and the
 * connection is reset. Here the test and the delete of one entry are
 * nanoseconds apart, and nothing is copied to userspace.
 *
 * In:  the test-run packet's first 8 bytes, `now` (host order; 0 = the
 *      datapath's own clock). Out: struct ekp_gc_result at offset 8.
 */
#include "lib/common.h"
#include "lib/maps.h"

struct bpf_map; /* the callbacks' first argument; only the kernel looks inside */

struct gc_state {
	__u64 now;
	struct ekp_gc_result r;
};

EKP_INLINE long gc_one(struct ekp_ct_val *v, struct gc_state *s, long deleted)
{
	s->r.entries++;
	if (v->expires_ns < s->now) {
		if (deleted == 0)
			s->r.deleted++;
	} else if (v->type == EKP_CT_FWD) {
		s->r.flows++;
	}
	return 0;
}

static long gc_ct4(struct bpf_map *map, struct ekp_ct4_key *k, struct ekp_ct_val *v, struct gc_state *s)
{
	long rc = v->expires_ns < s->now ? bpf_map_delete_elem(&ekp_ct4_v1, k) : -1;

	return gc_one(v, s, rc);
}

static long gc_ct6(struct bpf_map *map, struct ekp_ct_key *k, struct ekp_ct_val *v, struct gc_state *s)
{
	long rc = v->expires_ns < s->now ? bpf_map_delete_elem(&ekp_ct_v1, k) : -1;

	return gc_one(v, s, rc);
}

/* One map per run: a run holds its CPU until it has visited every entry
 * (~100 ms for a full 262,144-entry map with all of it expired, measured). */
EKP_INLINE int gc_run(struct __sk_buff *skb, int v6)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct gc_state s = {};
	__u64 *now = data;
	struct ekp_gc_result *out = data + sizeof(__u64);

	if ((void *)(out + 1) > end)
		return TC_ACT_SHOT;
	s.now = *now ? *now : ekp_now();
	if (v6)
		bpf_for_each_map_elem(&ekp_ct_v1, gc_ct6, &s, 0);
	else
		bpf_for_each_map_elem(&ekp_ct4_v1, gc_ct4, &s, 0);
	s.r.entries -= s.r.deleted;
	*out = s.r;
	return TC_ACT_OK;
}

SEC("tc")
int ct_gc4(struct __sk_buff *skb)
{
	return gc_run(skb, 0);
}

SEC("tc")
int ct_gc6(struct __sk_buff *skb)
{
	return gc_run(skb, 1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
