/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tc_lb_noinsert — `bench datapath` only, never attached: tc_lb with the
 * conntrack inserts of a new flow taken out (lib/pipeline.h, ct_insert). Fed
 * new flows as tc_lb is (syn_feed.bpf.c), it times everything else a new flow
 * does: parse, the conntrack miss, service lookup, backend choice, the SNAT
 * port draw (never retried), building both entries and their keys, the
 * rewrite, the FIB lookup and the redirect. Against the goal of a new flow
 * within 4x the floor, it says what no conntrack map type can beat.
 */
#define EKP_BENCH_NO_CT_INSERT
#include "tc_lb.bpf.c"
