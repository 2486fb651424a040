// This node's view of itself: which of its addresses accept NodePorts, which sources count as
// "inside the cluster", and a helper to derive it from a v1 Node.

import { cidrContains, parseCIDR, parseIP, type IPFamily, type ParsedCIDR, type ParsedIP } from './ip.js';
import { LABEL_TOPOLOGY_ZONE, type Node } from './k8s.js';
import { describe, Problems, type Problem } from './problem.js';
import type { PortRange } from './validate-service.js';

export interface NodeContext {
  readonly nodeName: string;
  /** topology.kubernetes.io/zone of this node, for PreferSameZone hints. */
  readonly zone?: string;
  /** Every address NodePorts could be served on; the first of each family is the primary one. */
  readonly nodeAddresses: readonly string[];
  /**
   * kube-proxy --nodeport-addresses: CIDRs and/or 'primary'. A family with no entry accepts
   * NodePorts on all of its node addresses (kube-proxy's default of 0.0.0.0/0 and ::/0).
   */
  readonly nodePortAddresses?: readonly string[];
  /** kube-proxy --cluster-cidr: sources in these ranges are pods (local traffic detection). */
  readonly clusterCIDRs: readonly string[];
  /** kube-proxy's BridgeInterface / InterfaceNamePrefix detectors: pods are what comes in there, whatever clusterCIDRs say. */
  readonly podInterface?: PodInterface;
  /** kube-proxy --masquerade-all. */
  readonly masqueradeAll: boolean;
  /** The API server's --service-node-port-range, if known; see ParseServiceOptions. */
  readonly nodePortRange?: PortRange;
  /** Honour forNodes topology hints (default true); see TopologyNode. */
  readonly preferSameNode?: boolean;
}

/** An interface name (prefix: every interface whose name starts with it), as iptables' `-i name+` means. */
export interface PodInterface {
  readonly name: string;
  readonly prefix: boolean;
}

/**
 * Rendered into iptables and nft rules: an interface name's characters only (no wildcard, no ':',
 * which the kernel refuses), and short enough for iptables' `-i`: 15 characters, a prefix's `+` included.
 */
export function isPodInterfaceName(name: string, prefix: boolean): boolean {
  return (prefix ? /^[A-Za-z0-9_.@-]{1,14}$/ : /^[A-Za-z0-9_.@-]{1,15}$/).test(name);
}

/** NodeContext with every address parsed and checked; problems name "NodeContext". */
export interface ResolvedNode {
  /** The first node address of each family: kube-proxy's node IP. */
  readonly primary: { readonly 4: ParsedIP | undefined; readonly 6: ParsedIP | undefined };
  readonly nodePortAddresses: { readonly 4: readonly string[]; readonly 6: readonly string[] };
  readonly clusterCIDRs: { readonly 4: readonly string[]; readonly 6: readonly string[] };
  readonly podInterface: PodInterface | null;
  readonly problems: readonly Problem[];
}

const resolved = new WeakMap<NodeContext, ResolvedNode>();

/** Memoised per NodeContext object: a sync resolves the same node once per service. */
export function resolveNode(ctx: NodeContext): ResolvedNode {
  if (typeof ctx !== 'object' || ctx === null) return resolveNodeUncached(ctx);
  let r = resolved.get(ctx);
  if (!r) resolved.set(ctx, (r = resolveNodeUncached(ctx)));
  return r;
}

function resolveNodeUncached(ctx: NodeContext): ResolvedNode {
  const p = new Problems('NodeContext');
  const addrs: ParsedIP[] = [];
  (Array.isArray(ctx.nodeAddresses) ? ctx.nodeAddresses : []).forEach((a, i) => {
    const r = typeof a === 'string' ? parseIP(a) : undefined;
    if (!r?.ok) p.add(`nodeAddresses[${i}]`, `must be an IP address, got ${describe(a)}`);
    else if (!addrs.some((x) => x.text === r.ip.text)) addrs.push(r.ip);
  });

  const primary = { 4: addrs.find((a) => a.family === 4), 6: addrs.find((a) => a.family === 6) };
  const selectors: ParsedCIDR[] = [];
  (Array.isArray(ctx.nodePortAddresses) ? ctx.nodePortAddresses : []).forEach((s, i) => {
    if (s === 'primary') {
      // kube-proxy turns 'primary' into the node's primary IP of each family as a /32 or /128.
      for (const family of [4, 6] as const) {
        const ip = primary[family];
        if (ip) {
          const c = parseCIDR(`${ip.text}/${family === 4 ? 32 : 128}`);
          if (c.ok) selectors.push(c.cidr);
        }
      }
      return;
    }
    const c = typeof s === 'string' ? parseCIDR(s.trim()) : undefined;
    if (!c?.ok) p.add(`nodePortAddresses[${i}]`, `must be a CIDR or "primary", got ${describe(s)}`);
    else selectors.push(c.cidr);
  });
  const pick = (family: IPFamily): string[] => {
    const mine = selectors.filter((c) => c.family === family);
    return addrs
      .filter((a) => a.family === family && (mine.length === 0 || mine.some((c) => cidrContains(c, a))))
      .map((a) => a.text);
  };

  const cidrs: ParsedCIDR[] = [];
  (Array.isArray(ctx.clusterCIDRs) ? ctx.clusterCIDRs : []).forEach((s, i) => {
    const c = typeof s === 'string' ? parseCIDR(s.trim()) : undefined;
    if (!c?.ok) p.add(`clusterCIDRs[${i}]`, `must be a CIDR, got ${describe(s)}`);
    else if (!cidrs.some((x) => x.text === c.cidr.text)) cidrs.push(c.cidr);
  });
  const cidrsOf = (family: IPFamily): string[] => cidrs.filter((c) => c.family === family).map((c) => c.text);

  let podInterface: PodInterface | null = null;
  const pi = ctx.podInterface as unknown;
  if (pi !== undefined) {
    const { name, prefix } = (typeof pi === 'object' && pi !== null ? pi : {}) as { name?: unknown; prefix?: unknown };
    if (typeof prefix !== 'boolean' || typeof name !== 'string' || !isPodInterfaceName(name, prefix)) p.add('podInterface', `must be an interface name (and whether it is a prefix), got ${describe(pi)}`);
    else podInterface = { name, prefix };
  }

  return {
    primary,
    nodePortAddresses: { 4: pick(4), 6: pick(6) },
    clusterCIDRs: { 4: cidrsOf(4), 6: cidrsOf(6) },
    podInterface,
    problems: p.list,
  };
}

export interface NodeConfig {
  /**
   * The addresses of the node's own interfaces. NodePorts are served on them too: kube-proxy's
   * default is every local address, and a second NIC is rarely in the Node object.
   */
  readonly localAddresses?: readonly string[];
  readonly nodePortAddresses?: readonly string[];
  readonly clusterCIDRs?: readonly string[];
  readonly podInterface?: PodInterface;
  readonly masqueradeAll?: boolean;
  /** kube-proxy's PreferSameTrafficDistribution gate; unset leaves NodeContext's default (on). */
  readonly preferSameNode?: boolean;
}

/**
 * Builds a NodeContext from this node's v1 Node: InternalIPs before ExternalIPs, so the first address
 * of each family is the primary node IP as kube-proxy picks it, then the interfaces' addresses. clusterCIDRs default to the node's
 * podCIDRs (kube-proxy's --detect-local-mode=NodeCIDR) when not configured.
 */
export function nodeContextFromNode(node: Node, config: NodeConfig = {}): NodeContext {
  const ordered = [
    ...node.status.addresses.filter((a) => a.type === 'InternalIP'),
    ...node.status.addresses.filter((a) => a.type === 'ExternalIP'),
  ].map((a) => a.address);
  const zone = node.metadata.labels[LABEL_TOPOLOGY_ZONE];
  return {
    nodeName: node.metadata.name,
    ...(zone !== undefined && zone !== '' ? { zone } : {}),
    nodeAddresses: [...new Set([...ordered, ...(config.localAddresses ?? [])])],
    ...(config.nodePortAddresses ? { nodePortAddresses: config.nodePortAddresses } : {}),
    clusterCIDRs: config.clusterCIDRs ?? node.spec.podCIDRs,
    ...(config.podInterface ? { podInterface: config.podInterface } : {}),
    masqueradeAll: config.masqueradeAll ?? false,
    ...(config.preferSameNode !== undefined ? { preferSameNode: config.preferSameNode } : {}),
  };
}

/**
 * kube-proxy's bindAddress: `address` becomes the primary node IP of its family (the first of
 * that family), whatever the Node says. Only one of the node's addresses can be: the node
 * addresses are where NodePorts are served, and one the node does not hold would only be a
 * frontend nothing reaches (null, or such an address, leaves `ctx` as it is).
 */
export function withPrimaryAddress(ctx: NodeContext, address: string | null): NodeContext {
  if (!address || !ctx.nodeAddresses.includes(address)) return ctx;
  return { ...ctx, nodeAddresses: [address, ...ctx.nodeAddresses.filter((a) => a !== address)] };
}
