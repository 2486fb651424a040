// The lab's example Services and their EndpointSlices, written as the
// manifest directory every node's proxy watches (`run --manifests`). The
// lab plays the API server: it decides which pods back which Service.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, PodHost } from './types.js';

export type ExampleService = 'web' | 'web-nodeport' | 'web-local' | 'sticky' | 'empty' | 'echo' | 'web-external';

export interface ServiceDef {
  name: string;
  clusterIP: string;
  /** Dual-stack labs: the IPv6 cluster IP (its endpoints are the pods' IPv6 addresses). */
  clusterIPv6?: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  protocol: 'TCP' | 'UDP';
  port: number;
  targetPort: number;
  nodePort?: number;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  affinitySeconds?: number;
  externalIPs?: string[];
  internalTrafficPolicy?: 'Cluster' | 'Local';
  /** LoadBalancer: the ingress IP the cloud would have assigned, and who may use it. */
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  /** Pod names backing it, in order. */
  pods: string[];
  /** Node names whose own address backs it too (a host-network pod on each, listening on targetPort). */
  hostNodes?: string[];
}

export const LAB_NAMESPACE = 'lab';
/** An address outside every lab network, routed from the client to a node. */
export const LAB_EXTERNAL_IP = '203.0.113.10';

/** The IPv6 twin of a 10.96.0.x cluster IP: fd00:96::x. */
function v6ClusterIP(v4: string): string {
  return `fd00:96::${Number(v4.split('.')[3]).toString(16)}`;
}

/** The example services on a lab: every pod backs them unless `scale` says fewer. Dual-stack labs get dual-stack Services. */
export function exampleServices(lab: Lab, scale: Partial<Record<string, number>> = {}): ServiceDef[] {
  const defs = exampleServicesV4(lab, scale);
  return lab.spec.ipv6 ? defs.map((d) => ({ ...d, clusterIPv6: v6ClusterIP(d.clusterIP) })) : defs;
}

function exampleServicesV4(lab: Lab, scale: Partial<Record<string, number>>): ServiceDef[] {
  const all = lab.pods.map((p) => p.name);
  const pick = (name: string, dflt: string[]) => (scale[name] === undefined ? dflt : interleave(lab.pods).slice(0, scale[name]).map((p) => p.name));
  const { httpPort, udpPort } = lab.addressing;
  return [
    { name: 'web', clusterIP: '10.96.0.10', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: httpPort, pods: pick('web', all) },
    { name: 'web-nodeport', clusterIP: '10.96.0.11', type: 'NodePort', protocol: 'TCP', port: 80, targetPort: httpPort, nodePort: 30080, externalTrafficPolicy: 'Cluster', pods: pick('web-nodeport', all) },
    { name: 'web-local', clusterIP: '10.96.0.12', type: 'NodePort', protocol: 'TCP', port: 80, targetPort: httpPort, nodePort: 30081, externalTrafficPolicy: 'Local', pods: pick('web-local', all) },
    { name: 'sticky', clusterIP: '10.96.0.13', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: httpPort, affinitySeconds: 600, pods: pick('sticky', all) },
    { name: 'empty', clusterIP: '10.96.0.14', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: httpPort, pods: [] },
    { name: 'echo', clusterIP: '10.96.0.15', type: 'ClusterIP', protocol: 'UDP', port: 53, targetPort: udpPort, pods: pick('echo', all) },
    { name: 'web-external', clusterIP: '10.96.0.16', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: httpPort, externalIPs: [LAB_EXTERNAL_IP], pods: pick('web-external', all) },
  ];
}

/** Pods in node-alternating order, so that "the first N" spreads over nodes. */
function interleave(pods: readonly PodHost[]): PodHost[] {
  return [...pods].sort((a, b) => a.index - b.index || a.nodeIndex - b.nodeIndex);
}

export function serviceManifest(def: ServiceDef): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: def.name, namespace: LAB_NAMESPACE },
    spec: {
      type: def.type, clusterIP: def.clusterIP, clusterIPs: def.clusterIPv6 ? [def.clusterIP, def.clusterIPv6] : [def.clusterIP],
      ...(def.clusterIPv6 ? { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' } : {}),
      ports: [{ name: 'p', port: def.port, targetPort: def.targetPort, protocol: def.protocol, ...(def.nodePort ? { nodePort: def.nodePort } : {}) }],
      ...(def.externalTrafficPolicy ? { externalTrafficPolicy: def.externalTrafficPolicy } : {}),
      ...(def.externalIPs ? { externalIPs: def.externalIPs } : {}),
      ...(def.internalTrafficPolicy ? { internalTrafficPolicy: def.internalTrafficPolicy } : {}),
      ...(def.loadBalancerSourceRanges ? { loadBalancerSourceRanges: def.loadBalancerSourceRanges } : {}),
      ...(def.affinitySeconds ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: def.affinitySeconds } } } : {}),
    },
    ...serviceStatus(def),
  };
}

/** One EndpointSlice per address family the Service has. */
export function serviceStatus(def: ServiceDef): Record<string, unknown> {
  return def.loadBalancerIP ? { status: { loadBalancer: { ingress: [{ ip: def.loadBalancerIP, ipMode: 'VIP' }] } } } : {};
}

export function sliceManifests(def: ServiceDef, lab: Lab): Record<string, unknown>[] {
  const byName = new Map(lab.pods.map((p) => [p.name, p]));
  const nodeByName = new Map(lab.nodes.map((n) => [n.name, n]));
  const endpoint = (address: string, nodeName: string, pod: string) =>
    ({ addresses: [address], conditions: { ready: true, serving: true, terminating: false }, nodeName, targetRef: { kind: 'Pod', name: pod } });
  const slice = (family: 4 | 6) => ({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${def.name}-lab${family === 6 ? '6' : ''}`, namespace: LAB_NAMESPACE, labels: { 'kubernetes.io/service-name': def.name } },
    addressType: family === 4 ? 'IPv4' : 'IPv6',
    ports: [{ name: 'p', port: def.targetPort, protocol: def.protocol }],
    endpoints: [
      ...def.pods.map((name) => {
        const pod = byName.get(name)!;
        return endpoint(family === 4 ? pod.ipv4 : pod.ipv6!, pod.node, name);
      }),
      ...(def.hostNodes ?? []).map((name) => {
        const node = nodeByName.get(name)!;
        return endpoint(family === 4 ? node.ipv4 : node.ipv6!, name, `${def.name}-${name}`);
      }),
    ],
  });
  return def.clusterIPv6 ? [slice(4), slice(6)] : [slice(4)];
}

/**
 * Writes one file per Service (Service + EndpointSlice), atomically, so a
 * watcher never reads half a file. Unchanged files are left alone; returns
 * whether anything changed.
 */
export function writeManifests(dir: string, lab: Lab, defs: readonly ServiceDef[]): boolean {
  mkdirSync(dir, { recursive: true });
  let changed = false;
  const files = new Map<string, string>(defs.map((def) => [`${def.name}.yaml`, [serviceManifest(def), ...sliceManifests(def, lab)].map((o) => JSON.stringify(o, null, 2)).join('\n---\n')]));
  // Not a Service name: those are DNS labels, without dots.
  files.set('kubernetes.servicecidr.yaml', JSON.stringify(serviceCIDRManifest(lab), null, 2));
  for (const [name, body] of files) {
    const text = `${body}\n`;
    const file = join(dir, name);
    if (existsSync(file) && readFileSync(file, 'utf8') === text) continue;
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    changed = true;
  }
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.yaml') && !files.has(f)) {
      unlinkSync(join(dir, f));
      changed = true;
    }
  }
  return changed;
}

/** The lab's Service CIDRs, as the API server of a 1.33+ cluster publishes its --service-cluster-ip-range. */
export const LAB_SERVICE_CIDRS = { 4: '10.96.0.0/16', 6: 'fd00:96::/112' } as const;

function serviceCIDRManifest(lab: Lab): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'kubernetes' },
    spec: { cidrs: [LAB_SERVICE_CIDRS[4], ...(lab.spec.ipv6 ? [LAB_SERVICE_CIDRS[6]] : [])] },
  };
}
