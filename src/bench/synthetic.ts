// Synthetic clusters for benchmarks: Services and EndpointSlices as the API
// server would send them, with deterministic addresses.

export interface SyntheticCluster {
  services: Record<string, unknown>[];
  slices: Record<string, unknown>[];
}

/** 10.<second + n/65536>.<n/256>.<n%256>: n up to a few million stays a valid address. */
const ip4 = (second: number, n: number) => `10.${second + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;

export function serviceObject(i: number): Record<string, unknown> {
  const clusterIP = ip4(96, i);
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: 'bench', resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

export function sliceObject(i: number, endpointsPerService: number, generation = 0): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-abc`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` }, resourceVersion: String(generation + 1) },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpointsPerService }, (_, k) => ({
      // Each generation moves the first endpoint to a new address (a pod replaced).
      addresses: [ip4(128, i * endpointsPerService + k + 1 + (k === 0 ? generation * 1_000_000 : 0))],
      conditions: { ready: true },
      nodeName: `node-${k % 50}`,
    })),
  };
}

export function syntheticCluster(services: number, endpointsPerService: number): SyntheticCluster {
  return {
    services: Array.from({ length: services }, (_, i) => serviceObject(i)),
    slices: Array.from({ length: services }, (_, i) => sliceObject(i, endpointsPerService)),
  };
}
