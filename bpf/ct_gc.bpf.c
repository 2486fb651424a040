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
#include "lib/ct.h"

struct bpf_map; /* the callbacks' first argument; only the kernel looks inside */

struct gc_state {
	__u64 now;
	struct ekp_gc_result r;
};

EKP_INLINE long gc_one(struct ekp_ct_val *v, struct gc_state *s, int dead, long deleted)
{
	s->r.entries++;
	if (dead) {
		if (deleted == 0)
			s->r.deleted++;
	} else if (v->type == EKP_CT_FWD) {
		s->r.flows++;
	}
	return 0;
}

static long gc_ct4(struct bpf_map *map, struct ekp_ct4_key *k, struct ekp_ct_val *v, struct gc_state *s)
{
	int dead = !ct4_live(k, v, s->now); /* expired, its other half too */

	return gc_one(v, s, dead, dead ? bpf_map_delete_elem(&ekp_ct4_v2, k) : -1);
}

static long gc_ct6(struct bpf_map *map, struct ekp_ct_key *k, struct ekp_ct_val *v, struct gc_state *s)
{
	int dead = !ct_live(k, v, s->now);

	return gc_one(v, s, dead, dead ? bpf_map_delete_elem(&ekp_ct_v2, k) : -1);
}

/* One map per run: a run holds its CPU until it has visited every entry
 * (~100 ms for a full 262,144-entry map with all of it expired, measured).
 * The iterators below do the same work in stretches; these stay for kernels
 * where a map iterator cannot be created. */
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
		bpf_for_each_map_elem(&ekp_ct_v2, gc_ct6, &s, 0);
	else
		bpf_for_each_map_elem(&ekp_ct4_v2, gc_ct4, &s, 0);
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

/*
 * The same collector as map-element iterators (iter/bpf_map_elem), the
 * daemon's way: the kernel calls the program once per entry while the daemon
 * reads, and every read() ends a stretch of the pass (the RCU read section
 * too), so the kernel gets a preemption point every 4,096 entries instead of
 * only at the end of a map. The program writes one byte per EKP_GC_STRETCH
 * entries to end a read of that many bytes, and struct ekp_gc_result last,
 * when the kernel calls it with no element. The price: the kernel resumes a
 * stretch by counting the elements of the bucket it stopped in, so entries
 * deleted there meanwhile (by this pass, eviction or the datapath) make it
 * skip some, and entries inserted there make it visit some twice. Deleting
 * stays safe (only what is expired when looked at); skipped expired entries
 * go in the next pass; the counts are approximate. */
#define EKP_GC_STRETCH 64
/* The longest kernel tick (HZ=100): how far the coarse clock can lag. */
#define EKP_GC_TICK_NS 10000000ULL

struct bpf_iter_meta {
	void *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
} __attribute__((preserve_access_index));

/* `now` for the next pass (0: the kernel clock, set back a tick), written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} ekp_gc_now SEC(".maps");

static struct gc_state iter_state;

EKP_INLINE struct gc_state *iter_begin(struct bpf_iter__bpf_map_elem *ctx)
{
	struct gc_state *s = &iter_state;

	if (ctx->meta->seq_num == 0) {
		__u32 zero = 0;
		__u64 *now = bpf_map_lookup_elem(&ekp_gc_now, &zero);

		__builtin_memset(s, 0, sizeof(*s));
		/* Iterators may not read the datapath's coarse clock, and the
		 * precise one runs up to a tick ahead of it: set back by a whole
		 * tick at HZ=100, no entry the datapath still finds live is
		 * deleted. */
		s->now = now && *now ? *now : bpf_ktime_get_ns() - EKP_GC_TICK_NS;
	}
	return s;
}

/* Ends the pass (no element): the result; else a byte per stretch. */
EKP_INLINE int iter_step(struct bpf_iter__bpf_map_elem *ctx, struct gc_state *s)
{
	static const char mark = 0;

	if (!ctx->key) {
		s->r.entries -= s->r.deleted;
		bpf_seq_write(ctx->meta->seq, &s->r, sizeof(s->r));
	} else if (s->r.entries % EKP_GC_STRETCH == 0) {
		bpf_seq_write(ctx->meta->seq, &mark, 1);
	}
	return 0;
}

/* One entry of either map; the key is copied because the element's is
 * read-only memory and the delete wants a writable one. */
EKP_INLINE int gc_iter(struct bpf_iter__bpf_map_elem *ctx, int v6)
{
	struct gc_state *s = iter_begin(ctx);
	struct ekp_ct_val *v = ctx->value;
	void *key = ctx->key;
	struct ekp_ct4_key k4;
	struct ekp_ct_key k;
	long rc = -1;
	int dead;

	if (key && v) {
		if (v6) {
			__builtin_memcpy(&k, key, sizeof(k));
			dead = !ct_live(&k, v, s->now);
			if (dead)
				rc = bpf_map_delete_elem(&ekp_ct_v2, &k);
		} else {
			__builtin_memcpy(&k4, key, sizeof(k4));
			dead = !ct4_live(&k4, v, s->now);
			if (dead)
				rc = bpf_map_delete_elem(&ekp_ct4_v2, &k4);
		}
		gc_one(v, s, dead, rc);
	}
	return iter_step(ctx, s);
}

SEC("iter/bpf_map_elem")
int gc_iter4(struct bpf_iter__bpf_map_elem *ctx)
{
	return gc_iter(ctx, 0);
}

SEC("iter/bpf_map_elem")
int gc_iter6(struct bpf_iter__bpf_map_elem *ctx)
{
	return gc_iter(ctx, 1);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
