// Services + EndpointSlices + this node → the one immutable desired state every dataplane mode
// programs. Mirrors what kube-proxy's iptables proxier decides per ServicePort in syncProxyRules
// (chains KUBE-SVC / KUBE-SVL / KUBE-EXT / KUBE-FW and the filter-table REJECT/DROP rules), without
// allocating any ids: numbering is the dataplane's business.

import { endpointsKey, buildEndpointsMap, endpointSliceSkipReason, type Backend, type Endpoint } from './endpoints.js';
import { compareIPs, type IPFamily } from './ip.js';
import type { EndpointSlice, Protocol } from './k8s.js';
import { resolveNode, type NodeContext, type PodInterface, type ResolvedNode } from './node.js';
import { describe, type Problem } from './problem.js';
import { servicePorts, type ServicePort } from './service.js';
import { admittedSources } from './source-ranges.js';
import { categorizeEndpoints, type TopologyMode, type TopologyNode } from './topology.js';
import { parseEndpointSlice, parseService } from './validate.js';

export type FrontendKind = 'clusterIP' | 'nodePort' | 'externalIP' | 'loadBalancer';

/** One address:port/protocol the dataplane must capture for a ServicePort. */
export interface Frontend {
  readonly kind: FrontendKind;
  /** For nodePort: one entry per node address nodePortAddresses selects. */
  readonly address: string;
  readonly port: number;
  readonly protocol: Protocol;
  readonly family: IPFamily;
  /**
   * loadBalancer only, and only when the Service restricts sources for this family: the sources
   * admitted, disjoint (see admittedSources): its loadBalancerSourceRanges, then its load-balancer
   * IPs when a range holds this node's IP.
   */
  readonly sourceRanges?: readonly string[];
}

export interface BackendSet {
  readonly backends: readonly Backend[];
  /**
   * Consulted only when `backends` is empty: true → DROP (a Local policy with endpoints elsewhere
   * in the cluster; the client should retry another node), false → REJECT (see rejectWhenNoEndpoints).
   */
  readonly dropWhenEmpty: boolean;
}

export interface Masquerade {
  /**
   * ClusterIP traffic: 'all' with --masquerade-all; 'offCluster' masquerades sources outside
   * clusterCIDRs (someone routed the service range to this node, and the reply must come back
   * through it); 'none' when no clusterCIDR of this family is known (kube-proxy's local detector
   * is then "not implemented").
   */
  readonly clusterIP: 'all' | 'offCluster' | 'none';
  /**
   * External frontends: 'all' for eTP Cluster (the backend may be on another node, so SNAT keeps the
   * reply path symmetric); 'nodeOrigin' for eTP Local (client IPs are preserved; only connections
   * from this node itself are masqueraded, since their source would be the frontend address).
   */
  readonly external: 'all' | 'nodeOrigin';
  /** This family's clusterCIDRs: the "from a pod" test for masquerading and short-circuiting. */
  readonly clusterCIDRs: readonly string[];
  /** When set, the "from a pod" test instead of clusterCIDRs: the packet came in on this interface. */
  readonly podInterface: PodInterface | null;
  /** Always true: a backend reaching itself through the service must be SNATed (hairpin). */
  readonly hairpin: boolean;
}

export interface DesiredService extends ServicePort {
  readonly frontends: readonly Frontend[];
  /** ClusterIP frontends, from any source: the cluster set, or the local set for iTP Local. */
  readonly internalBackends: BackendSet;
  /**
   * External frontends, for traffic from pods (clusterCIDRs) or from this node: always the cluster
   * set, whatever eTP says, as KUBE-EXT does ("pod traffic for external destinations" and "route
   * LOCAL traffic"), simulating a trip out to the load balancer and back. Empty when not externally accessible.
   */
  readonly shortCircuitBackends: BackendSet;
  /** External frontends, other sources: the cluster set, or the local set for eTP Local. */
  readonly externalBackends: BackendSet;
  /** No usable endpoint anywhere in the cluster: REJECT on every frontend. */
  readonly rejectWhenNoEndpoints: boolean;
  readonly masquerade: Masquerade;
  /** Ready endpoints on this node: what the healthCheckNodePort server reports. */
  readonly localReadyEndpoints: number;
  /**
   * UDP ports only ([] otherwise): every serving endpoint (ready, or serving while terminating),
   * whatever topology and traffic policy chose. A UDP flow to one is live and its conntrack entry
   * stays, as kube-proxy's cleanup judges them (a draining DNS pod keeps its clients).
   */
  readonly servingEndpoints: readonly Backend[];
  /** Topology mode used to pick the cluster set ('' = all endpoints). */
  readonly topologyMode: TopologyMode;
}

export interface DesiredState {
  /** Keyed by ServicePort.key (see servicePortKey); entries in key order. */
  readonly services: ReadonlyMap<string, DesiredService>;
  /**
   * The ranges ClusterIPs are allocated from (ServiceCIDR objects), by family, canonical and
   * sorted; an address in one that no Service holds is dropped (nftables, ebpf). Absent or
   * empty: nothing is known, and nothing is dropped.
   */
  readonly serviceCIDRs?: Readonly<Record<IPFamily, readonly string[]>>;
}

export interface Skipped {
  readonly object: string;
  readonly reason: string;
}

export interface BuildInput {
  readonly services: readonly unknown[];
  readonly endpointSlices: readonly unknown[];
  readonly node: NodeContext;
}

export interface BuildResult {
  readonly state: DesiredState;
  readonly problems: readonly Problem[];
  readonly skipped: readonly Skipped[];
}

const NO_BACKENDS: readonly Backend[] = Object.freeze([]);
const EMPTY_SET: BackendSet = Object.freeze({ backends: NO_BACKENDS, dropWhenEmpty: false });

export function buildDesiredState(input: BuildInput): BuildResult {
  const problems: Problem[] = [];
  const skipped: Skipped[] = [];
  const ctx = input.node;
  const node = resolveNode(ctx);
  problems.push(...node.problems);
  const nodeName = typeof ctx.nodeName === 'string' ? ctx.nodeName : '';

  const ports: ServicePort[] = [];
  const seenServices = new Set<string>();
  for (const raw of listOf(input.services, 'services', problems)) {
    const r = parseService(raw, ctx.nodePortRange ? { nodePortRange: ctx.nodePortRange } : {});
    problems.push(...r.problems);
    if (!r.ok) continue;
    const id = `Service ${r.value.metadata.namespace}/${r.value.metadata.name}`;
    if (seenServices.has(id)) {
      problems.push({ object: id, field: 'metadata.name', message: 'listed twice; keeping the first' });
      continue;
    }
    seenServices.add(id);
    const sp = servicePorts(r.value);
    if (!sp.ok) skipped.push({ object: id, reason: sp.reason });
    else ports.push(...sp.ports);
  }

  const slices: EndpointSlice[] = [];
  const seenSlices = new Set<string>();
  for (const raw of listOf(input.endpointSlices, 'endpointSlices', problems)) {
    const r = parseEndpointSlice(raw);
    problems.push(...r.problems);
    if (!r.ok) continue;
    const id = `EndpointSlice ${r.value.metadata.namespace}/${r.value.metadata.name}`;
    if (seenSlices.has(id)) {
      problems.push({ object: id, field: 'metadata.name', message: 'listed twice; keeping the first' });
      continue;
    }
    seenSlices.add(id);
    const reason = endpointSliceSkipReason(r.value);
    if (reason !== undefined) skipped.push({ object: id, reason });
    else slices.push(r.value);
  }
  const endpointsMap = buildEndpointsMap(slices, nodeName);

  const topo: TopologyNode = {
    nodeName,
    ...(ctx.zone !== undefined ? { zone: ctx.zone } : {}),
    ...(ctx.preferSameNode !== undefined ? { preferSameNode: ctx.preferSameNode } : {}),
  };
  const built = ports.map((sp) => {
    const eps = endpointsMap.get(endpointsKey(sp.name.namespace, sp.name.name, sp.name.port, sp.protocol, sp.family)) ?? [];
    return desiredService(sp, eps, ctx, node, topo, problems);
  });
  built.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const services = new Map<string, DesiredService>();
  for (const d of built) services.set(d.key, deepFreeze(d));
  return { state: Object.freeze({ services }), problems, skipped };
}

function listOf(v: unknown, field: string, problems: Problem[]): readonly unknown[] {
  if (Array.isArray(v)) return v;
  problems.push({ object: 'BuildInput', field, message: `must be a list, got ${describe(v)}` });
  return [];
}

/** The Backend view of an endpoint, frozen as it is made so that deepFreeze need not walk it. */
function toBackend(e: Endpoint): Backend {
  // A literal per combination of the optional fields: each object is allocated at its final
  // size, where adding a property later would give every backend a second, out-of-object store.
  const { ip, port, ready, serving, terminating, isLocal, nodeName, zone } = e;
  if (nodeName !== undefined) {
    return Object.freeze(zone !== undefined
      ? { ip, port, ready, serving, terminating, isLocal, nodeName, zone }
      : { ip, port, ready, serving, terminating, isLocal, nodeName });
  }
  return Object.freeze(zone !== undefined
    ? { ip, port, ready, serving, terminating, isLocal, zone }
    : { ip, port, ready, serving, terminating, isLocal });
}

/** Backends for a list of endpoints, reusing the ones already made for this port's other set. */
function toBackends(eps: readonly Endpoint[], made: Map<Endpoint, Backend> | null): readonly Backend[] {
  const out: Backend[] = new Array<Backend>(eps.length);
  for (let i = 0; i < eps.length; i++) {
    const ep = eps[i]!;
    let b = made?.get(ep);
    if (b === undefined) {
      b = toBackend(ep);
      made?.set(ep, b);
    }
    out[i] = b;
  }
  return Object.freeze(out);
}

function desiredService(
  sp: ServicePort,
  eps: readonly Endpoint[],
  ctx: NodeContext,
  node: ResolvedNode,
  topo: TopologyNode,
  problems: Problem[],
): DesiredService {
  const cat = categorizeEndpoints(eps, sp, topo);
  // The local set is mostly a subset of the cluster set: share their Backend objects.
  const udp = sp.protocol === 'UDP';
  const made = (cat.clusterEndpoints !== null && cat.localEndpoints !== null) || udp ? new Map<Endpoint, Backend>() : null;
  const cluster = toBackends(cat.clusterEndpoints ?? [], made);
  const local = toBackends(cat.localEndpoints ?? [], made);
  const hasAny = cat.hasAnyEndpoints;
  const internal = sp.internalPolicyLocal ? local : cluster;
  const external = sp.externalPolicyLocal ? local : cluster;
  const clusterCIDRs = node.clusterCIDRs[sp.family];
  let localReady = 0;
  for (const e of eps) if (e.isLocal && e.ready) localReady++;
  // Every field spelled out in one order (optional ones last) rather than spread from sp: objects
  // built by spreading each got a hidden class of their own, 10,000 of them in a large cluster.
  const d: { -readonly [K in keyof DesiredService]: DesiredService[K] } = {
    name: sp.name,
    key: sp.key,
    family: sp.family,
    clusterIP: sp.clusterIP,
    port: sp.port,
    protocol: sp.protocol,
    targetPort: sp.targetPort,
    externalIPs: sp.externalIPs,
    loadBalancerIngress: sp.loadBalancerIngress,
    loadBalancerVIPs: sp.loadBalancerVIPs,
    loadBalancerSourceRanges: sp.loadBalancerSourceRanges,
    affinity: sp.affinity,
    internalPolicyLocal: sp.internalPolicyLocal,
    externalPolicyLocal: sp.externalPolicyLocal,
    externallyAccessible: sp.externallyAccessible,
    frontends: frontends(sp, node, problems),
    internalBackends: { backends: internal, dropWhenEmpty: hasAny && internal.length === 0 },
    shortCircuitBackends: sp.externallyAccessible ? { backends: cluster, dropWhenEmpty: false } : EMPTY_SET,
    externalBackends: sp.externallyAccessible
      ? { backends: external, dropWhenEmpty: hasAny && external.length === 0 }
      : EMPTY_SET,
    rejectWhenNoEndpoints: !hasAny,
    masquerade: {
      clusterIP: ctx.masqueradeAll === true ? 'all' : clusterCIDRs.length > 0 || node.podInterface ? 'offCluster' : 'none',
      external: sp.externalPolicyLocal ? 'nodeOrigin' : 'all',
      clusterCIDRs,
      podInterface: node.podInterface,
      hairpin: true,
    },
    localReadyEndpoints: localReady,
    servingEndpoints: udp ? toBackends(eps.filter((e) => e.serving), made) : NO_BACKENDS,
    topologyMode: cat.topologyMode,
  };
  if (sp.nodePort !== undefined) d.nodePort = sp.nodePort;
  if (sp.healthCheckNodePort !== undefined) d.healthCheckNodePort = sp.healthCheckNodePort;
  if (sp.trafficDistribution !== undefined) d.trafficDistribution = sp.trafficDistribution;
  return d;
}

function frontends(sp: ServicePort, node: ResolvedNode, problems: Problem[]): Frontend[] {
  const base = { port: sp.port, protocol: sp.protocol, family: sp.family };
  const out: Frontend[] = [{ kind: 'clusterIP', address: sp.clusterIP, ...base }];
  if (sp.nodePort !== undefined) {
    const addrs = [...node.nodePortAddresses[sp.family]].sort(compareIPs);
    for (const address of addrs) {
      out.push({ kind: 'nodePort', address, port: sp.nodePort, protocol: sp.protocol, family: sp.family });
    }
  }
  const ranges = sp.loadBalancerSourceRanges.length > 0
    ? admittedSources(sp.loadBalancerSourceRanges, sp.loadBalancerVIPs, node.primary[sp.family])
    : [];
  for (const address of sp.loadBalancerVIPs) {
    out.push({ kind: 'loadBalancer', address, ...base, ...(ranges.length > 0 ? { sourceRanges: ranges } : {}) });
  }
  for (const address of sp.externalIPs) {
    // The same address as a load-balancer VIP would give the dataplane two answers for one
    // address:port; keep the loadBalancer one, whose source ranges are the stricter rule.
    if (sp.loadBalancerVIPs.includes(address)) {
      const problem: Problem = {
        object: `Service ${sp.name.namespace}/${sp.name.name}`,
        field: 'spec.externalIPs',
        message: `${address} is also a load-balancer IP; programmed once, as the load balancer`,
      };
      // Reported once per Service, not once per port.
      if (!problems.some((q) => q.object === problem.object && q.message === problem.message)) problems.push(problem);
      continue;
    }
    out.push({ kind: 'externalIP', address, ...base });
  }
  return out;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    // for-in, and no call for primitives: this walks every backend of every sync.
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (typeof x === 'object' && x !== null) deepFreeze(x);
    }
  }
  return v;
}
