// The collections kube-proxy watches, with the selectors it puts on them so that the
// API server, not we, filters out objects that belong to another proxy.

import type { ObjectKind } from '../types.js';
import type { ResourceDescriptor } from './types.js';

/** Services managed by another proxy carry this label (any value); kube-proxy never sees them. */
const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
/** EndpointSlices of headless Services carry this label; nothing to proxy there. */
const LABEL_HEADLESS = 'service.kubernetes.io/headless';

/**
 * kube-proxy builds one selector for its shared informer factory and so puts both
 * requirements on Services and EndpointSlices alike (cmd/kube-proxy/app/server.go); the
 * EndpointSlice controller copies a Service's labels onto its slices, so a Service handed
 * to another proxy loses its slices here too. Requirements sorted by key, as
 * labels.Selector.String() prints them.
 */
export const PROXY_LABEL_SELECTOR = `!${LABEL_HEADLESS},!${LABEL_SERVICE_PROXY_NAME}`;

export function resourcesFor(nodeName: string): Record<ObjectKind, ResourceDescriptor> {
  if (!nodeName) throw new Error('nodeName is required to watch this node');
  return {
    Service: {
      kind: 'Service',
      apiVersion: 'v1',
      path: '/api/v1/services',
      labelSelector: PROXY_LABEL_SELECTOR,
    },
    EndpointSlice: {
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      labelSelector: PROXY_LABEL_SELECTOR,
    },
    Node: {
      kind: 'Node',
      apiVersion: 'v1',
      path: '/api/v1/nodes',
      fieldSelector: `metadata.name=${nodeName}`,
    },
    // The ranges ClusterIPs are allocated from (v1 since Kubernetes 1.33, which creates one
    // named "kubernetes" from --service-cluster-ip-range). Older API servers do not serve it.
    ServiceCIDR: {
      kind: 'ServiceCIDR',
      apiVersion: 'networking.k8s.io/v1',
      path: '/apis/networking.k8s.io/v1/servicecidrs',
      optional: true,
    },
  };
}

/** namespace/name, or name for cluster-scoped objects; null when the object has no name. */
export function objectKey(obj: unknown): string | null {
  const meta = metadataOf(obj);
  if (!meta || typeof meta.name !== 'string' || meta.name === '') return null;
  return typeof meta.namespace === 'string' && meta.namespace !== '' ? `${meta.namespace}/${meta.name}` : meta.name;
}

export function resourceVersionOf(obj: unknown): string | undefined {
  const rv = metadataOf(obj)?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
}

function metadataOf(obj: unknown): Record<string, unknown> | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const meta = (obj as { metadata?: unknown }).metadata;
  return typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : undefined;
}
