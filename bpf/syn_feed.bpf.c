/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * syn_feed — `bench datapath` only, never attached: lets one BPF_PROG_TEST_RUN
 * with repeat=N time N *different* new flows. A test run repeats a program on
 * one packet buffer that it does not restore, so after the first repetition a
 * SYN has created its flow and been rewritten. tc_syn_feed writes the next of
 * the frames userspace put in syn_feed_frames over the packet (each a SYN of a
 * flow that does not exist yet) and tail-calls the program in syn_feed_next:
 * the datapath's own tc_ingress, unchanged, or tc_feed_return to measure what
 * the feeding itself costs. Nothing here is seen by the datapath's maps.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Ethernet + IPv4 + TCP without options: the bench's SYN frames. */
#define SYN_FEED_FRAME_LEN 54
#define SYN_FEED_FRAMES 8192

struct syn_feed_frame {
	__u8 bytes[SYN_FEED_FRAME_LEN];
	__u8 pad[2];
};

struct syn_feed_state {
	__u32 next;   /* the frame the next repetition writes */
	__u32 frames; /* how many of syn_feed_frames hold a frame */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct syn_feed_frame);
	__uint(max_entries, SYN_FEED_FRAMES);
} syn_feed_frames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct syn_feed_state);
	__uint(max_entries, 1);
} syn_feed_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1);
} syn_feed_next SEC(".maps");

SEC("tc")
int tc_syn_feed(struct __sk_buff *skb)
{
	struct syn_feed_state *st;
	struct syn_feed_frame *f;
	__u32 zero = 0, i;

	st = bpf_map_lookup_elem(&syn_feed_state, &zero);
	if (!st)
		return TC_ACT_SHOT;
	/* Past the last frame a repetition would replay a flow that exists:
	 * userspace sizes the run to the frames, and a shot verdict says it did not. */
	i = st->next;
	if (i >= st->frames || skb->len != SYN_FEED_FRAME_LEN)
		return TC_ACT_SHOT;
	f = bpf_map_lookup_elem(&syn_feed_frames, &i);
	if (!f || bpf_skb_store_bytes(skb, 0, f->bytes, SYN_FEED_FRAME_LEN, 0))
		return TC_ACT_SHOT;
	st->next = i + 1;
	bpf_tail_call(skb, &syn_feed_next, 0);
	return TC_ACT_SHOT;
}

/* The tail-call target that does nothing: the feed's own cost. */
SEC("tc")
int tc_feed_return(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
