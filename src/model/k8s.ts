// The subset of the Kubernetes v1 Service, discovery.k8s.io/v1 EndpointSlice and v1 Node that the
// model reads. These are the *validated* shapes produced by validate.ts: field names and nesting
// follow the API so code can be compared line by line with kube-proxy, but every value has been
// checked, canonicalised (IP text) and defaulted the way the API server would default it.
// Our own types on purpose: the model must not depend on @kubernetes/client-node.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';
export type SessionAffinityType = 'None' | 'ClientIP';
export type LoadBalancerIPMode = 'VIP' | 'Proxy';
export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

/** kube-proxy's informers exclude Services/EndpointSlices carrying this label (any value). */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
/** Set by the EndpointSlice controller on slices of headless Services; kube-proxy's informers exclude it. */
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** Links an EndpointSlice to its Service. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';

/** API default for sessionAffinityConfig.clientIP.timeoutSeconds (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
/** API maximum for sessionAffinityConfig.clientIP.timeoutSeconds (1 day). */
export const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

export type Labels = Readonly<Record<string, string>>;

export interface ObjectMeta {
  readonly name: string;
  /** '' for cluster-scoped objects (Node). */
  readonly namespace: string;
  readonly labels: Labels;
}

export interface ServicePortSpec {
  /** '' when unnamed (only allowed for single-port Services). */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** Defaults to `port`. A string is a named container port, resolved per endpoint by the EndpointSlice. */
  readonly targetPort: number | string;
  /** Absent (rather than 0) when not allocated. */
  readonly nodePort?: number;
}

export interface ClientIPConfig {
  readonly timeoutSeconds: number;
}

export interface ServiceSpec {
  readonly type: ServiceType;
  /** '' (unset), 'None' (headless) or a canonical IP equal to clusterIPs[0]. */
  readonly clusterIP: string;
  /** Canonical IPs, at most one per family; never contains 'None'. */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly ServicePortSpec[];
  readonly externalIPs: readonly string[];
  /** Canonical CIDRs (host bits cleared, whitespace trimmed). */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinity: SessionAffinityType;
  /** Present iff sessionAffinity is ClientIP; timeout defaulted to 10800. */
  readonly sessionAffinityConfig?: { readonly clientIP: ClientIPConfig };
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly healthCheckNodePort?: number;
  readonly trafficDistribution?: string;
}

export interface LoadBalancerIngress {
  readonly ip: string;
  readonly ipMode: LoadBalancerIPMode;
}

export interface Service {
  readonly metadata: ObjectMeta;
  readonly spec: ServiceSpec;
  readonly status: { readonly loadBalancer: { readonly ingress: readonly LoadBalancerIngress[] } };
}

export interface EndpointConditions {
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

export interface EndpointHints {
  readonly forZones: readonly { readonly name: string }[];
  readonly forNodes: readonly { readonly name: string }[];
}

/** discovery.k8s.io/v1 Endpoint (named apart from the model's own Endpoint). */
export interface SliceEndpoint {
  /** Canonical; only addresses[0] is kept, as kube-proxy only ever uses the first one. */
  readonly addresses: readonly string[];
  readonly conditions: EndpointConditions;
  readonly nodeName?: string;
  readonly zone?: string;
  readonly hints: EndpointHints;
}

export interface EndpointPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

export interface EndpointSlice {
  readonly metadata: ObjectMeta;
  readonly addressType: AddressType;
  readonly endpoints: readonly SliceEndpoint[];
  readonly ports: readonly EndpointPort[];
}

export interface NodeAddress {
  readonly type: string;
  readonly address: string;
}

export interface Node {
  readonly metadata: ObjectMeta;
  readonly spec: { readonly podCIDRs: readonly string[] };
  readonly status: { readonly addresses: readonly NodeAddress[] };
}
