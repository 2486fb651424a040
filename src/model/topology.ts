// Port of kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go): which endpoints serve Cluster-
// and Local-policy traffic on this node, with topology hints and the terminating fallback.

import type { Endpoint } from './endpoints.js';
import { compareBackends } from './endpoints.js';

/** The ServicePort fields that decide which endpoint sets are needed (ServicePort satisfies it). */
export interface TrafficPolicyInfo {
  readonly internalPolicyLocal: boolean;
  readonly externalPolicyLocal: boolean;
  readonly externallyAccessible: boolean;
}

export interface TopologyNode {
  readonly nodeName: string;
  /** This node's topology.kubernetes.io/zone label. */
  readonly zone?: string;
  /**
   * Honour forNodes hints (trafficDistribution PreferSameNode; kube-proxy's
   * PreferSameTrafficDistribution gate, on by default since 1.34, locked on in 1.35). Default true.
   */
  readonly preferSameNode?: boolean;
}

export type TopologyMode = '' | 'PreferSameZone' | 'PreferSameNode';

export interface CategorizedEndpoints {
  /** Endpoints for Cluster policy; null when the port never uses Cluster policy. */
  readonly clusterEndpoints: readonly Endpoint[] | null;
  /** Endpoints for Local policy; null when the port never uses Local policy. */
  readonly localEndpoints: readonly Endpoint[] | null;
  /** Union of the two: everything this node may send to. */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Some usable endpoint exists anywhere in the cluster (even if none is reachable from here). */
  readonly hasAnyEndpoints: boolean;
  /** The topology mode used for clusterEndpoints (kept for logs and tests). */
  readonly topologyMode: TopologyMode;
}

/** Cluster policy is needed for iTP Cluster, and for any external frontend: even with eTP Local,
 *  traffic from pods and the node short-circuits to the cluster set. */
export function usesClusterEndpoints(svc: TrafficPolicyInfo): boolean {
  return !svc.internalPolicyLocal || svc.externallyAccessible;
}

export function usesLocalEndpoints(svc: TrafficPolicyInfo): boolean {
  return svc.internalPolicyLocal || (svc.externalPolicyLocal && svc.externallyAccessible);
}

const isServingTerminating = (ep: Endpoint): boolean => ep.serving && ep.terminating;

/**
 * topologyModeFromHints: hints are honoured only if *every* ready endpoint carries one (a partially
 * hinted slice set is mid-update) and at least one is for this node/zone (else this node would have
 * nowhere to send traffic).
 */
export function topologyModeFromHints(endpoints: readonly Endpoint[], node: TopologyNode): TopologyMode {
  let hasReady = false;
  let allNodeHints = true;
  let hasForNode = false;
  let allZoneHints = true;
  let hasForZone = false;
  const zone = node.zone ?? '';
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    hasReady = true;
    if (ep.nodeHints.length === 0) allNodeHints = false;
    else if (ep.nodeHints.includes(node.nodeName)) hasForNode = true;
    if (ep.zoneHints.length === 0) allZoneHints = false;
    else if (ep.zoneHints.includes(zone)) hasForZone = true;
  }
  if (!hasReady) return '';
  if ((node.preferSameNode ?? true) && allNodeHints && hasForNode && node.nodeName !== '') return 'PreferSameNode';
  if (allZoneHints && hasForZone && zone !== '') return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: Endpoint, mode: TopologyMode, node: TopologyNode): boolean {
  switch (mode) {
    case '':
      return true;
    case 'PreferSameNode':
      return ep.nodeHints.includes(node.nodeName);
    case 'PreferSameZone':
      return ep.zoneHints.includes(node.zone ?? '');
  }
}

export function categorizeEndpoints(
  endpoints: readonly Endpoint[],
  svc: TrafficPolicyInfo,
  node: TopologyNode,
): CategorizedEndpoints {
  let clusterEndpoints: readonly Endpoint[] | null = null;
  let localEndpoints: readonly Endpoint[] | null = null;
  let hasAnyEndpoints = false;
  let topologyMode: TopologyMode = '';
  const useCluster = usesClusterEndpoints(svc);
  const useLocal = usesLocalEndpoints(svc);
  if (endpoints.length === 0) {
    return {
      clusterEndpoints: useCluster ? [] : null,
      localEndpoints: useLocal ? [] : null,
      allReachableEndpoints: [],
      hasAnyEndpoints: false,
      topologyMode,
    };
  }

  if (useCluster) {
    topologyMode = topologyModeFromHints(endpoints, node);
    let eps = endpoints.filter((ep) => ep.ready && availableForTopology(ep, topologyMode, node));
    // No ready endpoint anywhere (a chosen topology always has one), so fall back to endpoints that
    // are terminating but still serving, ignoring topology: better than dropping the connection.
    if (eps.length === 0) eps = endpoints.filter(isServingTerminating);
    clusterEndpoints = eps;
    hasAnyEndpoints = eps.length > 0;
  }

  if (!useLocal) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints ?? [], hasAnyEndpoints, topologyMode };
  }

  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (isServingTerminating(ep)) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalServingTerminating = true;
    }
  }
  // The Local fallback is decided independently of the Cluster one: a node whose own endpoints are
  // all terminating keeps using them even while other nodes have ready ones.
  let usedTerminating = false;
  if (hasLocalReady) localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (hasLocalServingTerminating) {
    usedTerminating = true;
    localEndpoints = endpoints.filter((ep) => ep.isLocal && isServingTerminating(ep));
  } else localEndpoints = [];

  if (!useCluster || clusterEndpoints === null) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: localEndpoints, hasAnyEndpoints, topologyMode };
  }
  if (topologyMode === '' && !usedTerminating) {
    // clusterEndpoints holds every ready endpoint, so it is a superset of the ready local ones.
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints, topologyMode };
  }
  const merged = new Map<string, Endpoint>();
  for (const ep of [...clusterEndpoints, ...localEndpoints]) merged.set(`${ep.ip}|${ep.port}`, ep);
  return {
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: [...merged.values()].sort(compareBackends),
    hasAnyEndpoints,
    topologyMode,
  };
}
