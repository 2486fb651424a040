import { PROXY_MODES, type FeatureName, type Features, type ModeDecision, type ProxyMode } from './types.js';

/** What each mode needs from the machine; the first missing one is the reason. */
const REQUIREMENTS: Record<ProxyMode, FeatureName[][]> = {
  // XDP is an accelerator for NodePort and cgroup hooks add socket-level LB;
  // the per-packet tc path alone serves every Service, so those are optional.
  // BTF: tc_lb's CO-RE relocation (bpf/lib/skb_csum.h) is resolved at load on every kernel.
  ebpf: [['bpf_syscall'], ['tc'], ['tc_helpers'], ['lru_hash_map'], ['lpm_trie_map'], ['btf'], ['bpffs']],
  // kube-proxy's ipvs mode still needs iptables + ipset for masquerade and NodePorts.
  ipvs: [['ip_vs'], ['ipvsadm'], ['ipset'], ['iptables_nft', 'iptables_legacy']],
  nftables: [['nftables']],
  iptables: [['iptables_nft', 'iptables_legacy']],
  userspace: [],
};

function missing(features: Features, mode: ProxyMode): string | null {
  for (const anyOf of REQUIREMENTS[mode]) {
    if (anyOf.some((f) => features[f].available)) continue;
    return anyOf.map((f) => `${f}: ${features[f].detail}`).join('; ');
  }
  return null;
}

/**
 * `auto`: ebpf if the BPF probe passes, else ipvs, else nftables, else
 * iptables, else userspace, which always works.
 */
export function decideMode(features: Features): ModeDecision {
  const reasons = Object.fromEntries(PROXY_MODES.map((m) => [m, missing(features, m)])) as Record<ProxyMode, string | null>;
  const mode = PROXY_MODES.find((m) => reasons[m] === null) ?? 'userspace';
  return { mode, reasons };
}

/** Every feature a mode's check reads: what an explicitly requested mode needs probed. */
export function requiredFeatures(mode: ProxyMode): ReadonlySet<FeatureName> {
  return new Set(REQUIREMENTS[mode].flat());
}

/** An explicitly requested mode: refuse it, with the reason, if the machine cannot run it. */
export function checkMode(features: Features, mode: ProxyMode): string | null {
  return missing(features, mode);
}
