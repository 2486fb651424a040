export type ProxyMode = 'ebpf' | 'ipvs' | 'nftables' | 'iptables' | 'userspace';

export const PROXY_MODES: readonly ProxyMode[] = ['ebpf', 'ipvs', 'nftables', 'iptables', 'userspace'];

/** One capability of this machine: whether we can use it and, either way, why. */
export interface Feature {
  available: boolean;
  detail: string;
}

export type FeatureName =
  | 'bpf_syscall' | 'xdp' | 'tc' | 'tc_helpers' | 'cgroup_sock_addr' | 'lru_hash_map' | 'lpm_trie_map' | 'btf' | 'bpffs' | 'cgroup2'
  | 'nftables' | 'iptables_legacy' | 'iptables_nft' | 'ip_vs' | 'ipset' | 'ipvsadm';

export type Features = Record<FeatureName, Feature>;

export interface ModeDecision {
  mode: ProxyMode;
  /** For every mode: null when usable, else why not. */
  reasons: Record<ProxyMode, string | null>;
}
