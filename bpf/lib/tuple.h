/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tuple.h — struct pkt: a parsed packet's flow tuple and header offsets;
 * struct nat_tuple: what a rewrite makes of a tuple. */
#ifndef EKP_TUPLE_H
#define EKP_TUPLE_H

#include "common.h"

struct sctphdr_ {
	__be16 source;
	__be16 dest;
	__be32 vtag;
	__le32 checksum;
};

/* TCP flag bits as in byte 13 of the TCP header. */
#define TCPF_FIN_ 0x01
#define TCPF_SYN_ 0x02
#define TCPF_RST_ 0x04
#define TCPF_PSH_ 0x08
#define TCPF_ACK_ 0x10

/* struct pkt's frag: which fragment of a datagram it is. */
#define EKP_FRAG_FIRST  1
#define EKP_FRAG_LATER  2   /* its ports are its first fragment's */
#define EKP_FRAG_UNSEEN 3   /* a later one whose first tc did not see: no ports */

struct pkt {
	union ekp_addr saddr;
	union ekp_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   family;
	__u8   tcp_flags;
	__u8   frag;       /* 0, or EKP_FRAG_* (parse.h) */
	__u32  l3_off;
	__u32  l4_off;
	__u32  l4_len;     /* bytes from L4 header to the end of the IP payload */
};

struct nat_tuple {
	union ekp_addr saddr;
	union ekp_addr daddr;
	__be16 sport;
	__be16 dport;
};

#endif /* EKP_TUPLE_H */
