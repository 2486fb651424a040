// Desired state → what the userspace proxy must hold open: one listener per
// frontend address:port/protocol, and the service addresses that must be local
// to this node so that the kernel delivers their traffic to those listeners.
// Pure: no sockets, no `ip`.
import { cidrContains, parseCIDR, parseIP, type BackendSet, type DesiredService, type Frontend, type ParsedCIDR, type ParsedIP } from '../../model/index.js';

export type ListenProtocol = 'TCP' | 'UDP';

/** One socket the proxy listens on, and the service port behind it. */
export interface Route {
  /** `${protocol} ${address} ${port}` */
  readonly key: string;
  readonly protocol: ListenProtocol;
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly frontend: Frontend;
  readonly service: DesiredService;
  /** Parsed loadBalancerSourceRanges (empty: every source). */
  readonly sourceRanges: readonly ParsedCIDR[];
  /** Parsed clusterCIDRs of the family: sources there are pods. */
  readonly clusterCIDRs: readonly ParsedCIDR[];
}

export interface RoutePlan {
  routes: Map<string, Route>;
  /** Frontend addresses to make local (ClusterIPs, external and load-balancer IPs; never NodePort addresses). */
  addresses: Set<string>;
  /** Frontends left out, with why (SCTP, two services on one address:port; `warn`: this node's links, worth a warning). */
  skipped: { service: string; frontend: string; reason: string; warn?: true }[];
}

export const routeKey = (protocol: string, address: string, port: number): string => `${protocol} ${address} ${port}`;

function parseCIDRs(list: readonly string[]): ParsedCIDR[] {
  return list.flatMap((r) => {
    const c = parseCIDR(r);
    return c.ok ? [c.cidr] : [];
  });
}

/**
 * Every frontend of every service port becomes a route; the first service (in
 * key order) to claim an address:port/protocol keeps it. NodePort frontends
 * listen on node addresses, which are local already.
 */
export function planRoutes(services: Iterable<DesiredService>): RoutePlan {
  const routes = new Map<string, Route>();
  const addresses = new Set<string>();
  const skipped: RoutePlan['skipped'] = [];
  for (const service of services) {
    let clusterCIDRs: ParsedCIDR[] | null = null;
    for (const f of service.frontends) {
      const where = `${f.kind} ${f.address}:${f.port}/${f.protocol}`;
      if (f.protocol !== 'TCP' && f.protocol !== 'UDP') {
        skipped.push({ service: service.key, frontend: where, reason: `${f.protocol} has no socket API in Node; the userspace mode proxies TCP and UDP only` });
        continue;
      }
      if (f.kind !== 'nodePort') addresses.add(f.address);
      const key = routeKey(f.protocol, f.address, f.port);
      const taken = routes.get(key);
      if (taken) {
        skipped.push({ service: service.key, frontend: where, reason: `already served for ${taken.service.key} (${taken.frontend.kind})` });
        continue;
      }
      clusterCIDRs ??= parseCIDRs(service.masquerade.clusterCIDRs);
      routes.set(key, {
        key, protocol: f.protocol, address: f.address, port: f.port, family: f.family, frontend: f, service,
        sourceRanges: parseCIDRs(f.sourceRanges ?? []), clusterCIDRs,
      });
    }
  }
  return { routes, addresses, skipped };
}

/** A subnet on one of this node's devices (not lo): its addresses are hosts on that link. */
export interface LinkSubnet {
  readonly device: string;
  readonly cidr: ParsedCIDR;
}

/**
 * Leaves out the external IPs that belong to another host on one of this node's links (an
 * ExternalIP at another node's address, the bare-metal way). Made local here, such an
 * address would cut this node off from that host, and, answered in ARP, draw the link's
 * traffic for it here. The host that holds it serves it as its own (it is in `own` there).
 * Load-balancer IPs stay: an L2 announcer (MetalLB) holds its IPs on no device, and every
 * node must take them (README: strictARP).
 */
export function withoutForeignAddresses(plan: RoutePlan, own: ReadonlySet<string>, links: readonly LinkSubnet[]): RoutePlan {
  const foreign = new Map<string, string>();
  for (const r of plan.routes.values()) {
    if (r.frontend.kind !== 'externalIP' || own.has(r.address) || foreign.has(r.address)) continue;
    const ip = parseIP(r.address);
    const link = ip.ok ? links.find((l) => cidrContains(l.cidr, ip.ip)) : undefined;
    if (link) foreign.set(r.address, `${link.device} (${link.cidr.text})`);
  }
  if (foreign.size === 0) return plan;
  const routes = new Map<string, Route>();
  const skipped = [...plan.skipped];
  for (const [key, r] of plan.routes) {
    const on = r.frontend.kind === 'externalIP' ? foreign.get(r.address) : undefined;
    if (on === undefined) routes.set(key, r);
    else skipped.push({ service: r.service.key, frontend: `${r.frontend.kind} ${r.address}:${r.port}/${r.protocol}`, reason: `an address on ${on} that this node does not hold: made local here it would cut this node off from the host that does; served by that host`, warn: true });
  }
  // Still made local when another kept frontend (say an LB IP) is at the same address.
  const kept = new Set([...routes.values()].filter((r) => r.frontend.kind !== 'nodePort').map((r) => r.address));
  return { routes, addresses: new Set([...plan.addresses].filter((a) => !foreign.has(a) || kept.has(a))), skipped };
}

export type Scope = 'internal' | 'shortCircuit' | 'external';

/**
 * The backend set for a new connection on a route, as KUBE-SVC / KUBE-EXT
 * choose: ClusterIP → internalBackends; an external frontend → the cluster set
 * for pods and the node itself, else externalBackends (local only for eTP Local).
 */
export function backendSetFor(route: Route, internalClient: boolean): { scope: Scope; set: BackendSet } {
  const s = route.service;
  if (route.frontend.kind === 'clusterIP') return { scope: 'internal', set: s.internalBackends };
  if (internalClient) return { scope: 'shortCircuit', set: s.shortCircuitBackends };
  return { scope: 'external', set: s.externalBackends };
}

/**
 * A route needs its socket while some client could get a backend, and where kube-proxy drops
 * (a Local policy with endpoints on other nodes only, `dropWhenEmpty`): an open socket can stay
 * silent (UDP) or reset after the handshake (TCP), where without one the kernel answers for us, as
 * REJECT would: TCP RST, ICMP port unreachable.
 */
export function routeServes(route: Route): boolean {
  const s = route.service;
  const sets = route.frontend.kind === 'clusterIP' ? [s.internalBackends] : [s.shortCircuitBackends, s.externalBackends];
  return sets.some((set) => set.backends.length > 0 || set.dropWhenEmpty);
}

/**
 * loadBalancerSourceRanges, as the model admits them. The node is no exception, as in kube-proxy:
 * its requests to an LB IP made local here come from that IP, admitted when a range holds the node.
 */
export function sourceAllowed(route: Route, client: ParsedIP): boolean {
  if (route.sourceRanges.length === 0) return true;
  return route.sourceRanges.some((c) => cidrContains(c, client));
}

/** A peer address as a socket reports it (`::ffff:a.b.c.d` read as IPv4). */
export function parsePeer(address: string | undefined): ParsedIP | null {
  if (!address) return null;
  const a = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const r = parseIP(a);
  return r.ok ? r.ip : null;
}

/** This node: loopback, or one of `local` (node addresses and the service addresses we made local). */
export function isThisNode(ip: ParsedIP, local: ReadonlySet<string>): boolean {
  if (ip.family === 4 && ip.bytes[0] === 127) return true;
  if (ip.family === 6 && ip.text === '::1') return true;
  return local.has(ip.text);
}

export interface ClientInfo {
  ip: ParsedIP;
  thisNode: boolean;
  /** From a pod (clusterCIDRs) or from this node. */
  internal: boolean;
}

export function classifyClient(route: Route, ip: ParsedIP, local: ReadonlySet<string>): ClientInfo {
  const thisNode = isThisNode(ip, local);
  return { ip, thisNode, internal: thisNode || route.clusterCIDRs.some((c) => cidrContains(c, ip)) };
}
