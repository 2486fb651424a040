// kube-proxy's two iptables metrics that count packets, not rules: nfacct counters fed by a match
// in the rule that drops or accepts them. A counter outlives the rules (and this process), so the
// metrics are counters in Prometheus' sense across rewrites and restarts, as kube-proxy's.
import { nfacctEnsure, nfacctPackets, withNetns } from '../../native/index.js';

export const COUNTERS = {
  /** KUBE-FORWARD's ct-INVALID drop. */
  invalid: {
    name: 'ct_state_invalid_dropped_pkts',
    metric: 'kubeproxy_iptables_ct_state_invalid_dropped_packets_total',
    help: 'packets dropped by iptables to work around conntrack problems',
  },
  /** KUBE-NODEPORTS' rules for 127.0.0.0/8 (localhost NodePorts). */
  localhost: {
    name: 'localhost_nps_accepted_pkts',
    metric: 'kubeproxy_iptables_localhost_nodeports_accepted_packets_total',
    help: 'Number of packets accepted on nodeports of loopback interface',
  },
} as const;

export type CounterKind = keyof typeof COUNTERS;

/** The kernel's counters, or a test's. */
export interface Nfacct {
  ensure(name: string): void;
  packets(name: string): number;
}

/** The counters of `netns` (a /run/netns path), else of this process's namespace. */
export function kernelNfacct(netns?: string): Nfacct {
  const inNs = <T>(fn: () => T): T => (netns ? withNetns(netns, fn) : fn());
  return {
    ensure: (name) => inNs(() => nfacctEnsure(name)),
    packets: (name) => inNs(() => nfacctPackets(name)),
  };
}

/** The `-m nfacct` match that feeds counter `kind`. */
export function nfacctMatch(kind: CounterKind): string[] {
  return ['-m', 'nfacct', '--nfacct-name', COUNTERS[kind].name];
}
