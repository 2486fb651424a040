// unknown → the CIDRs of v1 ServiceCIDRs (networking.k8s.io/v1): the ranges ClusterIPs are
// allocated from. kube-proxy's nftables mode drops traffic to an address in one that no Service
// holds; kube-proxy takes every object's spec.cidrs alike, so do we.

import { outermostCIDRs, parseCIDR, type IPFamily, type ParsedCIDR as CIDR } from './ip.js';
import { guarded, own, readArray, readCIDR, readMetadata, readObject, type ParseResult, type Problem } from './problem.js';

export function parseServiceCIDR(obj: unknown): ParseResult<readonly string[]> {
  return guarded('ServiceCIDR', () => {
    const m = readMetadata('ServiceCIDR', obj, false);
    if (!m.ok) return m;
    const p = m.read.problems;
    const cidrs: string[] = [];
    const spec = readObject(own(m.obj, 'spec'), 'spec', p);
    if (spec) {
      readArray(own(spec, 'cidrs'), 'spec.cidrs', p).forEach((v, i) => {
        const c = readCIDR(v, `spec.cidrs[${i}]`, p);
        if (c !== undefined && !cidrs.includes(c)) cidrs.push(c);
      });
    }
    return { ok: true, value: cidrs, problems: p.list };
  });
}

export interface ServiceCIDRs {
  /**
   * Each family's CIDRs, canonical (host bits cleared), sorted, none inside another: ServiceCIDRs
   * may overlap (a cluster moving to a new range), and nft refuses overlapping set elements.
   */
  readonly cidrs: Readonly<Record<IPFamily, readonly string[]>>;
  readonly problems: readonly Problem[];
}

/** The union of every ServiceCIDR object's CIDRs, by family; a bad entry is left out and named. */
export function serviceCIDRsOf(objects: Iterable<unknown>): ServiceCIDRs {
  const byFamily: Record<IPFamily, CIDR[]> = { 4: [], 6: [] };
  const problems: Problem[] = [];
  for (const obj of objects) {
    const r = parseServiceCIDR(obj);
    problems.push(...r.problems);
    if (!r.ok) continue;
    for (const c of r.value) {
      const parsed = parseCIDR(c);
      if (parsed.ok) byFamily[parsed.cidr.family].push(parsed.cidr);
    }
  }
  const outermost = (all: CIDR[]) => outermostCIDRs(all).map((c) => c.text).sort();
  return { cidrs: { 4: outermost(byFamily[4]), 6: outermost(byFamily[6]) }, problems };
}
