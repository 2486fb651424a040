// Validated Service → the per-family, per-port view kube-proxy works with (pkg/proxy/serviceport.go
// newBaseServiceInfo), plus the rules for which Services kube-proxy does not proxy at all.

import { ipv4Number, parseCIDR, parseIP, type IPFamily } from './ip.js';
import {
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  LABEL_HEADLESS,
  LABEL_SERVICE_PROXY_NAME,
  type LoadBalancerIngress,
  type Protocol,
  type Service,
} from './k8s.js';

/** Identity of one Service port, as kube-proxy's proxy.ServicePortName. */
export interface ServicePortName {
  readonly namespace: string;
  readonly name: string;
  /** The port's name, '' when unnamed. */
  readonly port: string;
  readonly protocol: Protocol;
}

/**
 * kube-proxy's ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port. Protocol is
 * not part of it: port names are unique within a Service (validate.ts enforces it).
 */
export function servicePortNameString(n: ServicePortName): string {
  return n.port === '' ? `${n.namespace}/${n.name}` : `${n.namespace}/${n.name}:${n.port}`;
}

/**
 * Key of one ServicePort in the desired state. IPv4 uses kube-proxy's string unchanged; IPv6 appends
 * "@IPv6". kube-proxy never needs a suffix because it runs one proxier per family; we keep one map,
 * and suffixing only the IPv6 entry means a Service's IPv4 key does not change when it becomes (or
 * stops being) dual-stack, and IPv4-only clusters see exactly kube-proxy's names in logs and metrics.
 */
export function servicePortKey(n: ServicePortName, family: IPFamily): string {
  const s = servicePortNameString(n);
  return family === 4 ? s : `${s}@IPv6`;
}

export type Affinity =
  | { readonly type: 'None' }
  | { readonly type: 'ClientIP'; readonly timeoutSeconds: number };

/** One port of one Service in one IP family. */
export interface ServicePort {
  readonly name: ServicePortName;
  readonly key: string;
  readonly family: IPFamily;
  /** The Service's cluster IP of this family. */
  readonly clusterIP: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Informational: backends carry the number each EndpointSlice resolved it to. */
  readonly targetPort: number | string;
  readonly nodePort?: number;
  /** External IPs of this family. */
  readonly externalIPs: readonly string[];
  /** Every load-balancer ingress IP of this family, whatever its ipMode. */
  readonly loadBalancerIngress: readonly LoadBalancerIngress[];
  /** The ingress IPs with ipMode VIP: the only ones to program (Proxy-mode LBs deliver to the node). */
  readonly loadBalancerVIPs: readonly string[];
  /** Source ranges of this family; empty means unrestricted (kube-proxy MapCIDRsByIPFamily). */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly affinity: Affinity;
  readonly internalPolicyLocal: boolean;
  /** eTP Local on an externally reachable Service type (apiservice.ExternalPolicyLocal). */
  readonly externalPolicyLocal: boolean;
  /** Reachable by something other than the cluster IP (NodePort, VIP ingress, external IP). */
  readonly externallyAccessible: boolean;
  readonly healthCheckNodePort?: number;
  /** Informational: kube-proxy acts on the hints the EndpointSlice controller derives from it. */
  readonly trafficDistribution?: string;
}

export type ServicePortsResult =
  | { readonly ok: true; readonly ports: readonly ServicePort[] }
  | { readonly ok: false; readonly reason: string };

/**
 * Why kube-proxy would not proxy this Service, or undefined: first the label selector kube-proxy's
 * informers use (cmd/kube-proxy server.go), then ShouldSkipService (pkg/proxy/util). ExternalName is
 * checked before the cluster IP (kube-proxy does the reverse) only so the reason given is the telling one.
 */
export function serviceSkipReason(svc: Service): string | undefined {
  const labels = svc.metadata.labels;
  if (Object.prototype.hasOwnProperty.call(labels, LABEL_SERVICE_PROXY_NAME)) {
    return `labelled ${LABEL_SERVICE_PROXY_NAME}=${JSON.stringify(labels[LABEL_SERVICE_PROXY_NAME])}: handled by another proxy`;
  }
  if (Object.prototype.hasOwnProperty.call(labels, LABEL_HEADLESS)) return `labelled ${LABEL_HEADLESS}`;
  if (svc.spec.type === 'ExternalName') return 'type ExternalName is resolved by DNS, not proxied';
  if (svc.spec.clusterIP === 'None') return 'headless (clusterIP None)';
  if (svc.spec.clusterIPs.length === 0) return 'no cluster IP';
  return undefined;
}

function familyOf(ip: string): IPFamily | undefined {
  if (ipv4Number(ip) >= 0) return 4;
  const r = parseIP(ip);
  return r.ok ? r.ip.family : undefined;
}

const NONE: readonly never[] = Object.freeze([]);
const NO_AFFINITY: Affinity = Object.freeze({ type: 'None' });

/** The items of one family; the shared empty list when there are none (most Services). */
function ofFamily<T>(list: readonly T[], family: IPFamily, familyOfItem: (item: T) => IPFamily | undefined): readonly T[] {
  if (list.length === 0) return NONE;
  const out = list.filter((x) => familyOfItem(x) === family);
  return out.length === 0 ? NONE : out;
}

/** One ServicePort per (cluster IP family × spec port), in clusterIPs order then port order. */
export function servicePorts(svc: Service): ServicePortsResult {
  const reason = serviceSkipReason(svc);
  if (reason !== undefined) return { ok: false, reason };
  const spec = svc.spec;
  // apiservice.ExternallyAccessible: the Service *type* accepts external traffic at all.
  const typeExternal =
    spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && spec.externalIPs.length > 0);
  const externalPolicyLocal = typeExternal && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const affinity: Affinity =
    spec.sessionAffinity === 'ClientIP'
      ? { type: 'ClientIP', timeoutSeconds: spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS }
      : NO_AFFINITY;

  const out: ServicePort[] = [];
  for (const clusterIP of spec.clusterIPs) {
    const family = familyOf(clusterIP);
    if (family === undefined) continue;
    // Everything else is filtered to the cluster IP's family, as each kube-proxy proxier does.
    const externalIPs = ofFamily(spec.externalIPs, family, familyOf);
    const loadBalancerIngress = ofFamily(svc.status.loadBalancer.ingress, family, (i) => familyOf(i.ip));
    const vips = loadBalancerIngress.filter((i) => i.ipMode === 'VIP').map((i) => i.ip);
    const loadBalancerVIPs = vips.length === 0 ? NONE : vips;
    const loadBalancerSourceRanges = ofFamily(spec.loadBalancerSourceRanges, family, (c) => {
      const r = parseCIDR(c);
      return r.ok ? r.cidr.family : undefined;
    });
    for (const p of spec.ports) {
      const name: ServicePortName = {
        namespace: svc.metadata.namespace,
        name: svc.metadata.name,
        port: p.name,
        protocol: p.protocol,
      };
      // One property order (optional ones last) so that every ServicePort shares a shape.
      const sp: { -readonly [K in keyof ServicePort]: ServicePort[K] } = {
        name,
        key: servicePortKey(name, family),
        family,
        clusterIP,
        port: p.port,
        protocol: p.protocol,
        targetPort: p.targetPort,
        externalIPs,
        loadBalancerIngress,
        loadBalancerVIPs,
        loadBalancerSourceRanges,
        affinity,
        internalPolicyLocal,
        externalPolicyLocal,
        externallyAccessible: p.nodePort !== undefined || loadBalancerVIPs.length > 0 || externalIPs.length > 0,
      };
      if (p.nodePort !== undefined) sp.nodePort = p.nodePort;
      if (spec.healthCheckNodePort !== undefined) sp.healthCheckNodePort = spec.healthCheckNodePort;
      if (spec.trafficDistribution !== undefined) sp.trafficDistribution = spec.trafficDistribution;
      out.push(sp);
    }
  }
  return { ok: true, ports: out };
}
