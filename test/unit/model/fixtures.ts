// Builders for plain API objects as `kubectl get -o json` prints them, and a default node.

import type { NodeContext } from '../../../src/model/index.js';

type Obj = Record<string, unknown>;

export interface SvcOpts {
  ns?: string;
  name?: string;
  labels?: Record<string, string>;
  spec?: Obj;
  status?: Obj;
}

/** A ClusterIP Service 10.96.0.10 with one port "http" 80/TCP → 8080 unless overridden. */
export function svc(o: SvcOpts = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name ?? 'web', namespace: o.ns ?? 'default', ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
      ...o.spec,
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

export interface EpOpts {
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
  node?: string;
  zone?: string;
  forZones?: string[];
  forNodes?: string[];
}

export function ep(ip: string, o: EpOpts = {}): Obj {
  const conditions: Obj = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  const hints: Obj = {};
  if (o.forZones) hints.forZones = o.forZones.map((name) => ({ name }));
  if (o.forNodes) hints.forNodes = o.forNodes.map((name) => ({ name }));
  return {
    addresses: [ip],
    conditions,
    ...(o.node !== undefined ? { nodeName: o.node } : {}),
    ...(o.zone !== undefined ? { zone: o.zone } : {}),
    ...(o.forZones || o.forNodes ? { hints } : {}),
  };
}

export interface SliceOpts {
  ns?: string;
  name?: string;
  service?: string;
  addressType?: string;
  labels?: Record<string, string>;
  ports?: Obj[];
  endpoints: Obj[];
}

/** An EndpointSlice for Service "web" with port "http" 8080/TCP unless overridden. */
export function slice(o: SliceOpts): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: o.name ?? `${o.service ?? 'web'}-abc`,
      namespace: o.ns ?? 'default',
      labels: { 'kubernetes.io/service-name': o.service ?? 'web', ...o.labels },
    },
    addressType: o.addressType ?? 'IPv4',
    ports: o.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: o.endpoints,
  };
}

export const NODE: NodeContext = {
  nodeName: 'node-a',
  zone: 'zone-a',
  nodeAddresses: ['192.168.1.10', '10.0.0.5', 'fd00::10'],
  clusterCIDRs: ['10.244.0.0/16', 'fd00:244::/56'],
  masqueradeAll: false,
};
