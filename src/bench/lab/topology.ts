// Pure part of `bench lab`: which node runs which mode, the Service that
// carries the traffic, the filler Services that make a scale, and the ECMP
// route that makes the no-proxy baseline. No I/O here.
import type { Lab, LabSpec, NodeHost } from '../../lab/index.js';
import type { LabBenchMode } from './options.js';

export const BENCH_LAB = 'bench';
export const PODS_PER_NODE = 3;
/** ekp-httpd's port in every pod (the lab's own Node servers keep 8080). */
export const BENCH_HTTP_PORT = 8081;
export const BENCH_SERVICE = 'bench';
export const BENCH_CLUSTER_IP = '10.96.100.1';
export const BENCH_NODE_PORT = 30090;
/**
 * The baseline's address: present on every pod of the direct node, reached
 * through an ECMP route on that node that hashes on ports, so keep-alive
 * connections spread over the same three pods a Service would use.
 */
export const ANYCAST_IP = '10.97.0.1';

/** One node per mode, in the order given; three pods on each. */
export function benchLabSpec(modes: readonly LabBenchMode[], name = BENCH_LAB): LabSpec {
  return { name, nodes: modes.length, podsPerNode: PODS_PER_NODE };
}

export function nodeForMode(lab: Lab, modes: readonly LabBenchMode[], mode: LabBenchMode): NodeHost {
  const i = modes.indexOf(mode);
  const node = lab.nodes[i];
  if (i < 0 || !node) throw new Error(`mode ${mode} has no node in lab ${lab.spec.name}`);
  return node;
}

/** Where wrk sends its requests for `mode`. */
export function targetURL(lab: Lab, modes: readonly LabBenchMode[], mode: LabBenchMode): string {
  if (mode === 'direct') return `http://${ANYCAST_IP}:${BENCH_HTTP_PORT}/`;
  return `http://${nodeForMode(lab, modes, mode).ipv4}:${BENCH_NODE_PORT}/`;
}

/** `ip -batch` for the direct node: the ECMP route over its pods. */
export function ecmpRouteScript(lab: Lab, node: NodeHost): string {
  const hops = lab.pods.filter((p) => p.node === node.name).map((p) => `nexthop via ${p.ipv4} dev ${p.hostVeth}`);
  return `route replace ${ANYCAST_IP}/32 ${hops.join(' ')}\n`;
}

/** The direct node hashes on L4 ports, or every connection from the client would land on one pod. */
export const ECMP_SYSCTLS = ['net.ipv4.fib_multipath_hash_policy=1'];

/** `ip -batch` for each pod of the direct node: the anycast address on lo. */
export const ANYCAST_POD_SCRIPT = `addr replace ${ANYCAST_IP}/32 dev lo\n`;

/**
 * The traffic Service: NodePort with externalTrafficPolicy Local, so each
 * node sends the client's connections to its own three pods (the same path
 * as the baseline: client → node → pod) and no mode needs SNAT.
 */
export function benchServiceObjects(lab: Lab): Record<string, unknown>[] {
  return [
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: BENCH_SERVICE, namespace: 'bench' },
      spec: {
        type: 'NodePort', clusterIP: BENCH_CLUSTER_IP, clusterIPs: [BENCH_CLUSTER_IP], externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, targetPort: BENCH_HTTP_PORT, protocol: 'TCP', nodePort: BENCH_NODE_PORT }],
      },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${BENCH_SERVICE}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': BENCH_SERVICE } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: BENCH_HTTP_PORT, protocol: 'TCP' }],
      endpoints: lab.pods.map((p) => ({ addresses: [p.ipv4], conditions: { ready: true, serving: true, terminating: false }, nodeName: p.node, targetRef: { kind: 'Pod', name: p.name } })),
    },
  ];
}

/** ClusterIP of filler k: 10.100.0.0/14 holds 262,144. */
export function fillerClusterIP(k: number): string {
  return `10.${100 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;
}

function fillerEndpointIP(k: number, e: number): string {
  const n = k * 16 + e;
  return `10.${200 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/**
 * The other `count` Services of a scale, as one `kind: List`: ClusterIP,
 * TCP 80, `endpoints` addresses each on a node outside the lab (nothing
 * answers there; the traffic never goes to them, they only fill the tables).
 */
export function fillerList(count: number, endpoints: number): Record<string, unknown> {
  if (endpoints > 16) throw new RangeError(`filler endpoints must be at most 16, got ${endpoints}`);
  const items: Record<string, unknown>[] = [];
  for (let k = 0; k < count; k++) {
    const name = `filler-${k}`;
    const ip = fillerClusterIP(k);
    items.push({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name, namespace: 'bench' },
      spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    items.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: endpoints }, (_, e) => ({ addresses: [fillerEndpointIP(k, e)], conditions: { ready: true }, nodeName: 'elsewhere' })),
    });
  }
  return { apiVersion: 'v1', kind: 'List', items };
}

/** The order of modes in round r: rotated, so no mode always runs first or last. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const k = items.length ? round % items.length : 0;
  return [...items.slice(k), ...items.slice(0, k)];
}
