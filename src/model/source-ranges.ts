// loadBalancerSourceRanges as a dataplane must admit them: one disjoint list per frontend.

import { cidrContains, outermostCIDRs, parseCIDR, type ParsedCIDR, type ParsedIP } from './ip.js';

/**
 * The sources a load-balancer frontend admits: the Service's ranges and, when one of them holds
 * this node's primary IP, the Service's load-balancer IPs as host prefixes. That is kube-proxy's
 * allowFromNode: a VIP made local on the node (kube-vip, an `ip route` rule) is the source of the
 * node's own requests to it, which never reach the load balancer.
 *
 * A range inside another is dropped, so the list is disjoint: nft's interval sets refuse
 * overlapping elements, and one refused element fails the whole transaction.
 */
export function admittedSources(ranges: readonly string[], vips: readonly string[], nodeIP: ParsedIP | undefined): string[] {
  const all = parsed(ranges);
  if (nodeIP && all.some((c) => cidrContains(c, nodeIP))) {
    all.push(...parsed(vips.map((v) => `${v}/${v.includes(':') ? 128 : 32}`)));
  }
  return outermostCIDRs(all).map((c) => c.text);
}

function parsed(list: readonly string[]): ParsedCIDR[] {
  const out: ParsedCIDR[] = [];
  for (const s of list) {
    const r = parseCIDR(s);
    if (r.ok) out.push(r.cidr);
  }
  return out;
}
