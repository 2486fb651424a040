/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ekp_abi.h — every struct, constant and map name shared between the eBPF
 * datapath and userspace (src/dataplane/ebpf/abi.ts mirrors this file; the
 * test test/bpf/abi.test.ts compares both against the BTF of the compiled
 * objects, so they cannot drift).
 *
 * Byte order: addresses and ports are stored in NETWORK order, exactly as the
 * packet carries them (__be16/__be32). Everything else is host order.
 * IPv4 addresses live in the first 4 bytes of union ekp_addr; the other 12
 * bytes MUST be zero so that hash keys compare equal.
 *
 * Versioning: a layout change bumps the _vN suffix of the affected map name
 * (old and new maps can coexist while an upgrade drains) and EKP_ABI_VERSION.
 */
#ifndef EKP_ABI_H
#define EKP_ABI_H

#include <linux/types.h>

#define EKP_ABI_VERSION 3

/* ---- map names (BPF object names are at most 15 characters) ---------- */
/* The C identifiers in bpf/lib/maps.h equal these strings. */
#define EKP_MAP_SVC       "ekp_svc_v1"
#define EKP_MAP_BACKEND   "ekp_backend_v1"
#define EKP_MAP_SLOTS     "ekp_slots_v2"
#define EKP_MAP_CT        "ekp_ct_v2"      /* IPv6 flows (v1: no next hop in the value) */
#define EKP_MAP_CT4       "ekp_ct4_v2"     /* IPv4 flows */
#define EKP_MAP_AFFINITY  "ekp_affinity_v1"
#define EKP_MAP_SRCRANGE  "ekp_srcrange_v1"
#define EKP_MAP_SOCK      "ekp_sock_v1"
#define EKP_MAP_DROP      "ekp_drop_v1"
#define EKP_MAP_EVENT     "ekp_event_v1"
#define EKP_MAP_SVCSTAT   "ekp_svcstat_v1"
#define EKP_MAP_VIP       "ekp_vip_v1"
#define EKP_MAP_VIPNET    "ekp_vipnet_v1"
#define EKP_MAP_SVCCIDR   "ekp_svccidr_v1"
#define EKP_MAP_EXTVIP    "ekp_extvip_v1"
#define EKP_MAP_BACKEND_NH "ekp_benh_v1"
#define EKP_MAP_FRAG      "ekp_frag_v1"

/* ---- default map sizes (entries); userspace may override before load -- */
#define EKP_SVC_MAX       65536
#define EKP_BACKEND_MAX   65536   /* backend id 0 is reserved (= none)     */
#define EKP_SLOT_PAIRS_MAX 524288 /* 1,048,576 slots, 4 B each: 4 MiB     */
#define EKP_CT_MAX        262144  /* each of ekp_ct_v2 and ekp_ct4_v2 */
#define EKP_AFFINITY_MAX  65536
#define EKP_SRCRANGE_MAX  16384
#define EKP_SOCK_MAX      65536
#define EKP_SVCSTAT_MAX   65536   /* indexed by svc_id                     */
#define EKP_VIP_MAX       65536   /* also ekp_extvip_v1                    */
#define EKP_SVCCIDR_MAX   64
#define EKP_FRAG_MAX      8192    /* datagrams in flight in fragments     */

/* ---- address families as stored in keys (NOT AF_* values) ------------ */
#define EKP_FAMILY_V4 4
#define EKP_FAMILY_V6 6

/* IP protocol numbers used in keys. */
#define EKP_PROTO_TCP  6
#define EKP_PROTO_UDP  17
#define EKP_PROTO_SCTP 132

union ekp_addr {
	__be32 v4;      /* IPv4: first 4 bytes, rest zero */
	__be32 v6[4];
	__u8   bytes[16];
};

/* ======================================================================
 * Services.  ekp_svc_v1: HASH ekp_svc_key -> ekp_svc_val
 *
 * One entry per frontend (ClusterIP, NodePort on each node address,
 * ExternalIP, LoadBalancer ingress IP) x port x protocol x scope.
 * A lookup uses scope EXT first; if the found entry has
 * EKP_SVC_F_TWO_SCOPES and the packet originates inside the node (a local
 * pod or the host), the datapath looks up scope INT and uses that entry.
 * ====================================================================== */
#define EKP_SCOPE_EXT 0
#define EKP_SCOPE_INT 1

struct ekp_svc_key {
	union ekp_addr addr;  /* frontend address, network order           */
	__be16 port;          /* frontend port, network order              */
	__u8   proto;         /* EKP_PROTO_*                               */
	__u8   family;        /* EKP_FAMILY_*                              */
	__u8   scope;         /* EKP_SCOPE_*                               */
	__u8   pad[3];
} __attribute__((aligned(8))); /* lib/keys.h stores it as u64 words */

/* svc flags */
#define EKP_SVC_F_AFFINITY     (1u << 0) /* ClientIP session affinity        */
#define EKP_SVC_F_MAGLEV       (1u << 1) /* slots are a Maglev LUT           */
#define EKP_SVC_F_PRESERVE_SRC (1u << 2) /* never SNAT (traffic policy Local)*/
#define EKP_SVC_F_TWO_SCOPES   (1u << 3) /* an EKP_SCOPE_INT entry exists    */
#define EKP_SVC_F_SRC_RANGES   (1u << 4) /* check ekp_srcrange_v1            */
#define EKP_SVC_F_DROP_EMPTY   (1u << 5) /* no slots: drop, don't reject     */
#define EKP_SVC_F_NODEPORT     (1u << 6) /* informational (CLI)              */
#define EKP_SVC_F_EXTERNAL     (1u << 7) /* ExternalIP/LB IP (informational) */
#define EKP_SVC_F_NODE_ADDR    (1u << 8) /* ExternalIP/LB IP that is a node address */
#define EKP_SVC_F_LOCAL_SET    (1u << 9) /* slots are the node-local backends (a Local policy) */

struct ekp_svc_val {
	__u32 svc_id;         /* reverse-NAT / stats id, 1..EKP_SVCSTAT_MAX-1  */
	__u32 slot_off;       /* first slot in ekp_slots_v2 (even)             */
	__u32 slot_len;       /* number of slots (Maglev: the prime M); 0=none */
	__u32 affinity_timeout_s;
	__u32 flags;          /* EKP_SVC_F_*                                   */
	__u32 reserved;
};

/* ======================================================================
 * Slot pool.  ekp_slots_v2: ARRAY u32 -> struct ekp_slot_pair
 *
 * Slot i is id[i % 2] of entry i / 2. An array stores each value in a
 * multiple of 8 bytes, so one u32 id per entry wasted half the pool (the
 * largest map by far with Maglev tables); regions start at even slots and
 * are padded to whole entries, so no two services share an entry.
 *
 * Each service owns one region [slot_off, slot_off+slot_len): a random-
 * selection list or a Maglev lookup table.  Userspace writes a new region,
 * then updates the service value (one atomic map update), then frees the
 * old region.
 * ====================================================================== */

struct ekp_slot_pair {
	__u32 id[2];          /* backend ids; 0 = none (padding) */
};

/* ======================================================================
 * Backends.  ekp_backend_v1: ARRAY u32 backend id -> ekp_backend_val
 * family == 0 marks a free id.
 * ====================================================================== */
#define EKP_BE_F_LOCAL       (1u << 0) /* endpoint runs on this node         */
#define EKP_BE_F_TERMINATING (1u << 1) /* no new flows (affinity ignored)    */

struct ekp_backend_val {
	union ekp_addr addr;  /* network order */
	__be16 port;          /* network order */
	__u8   family;        /* EKP_FAMILY_*, 0 = unused id */
	__u8   flags;         /* EKP_BE_F_* */
	__u32  reserved;      /* 0 (was a local pod's veth, for a redirect never enabled) */
};

/* ======================================================================
 * Next hops of backends.  ekp_benh_v1: ARRAY u32 backend id -> ekp_backend_nh
 * (as many entries as ekp_backend_v1). Written by tc only.
 *
 * The FIB's answer for the last packet tc forwarded to backend `dst` that
 * came in on device `iif` (bpf/lib/pipeline.h, reroute), kept for the rest
 * of its ~1 s epoch like a conntrack entry's nh_*: a new flow to that backend
 * is sent by it without a FIB lookup of its own. `dst` is checked on every
 * use, since a backend id can be given to another address; a zero `oif`
 * keeps nothing. `seq` is odd while a CPU writes the entry (a seqcount):
 * unlike a flow's, one entry serves every flow to its backend.
 * ====================================================================== */
struct ekp_backend_nh {
	__u32 seq;
	__u32 oif;
	__u32 iif;
	__u32 epoch;
	__u8  family;          /* AF_INET or AF_INET6 (of nh) */
	__u8  proto;           /* the IP protocol of the packet looked up */
	__u16 mtu;             /* oif's MTU at that lookup */
	__u8  dst_family;      /* EKP_FAMILY_* of dst */
	__u8  pad[3];
	union ekp_addr nh;     /* the next hop: gateway, or dst itself */
	union ekp_addr dst;    /* the backend's address the answer is for */
};

/* ======================================================================
 * Conntrack.  ekp_ct4_v2: LRU_HASH ekp_ct4_key -> ekp_ct_val (IPv4 flows)
 *             ekp_ct_v2:  LRU_HASH ekp_ct_key  -> ekp_ct_val (IPv6 flows)
 *
 * Two maps because every packet hashes its conntrack key (a new flow three
 * times), and the kernel hashes and compares a key word by word: 16 bytes
 * for an IPv4 tuple instead of the 40 an IPv6 one needs (lib/keys.h writes
 * keys in whole words). Both hold the same values; IPv4 addresses in a value
 * sit in the first 4 bytes of union ekp_addr as everywhere else.
 *
 * A NATed flow has two entries keyed by the tuple as it appears on the wire:
 *  FWD  client:cport -> frontend:fport      value: new dst (backend) and,
 *                                            with EKP_CT_F_SNAT, new src
 *  REV  backend:bport -> client-or-snat     value: new src (frontend) and,
 *                                            with EKP_CT_F_SNAT, new dst
 * expires_ns is CLOCK_MONOTONIC (at tick resolution: ekp_now()). An entry with
 * expires_ns < now is dead unless its other half (the REV entry derived from
 * a FWD one, {backend:bport -> (SNAT ? addr2:port2 : client:cport)}, or the
 * FWD entry a REV one names) is live and names it back (lib/ct.h,
 * ct_other_live): a dead FWD entry is a new flow, and the GC deletes dead
 * entries.
 * ====================================================================== */
struct ekp_ct_key {
	union ekp_addr saddr;
	union ekp_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   family;
	__u8   pad[2];
} __attribute__((aligned(8))); /* as ekp_svc_key */

struct ekp_ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8   proto;
	__u8   pad[3];
} __attribute__((aligned(8))); /* as ekp_svc_key */

#define EKP_CT_FWD 1
#define EKP_CT_REV 2

/* TCP state of the direction this entry tracks. */
#define EKP_CT_STATE_NEW         0 /* UDP/SCTP or a first non-SYN TCP packet */
#define EKP_CT_STATE_SYN         1
#define EKP_CT_STATE_ESTABLISHED 2
#define EKP_CT_STATE_CLOSING     3 /* FIN or RST seen */

#define EKP_CT_F_SNAT     (1u << 0) /* source was translated too            */
#define EKP_CT_F_HAIRPIN  (1u << 1) /* client == backend, SNATed to hairpin  */
#define EKP_CT_F_EXTERNAL (1u << 2) /* flow arrived from outside the node    */
#define EKP_CT_F_NODE_FRONTEND (1u << 3) /* frontend a node address (NodePort,
					  * EKP_SVC_F_NODE_ADDR): so is the
					  * replies' source */
#define EKP_CT_F_RESET    (1u << 4) /* the other half passed a RST: this one
				      * lives the closing timeout at most,
				      * until a handshake SYN starts over */

struct ekp_ct_val {
	__u64 expires_ns;
	union ekp_addr addr;   /* FWD: backend addr.  REV: frontend addr     */
	union ekp_addr addr2;  /* FWD: SNAT addr.     REV: client addr       */
	__be16 port;           /* FWD: backend port.  REV: frontend port     */
	__be16 port2;          /* FWD: SNAT port.     REV: client port       */
	__u32 svc_id;
	__u32 backend_id;
	__u8  type;            /* EKP_CT_FWD / EKP_CT_REV */
	__u8  state;           /* EKP_CT_STATE_* */
	__u8  flags;           /* EKP_CT_F_* */
	__u8  tcp_flags_seen;  /* OR of TCP flag bytes seen in this direction */
	/* Where tc last sent a packet of this direction that it had to route
	 * itself (bpf/lib/pipeline.h, reroute): the FIB's answer for the packet's
	 * device (nh_iif) in one ~1 s epoch of CLOCK_MONOTONIC (nh_epoch, ns >> 30),
	 * looked up again in the next. nh_oif 0: nothing cached. */
	__u32 nh_oif;
	__u32 nh_iif;
	__u32 nh_epoch;
	__u8  nh_family;       /* AF_INET or AF_INET6: an IPv4 route may have an IPv6 gateway */
	__u8  nh_pad;
	__u16 nh_mtu;          /* nh_oif's MTU at that lookup */
	union ekp_addr nh;     /* the next hop: gateway, or the destination itself */
};

/* What ct_gc.bpf.c reports for one run over both conntrack maps. */
struct ekp_gc_result {
	__u32 entries;  /* left after the run */
	__u32 deleted;  /* expired entries deleted */
	__u32 flows;    /* live FWD entries: NATed flows */
	__u32 pad;
};

/* Default timeouts (seconds); overridable through struct ekp_config. */
#define EKP_CT_TIMEOUT_SYN_S         60
#define EKP_CT_TIMEOUT_ESTABLISHED_S 21600 /* 6 h */
#define EKP_CT_TIMEOUT_CLOSING_S     10
#define EKP_CT_TIMEOUT_UDP_S         60
#define EKP_CT_TIMEOUT_OTHER_S       60

/* ======================================================================
 * Fragments.  ekp_frag_v1: LRU_HASH ekp_frag_key -> ekp_frag_val
 *
 * Only a datagram's first fragment carries its UDP header. tc keeps the
 * ports it found there under what every fragment of the datagram repeats
 * (addresses, protocol, identification: the reassembly key), and a later
 * fragment takes them from here to find its flow. Written (for every UDP
 * first fragment tc parses, a service's or not) and read by tc only; an
 * entry is never deleted, the LRU makes room.
 * ====================================================================== */
struct ekp_frag_key {
	union ekp_addr saddr;
	union ekp_addr daddr;
	__u32 id;              /* IPv6's identification; IPv4's 16 bits as the header has them, in the low-addressed half, 0 after */
	__u8  proto;
	__u8  family;          /* EKP_FAMILY_*                               */
	__u8  pad[2];
};

struct ekp_frag_val {
	__be16 sport;
	__be16 dport;
};

/* ======================================================================
 * Session affinity.  ekp_affinity_v1: LRU_HASH key -> val
 * ====================================================================== */
struct ekp_affinity_key {
	__u32 svc_id;
	__u8  family;
	__u8  local_set;      /* 1: chosen from the node-local backends (EKP_SVC_F_LOCAL_SET) */
	__u8  pad[2];
	union ekp_addr client;
};

struct ekp_affinity_val {
	__u64 last_used_ns;    /* CLOCK_MONOTONIC */
	__u32 backend_id;
	__u32 pad;
};

/* ======================================================================
 * ClusterIPs.  ekp_vip_v1: HASH ekp_vip_key -> ekp_vip_val
 *
 * Every ClusterIP of the services in ekp_svc_v1. A TCP, UDP or SCTP packet
 * to one on a port or protocol no service has is refused (TCP RST, ICMP
 * port unreachable), where kube-proxy's nftables mode rejects it, instead
 * of going out by the default route, where a router may hand it back: a
 * loop.
 * ====================================================================== */
struct ekp_vip_key {
	union ekp_addr addr;
	__u8  family;          /* EKP_FAMILY_*                               */
	__u8  pad[3];
};

struct ekp_vip_val {
	__u32 service_ports;   /* how many service ports have this ClusterIP */
};

/*
 * ekp_extvip_v1: HASH ekp_vip_key -> ekp_vip_val (service_ports: how many
 * service ports have the address). The ExternalIPs and LoadBalancer ingress
 * IPs: with ekp_vip_v1's ClusterIPs, the addresses whose pings are answered
 * (see bpf/lib/echo.h). Not in ekp_vipnet_v1's prefix: only a ping looks here.
 */

/*
 * ekp_vipnet_v1: ARRAY of one. The prefix every ClusterIP and every Service
 * CIDR of a family lies in (their longest common one): a packet outside it is
 * no ClusterIP's and in no Service CIDR, and skips the ekp_vip_v1 and
 * ekp_svccidr_v1 lookups, which most traffic that is no service's would
 * otherwise pay. A family without either has on = 0.
 */
struct ekp_vipnet {
	union ekp_addr v4_net;
	union ekp_addr v4_mask;
	union ekp_addr v6_net;
	union ekp_addr v6_mask;
	__u8  v4_on;
	__u8  v6_on;
	__u8  pad[2];
};

/*
 * ekp_svccidr_v1: LPM_TRIE. The Service CIDRs (ServiceCIDR objects): a
 * packet to an address in one that is no ClusterIP (not in ekp_vip_v1) is
 * dropped, as kube-proxy's nftables mode drops traffic to unallocated
 * ClusterIPs, instead of going out by the default route. prefixlen counts
 * bits after the prefixlen field: 32 (family, pad) + the CIDR's length.
 */
#define EKP_SVCCIDR_PREFIX_BASE 32

struct ekp_svccidr_key {
	__u32 prefixlen;
	__u8  family;          /* EKP_FAMILY_*                               */
	__u8  pad[3];
	union ekp_addr addr;
};

struct ekp_svccidr_val {
	__u32 unused;          /* the key's presence is the answer           */
};

/* ======================================================================
 * loadBalancerSourceRanges.  ekp_srcrange_v1: LPM_TRIE key -> val
 * prefixlen counts bits after the prefixlen field: 64 (svc_id, family,
 * pad) + the CIDR's prefix length.
 * ====================================================================== */
#define EKP_SRCRANGE_PREFIX_BASE 64

struct ekp_srcrange_key {
	__u32 prefixlen;
	__u32 svc_id;          /* big-endian in the trie: stored host order, */
	__u8  family;          /* but always with full 64-bit prefix, so the */
	__u8  pad[3];          /* order does not matter                      */
	union ekp_addr addr;
};

struct ekp_srcrange_val {
	__u32 allow;           /* 1 = allowed */
};

/* ======================================================================
 * Socket-level LB reverse translation (recvmsg/getpeername).
 * ekp_sock_v1: LRU_HASH {socket cookie, backend} -> frontend
 * ====================================================================== */
struct ekp_sock_key {
	__u64 cookie;
	union ekp_addr addr;   /* backend address the socket talks to */
	__be16 port;           /* backend port */
	__u8  family;
	__u8  pad[5];
};

struct ekp_sock_val {
	union ekp_addr addr;   /* frontend address the application used */
	__be16 port;
	__u16 pad;
	__u32 svc_id;
};

/* ======================================================================
 * Counters.  All PERCPU_ARRAY of struct ekp_counter; userspace sums CPUs.
 *  ekp_drop_v1     index = enum ekp_drop_reason
 *  ekp_event_v1    index = enum ekp_event
 *  ekp_svcstat_v1  index = svc_id (packets/bytes in both directions)
 * ====================================================================== */
struct ekp_counter {
	__u64 packets;
	__u64 bytes;
};

enum ekp_drop_reason {
	EKP_DROP_UNSPEC = 0,
	EKP_DROP_INVALID_L3 = 1,       /* bad IP version/ihl/length, truncated */
	EKP_DROP_INVALID_L4 = 2,       /* truncated or bad L4 header            */
	EKP_DROP_SRC_RANGE = 3,        /* loadBalancerSourceRanges denied        */
	EKP_DROP_NO_LOCAL_BACKEND = 4, /* traffic policy Local, none local       */
	EKP_DROP_NO_BACKEND = 5,       /* empty service, reject not possible     */
	EKP_DROP_BACKEND_MISSING = 6,  /* slot points at a free backend id       */
	EKP_DROP_SNAT_NO_PORT = 7,     /* no free SNAT port after retries        */
	EKP_DROP_CT_INSERT = 8,        /* conntrack insert failed (SNAT flow)    */
	EKP_DROP_REWRITE = 9,          /* a helper failed while rewriting        */
	EKP_DROP_REJECT = 10,          /* could not build RST/ICMP               */
	EKP_DROP_FLOOR = 11,           /* floor program: found in its map        */
	EKP_DROP_UNALLOCATED = 12,     /* a Service CIDR's address no service has */
	EKP_DROP_FRAG_NO_FLOW = 13,    /* a later fragment to a service address, its first refused */
	EKP_DROP_MAX = 16,
};

enum ekp_event {
	EKP_EV_UNSPEC = 0,
	EKP_EV_CT_CREATED = 1,
	EKP_EV_CT_INSERT_FAIL = 2,     /* FWD or REV insert failed           */
	EKP_EV_CT_EXPIRED_REUSE = 3,   /* dead FWD entry treated as new flow */
	EKP_EV_CT_HIT_FWD = 4,
	EKP_EV_CT_HIT_REV = 5,
	EKP_EV_AFFINITY_HIT = 6,
	EKP_EV_REJECT_TCP_RST = 7,
	EKP_EV_REJECT_ICMP = 8,
	EKP_EV_PASS_FRAGMENT = 9,      /* passed untouched                    */
	EKP_EV_PASS_IP_OPTIONS = 10,   /* passed untouched                    */
	EKP_EV_PASS_IPV6_EXTHDR = 11,  /* passed untouched                    */
	EKP_EV_SNAT_RETRY = 12,        /* SNAT port collided, retried         */
	EKP_EV_SOCK_XLATE = 13,        /* cgroup hook translated a socket     */
	EKP_EV_REDIRECT = 14,          /* forwarded by redirect helper        */
	EKP_EV_XDP_TO_STACK = 15,      /* XDP passed a service packet to tc   */
	EKP_EV_ICMP_ERR_XLATE = 16,    /* ICMP error about a NATed flow translated */
	EKP_EV_PASS_ICMP_ERR = 17,     /* ICMP error not understood: passed untouched */
	EKP_EV_EGRESS_DONE = 18,       /* tc_egress: translated by tc_ingress on this node, let go */
	EKP_EV_CT_STALE_REV = 19,      /* dead REV entry met a direct connection on its tuple: deleted */
	EKP_EV_VIP_NO_PORT = 20,       /* a ClusterIP on a port no service has: refused */
	EKP_EV_ECHO_REPLY = 21,        /* a ping to a service's address: answered */
	EKP_EV_TTL_EXCEEDED = 22,      /* to be sent on with TTL/hop limit <= 1 */
	EKP_EV_FRAG_NEEDED = 23,       /* to be sent on, bigger than the next device takes */
	EKP_EV_SENDER_ANSWERED = 24,   /* either, about a request: time exceeded or frag-needed sent back */
	EKP_EV_FRAG_FOLLOWED = 25,     /* a UDP datagram's later fragment translated as its first */
	EKP_EV_FRAG_UNKNOWN = 26,      /* a later fragment whose first tc did not see: passed untouched */
	EKP_EV_MAX = 32,
};

/* ======================================================================
 * Read-only configuration: `const volatile struct ekp_config ekp_cfg` in
 * every object (.rodata), set by userspace before load.
 * ====================================================================== */
#define EKP_CFG_F_FROM_PODS     (1u << 0) /* attached where packets come from local pods (host veth) */
#define EKP_CFG_F_FROM_HOST     (1u << 1) /* egress hook: packets originate on this host */
/* (1u << 2) was FWD_REDIRECT, to a local pod's veth: never set; rerouted packets go where the FIB says */
#define EKP_CFG_F_REJECT_ICMP_TCP (1u << 3) /* empty TCP service: ICMP unreachable instead of RST */
/* (1u << 4) was FIB_SKIP_NEIGH: the datapath needs the lookup's neighbour state (pipeline.h reroute) */
#define EKP_CFG_F_KERN_CTX        (1u << 5) /* kernel >= 6.2: bpf_cast_to_kern_ctx, for the skb's checksum state */

struct ekp_config {
	__u32 abi_version;          /* must equal EKP_ABI_VERSION */
	__u32 flags;                /* EKP_CFG_F_* */
	union ekp_addr snat_v4;     /* node address used for SNAT (v4) */
	union ekp_addr snat_v6;     /* node address used for SNAT (v6) */
	union ekp_addr hairpin_v4;  /* source used for hairpin flows; 0 = snat_v4 */
	union ekp_addr hairpin_v6;
	__u16 snat_port_min;        /* host order, inclusive */
	__u16 snat_port_max;        /* host order, inclusive */
	__u32 ct_timeout_syn_s;
	__u32 ct_timeout_established_s;
	__u32 ct_timeout_closing_s;
	__u32 ct_timeout_udp_s;
	__u32 ct_timeout_other_s;
};

#define EKP_SNAT_PORT_MIN_DEFAULT 61000
#define EKP_SNAT_PORT_MAX_DEFAULT 65000
#define EKP_SNAT_RETRIES          16

#endif /* EKP_ABI_H */
