// A deterministic cluster for the wire bench: Services, EndpointSlices of 100 endpoints, and
// a stream of updates to both, as the API server would send them (lists without TypeMeta in
// their items, watch objects with it). Only fields in our schemas, so both encodings carry
// the same information.

export interface Dataset {
  serviceList: Record<string, unknown>;
  sliceList: Record<string, unknown>;
  events: Array<{ type: 'MODIFIED'; object: Record<string, unknown> }>;
  services: number;
  endpoints: number;
}

const CREATED = '2024-03-01T12:00:00Z';

function uid(i: number, salt: number): string {
  const h = ((i * 2654435761) ^ salt) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-1234-4abc-8def-${i.toString(16).padStart(12, '0')}`;
}

function ip(base: number, i: number): string {
  return `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function service(i: number, rv: number, port = 80): Record<string, unknown> {
  const ns = `ns-${i % 100}`;
  return {
    metadata: {
      name: `svc-${i}`,
      namespace: ns,
      uid: uid(i, 1),
      resourceVersion: String(rv),
      creationTimestamp: CREATED,
      labels: { app: `app-${i}`, 'app.kubernetes.io/part-of': `team-${i % 37}` },
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip(10, 96 * 65536 + i),
      clusterIPs: [ip(10, 96 * 65536 + i)],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports: [
        { name: 'http', protocol: 'TCP', port, targetPort: 8080 },
        { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 'metrics' },
      ],
      selector: { app: `app-${i}` },
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}

function slice(s: number, perSlice: number, rv: number, flip = -1): Record<string, unknown> {
  const svc = s;
  const endpoints = [];
  for (let e = 0; e < perSlice; e++) {
    const n = s * perSlice + e;
    const ready = e !== flip;
    endpoints.push({
      addresses: [ip(10, 244 * 65536 + n)],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: `node-${n % 500}`,
      zone: `zone-${n % 3}`,
    });
  }
  return {
    metadata: {
      name: `svc-${svc}-${uid(s, 2).slice(0, 5)}`,
      namespace: `ns-${svc % 100}`,
      uid: uid(s, 3),
      resourceVersion: String(rv),
      generation: 1,
      creationTimestamp: CREATED,
      labels: { 'kubernetes.io/service-name': `svc-${svc}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    endpoints,
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'metrics', protocol: 'TCP', port: 9090 },
    ],
  };
}

export function buildDataset(services = 10_000, endpoints = 100_000, perSlice = 100, updates = 10_000): Dataset {
  let rv = 1000;
  const svcItems = [];
  for (let i = 0; i < services; i++) svcItems.push(service(i, ++rv));
  const slices = Math.ceil(endpoints / perSlice);
  const sliceItems = [];
  for (let s = 0; s < slices; s++) sliceItems.push(slice(s, perSlice, ++rv));
  const listRV = String(rv);
  const events: Dataset['events'] = [];
  for (let u = 0; u < updates; u++) {
    // Half Service changes (a port), half EndpointSlice changes (an endpoint's readiness).
    if (u % 2 === 0) {
      const i = (u * 7919) % services;
      events.push({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'Service', ...service(i, ++rv, 80 + (u % 1000)) } });
    } else {
      const s = (u * 104729) % slices;
      events.push({ type: 'MODIFIED', object: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', ...slice(s, perSlice, ++rv, u % perSlice) } });
    }
  }
  return {
    serviceList: { apiVersion: 'v1', kind: 'ServiceList', metadata: { resourceVersion: listRV }, items: svcItems },
    sliceList: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', metadata: { resourceVersion: listRV }, items: sliceItems },
    events,
    services,
    endpoints: slices * perSlice,
  };
}
