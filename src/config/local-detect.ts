import type { ProxyConfig } from './types.js';

/**
 * The pod ranges kube-proxy's detectLocalMode gives, for nodeContextFromNode: undefined means the
 * Node's podCIDRs. Unset, we take clusterCIDR and else the Node's podCIDRs, where kube-proxy
 * would detect nothing; an explicit ClusterCIDR without one detects nothing, as there.
 */
export function podRanges(cfg: Pick<ProxyConfig, 'detectLocalMode' | 'clusterCIDRs'>): readonly string[] | undefined {
  switch (cfg.detectLocalMode) {
    case 'NodeCIDR':
      return undefined;
    case 'ClusterCIDR':
      return cfg.clusterCIDRs;
    default:
      return cfg.clusterCIDRs.length ? cfg.clusterCIDRs : undefined;
  }
}
