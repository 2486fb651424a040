// Validated EndpointSlices → endpoints per Service port and family, as kube-proxy's
// EndpointSliceCache builds its EndpointsMap (pkg/proxy/endpointslicecache.go).

import { compareIPs, type IPFamily } from './ip.js';
import {
  LABEL_HEADLESS,
  LABEL_SERVICE_NAME,
  LABEL_SERVICE_PROXY_NAME,
  type EndpointSlice,
  type Protocol,
  type SliceEndpoint,
} from './k8s.js';

/** What a dataplane needs to know about one backend. */
export interface Backend {
  readonly ip: string;
  /** The target port as this endpoint's slice resolved it (named targetPorts differ per pod). */
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** nodeName equals this node's name. */
  readonly isLocal: boolean;
  readonly nodeName?: string;
  readonly zone?: string;
}

/** A backend plus the topology hints only topology.ts reads. */
export interface Endpoint extends Backend {
  readonly zoneHints: readonly string[];
  readonly nodeHints: readonly string[];
}

/** Keyed by endpointsKey(); lists sorted by IP then port. */
export type EndpointsMap = ReadonlyMap<string, readonly Endpoint[]>;

/**
 * Joins a Service port with the slice ports carrying its endpoints: same namespace, the slice's
 * kubernetes.io/service-name label, same port name and protocol, same family.
 */
export function endpointsKey(namespace: string, service: string, portName: string, protocol: Protocol, family: IPFamily): string {
  return `${namespace}/${service}:${portName}/${protocol}@IPv${family}`;
}

/** Why kube-proxy ignores a slice, or undefined. */
export function endpointSliceSkipReason(slice: EndpointSlice): string | undefined {
  const labels = slice.metadata.labels;
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(labels, k);
  // The same label selector kube-proxy's EndpointSlice informer uses.
  if (has(LABEL_SERVICE_PROXY_NAME)) {
    return `labelled ${LABEL_SERVICE_PROXY_NAME}=${JSON.stringify(labels[LABEL_SERVICE_PROXY_NAME])}: handled by another proxy`;
  }
  if (has(LABEL_HEADLESS)) return `labelled ${LABEL_HEADLESS}`;
  if (slice.addressType === 'FQDN') return 'addressType FQDN is not proxied';
  const svc = labels[LABEL_SERVICE_NAME];
  if (!has(LABEL_SERVICE_NAME) || svc === undefined || svc === '') return `no ${LABEL_SERVICE_NAME} label`;
  return undefined;
}

/** Higher is better when the same ip:port appears in several slices. */
function rank(e: Endpoint): number {
  if (e.ready) return 2;
  if (e.serving && e.terminating) return 1;
  return 0;
}

export function compareBackends(a: Backend, b: Backend): number {
  return compareIPs(a.ip, b.ip) || a.port - b.port;
}

const NO_NAMES: readonly string[] = Object.freeze([]);

function hintNames(hints: readonly { readonly name: string }[]): readonly string[] {
  return hints.length === 0 ? NO_NAMES : hints.map((h) => h.name);
}

function endpointOf(ep: SliceEndpoint, ip: string, port: number, thisNode: string): Endpoint {
  const { ready, serving, terminating } = ep.conditions;
  const { nodeName, zone } = ep;
  const isLocal = nodeName !== undefined && thisNode !== '' && nodeName === thisNode;
  const zoneHints = hintNames(ep.hints.forZones);
  const nodeHints = hintNames(ep.hints.forNodes);
  // A literal per combination of the optional fields, so each object is allocated at its final size.
  if (nodeName !== undefined) {
    return zone !== undefined
      ? { ip, port, ready, serving, terminating, isLocal, nodeName, zone, zoneHints, nodeHints }
      : { ip, port, ready, serving, terminating, isLocal, nodeName, zoneHints, nodeHints };
  }
  return zone !== undefined
    ? { ip, port, ready, serving, terminating, isLocal, zone, zoneHints, nodeHints }
    : { ip, port, ready, serving, terminating, isLocal, zoneHints, nodeHints };
}

export function buildEndpointsMap(slices: readonly EndpointSlice[], nodeName: string): EndpointsMap {
  // Slice order is arbitrary (watch order); sort so duplicate resolution is deterministic.
  const sorted = slices.length < 2 ? slices : [...slices].sort((a, b) =>
    a.metadata.namespace < b.metadata.namespace ? -1
    : a.metadata.namespace > b.metadata.namespace ? 1
    : a.metadata.name < b.metadata.name ? -1
    : a.metadata.name > b.metadata.name ? 1
    : 0,
  );
  // Endpoints are collected per group in slice order, then sorted (stably) and deduplicated in
  // one pass: no per-endpoint id string or map entry, which a full sync would make 100,000 of.
  const groups = new Map<string, Endpoint[]>();
  for (const slice of sorted) {
    if (endpointSliceSkipReason(slice) !== undefined) continue;
    const service = slice.metadata.labels[LABEL_SERVICE_NAME] ?? '';
    const family: IPFamily = slice.addressType === 'IPv4' ? 4 : 6;
    for (const port of slice.ports) {
      const key = endpointsKey(slice.metadata.namespace, service, port.name, port.protocol, family);
      let group = groups.get(key);
      if (!group) {
        group = [];
        groups.set(key, group);
      }
      for (const ep of slice.endpoints) {
        const ip = ep.addresses[0];
        if (ip === undefined) continue;
        group.push(endpointOf(ep, ip, port.port, nodeName));
      }
    }
  }
  const out = new Map<string, readonly Endpoint[]>();
  for (const [key, group] of groups) out.set(key, dedupSorted(isSorted(group) ? group : group.sort(compareBackends)));
  return out;
}

/** Slices usually list endpoints in order already; sorting allocates even then. */
function isSorted(eps: readonly Endpoint[]): boolean {
  for (let i = 1; i < eps.length; i++) if (compareBackends(eps[i - 1]!, eps[i]!) > 0) return false;
  return true;
}

/**
 * An endpoint can sit in two slices while the controller moves it. Of each run of one ip:port
 * (in slice order, as the sort is stable) keep the most usable copy (ready, then
 * serving+terminating), then the local one as kube-proxy does, then the first.
 */
function dedupSorted(eps: Endpoint[]): Endpoint[] {
  let w = 0;
  for (let r = 0; r < eps.length; r++) {
    const e = eps[r]!;
    const kept = w > 0 ? eps[w - 1]! : undefined;
    if (kept === undefined || kept.ip !== e.ip || kept.port !== e.port) {
      eps[w++] = e;
    } else if (rank(e) > rank(kept) || (rank(e) === rank(kept) && e.isLocal && !kept.isLocal)) {
      eps[w - 1] = e;
    }
  }
  eps.length = w;
  return eps;
}
