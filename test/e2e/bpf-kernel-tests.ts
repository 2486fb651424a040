// The titles of test/e2e/bpf-kernel.test.ts, shared with the host side (test/vm/ipvs.test.ts),
// which requires every one of them to have run and passed in the guest.
export const BPF_KERNEL_TESTS = {
  probe: 'the daemon\'s probe finds everything the ebpf mode uses, and auto picks ebpf',
  flags: 'the program config leaves out what this kernel lacks (KERN_CTX before 6.2)',
  load: 'loadDatapath loads tc_lb (3 roles), xdp_lb, sock_lb and ct_gc with the daemon\'s sizes and config',
  floor: 'the datapath benchmark\'s programs load as it loads them, and ct_floor\'s two create their flows',
  headroom: 'tc_lb (every role, and its bench-only build without inserts) and xdp_lb verify in under 700,000 instructions, within 6.1\'s stack',
  tc: 'tc programs: ClusterIP DNAT and its reply, a miss, host egress DNAT, an empty service\'s RST, a host-network backend\'s reply at tc_to_pod',
  icmp: 'tc programs: NodePort DNAT + SNAT from the wire, and an ICMP error about it translated',
  xdp: 'xdp_nodeport: NodePort eTP=Local DNAT in XDP, the reply un-NATed by tc',
  mutations: 'seeded mutations of service packets through every hook, unrouted and routed: nothing malformed is changed, translations touch only NAT fields (and a hop where sent on), checksums as valid as they came',
  gc: 'ct_gc counts the flows and deletes them once expired, through the map iterators and in one run',
  sock: 'sock_lb attached to a cgroup translates a connect to a ClusterIP',
} as const;
