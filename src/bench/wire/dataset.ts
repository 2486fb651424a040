// A deterministic cluster for the wire bench: Services, EndpointSlices of 100 endpoints, and
// a stream of updates to both, as the API server would send them (lists without TypeMeta in
// their items, watch objects with it), in two shapes:
//   'schema':    only fields in our schemas, so both encodings carry the same information;
//   'apiserver': what an API server really sends kube-proxy, which it has to read past: every
//                object's metadata.managedFields (server-side field tracking, one entry per
//                manager), kubectl's last-applied-configuration annotation on Services applied
//                with kubectl, the EndpointSlice controller's generateName, ownerReferences,
//                trigger-time annotation and mirrored Service labels, and each endpoint's
//                targetRef (the Pod). Field names and values as the upstream types
//                (k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta and ManagedFieldsEntry,
//                k8s.io/api/discovery/v1 EndpointSlice and Endpoint, core/v1 ObjectReference)
//                and the controllers that write them; the protobuf side is encoded with
//                upstream-schema.ts, since our schemas leave the unread fields out.

export type DatasetShape = 'schema' | 'apiserver';
export const DATASET_SHAPES: readonly DatasetShape[] = ['schema', 'apiserver'];

export interface Dataset {
  serviceList: Record<string, unknown>;
  sliceList: Record<string, unknown>;
  events: Array<{ type: 'MODIFIED'; object: Record<string, unknown> }>;
  services: number;
  endpoints: number;
}

const CREATED = '2024-03-01T12:00:00Z';
/** When the watched changes happen (the managers' last write). */
const UPDATED = '2024-03-02T08:30:00Z';

function uid(i: number, salt: number): string {
  const h = ((i * 2654435761) ^ salt) >>> 0;
  return `${h.toString(16).padStart(8, '0')}-1234-4abc-8def-${i.toString(16).padStart(12, '0')}`;
}

/** The five random characters after a Pod's generateName, from the alphabet Kubernetes draws them from. */
function podSuffix(n: number): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let h = Math.imul(n + 1, 2654435761) >>> 0;
  let s = '';
  for (let i = 0; i < 5; i++, h = Math.floor(h / alphabet.length)) s += alphabet[h % alphabet.length];
  return s;
}

function ip(base: number, i: number): string {
  return `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** The managedFields entry of a manager that wrote `fields` (FieldsV1: the set of fields it owns, as nested "f:" / "k:" keys). */
function managedBy(manager: string, apiVersion: string, time: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { manager, operation: 'Update', apiVersion, time, fieldsType: 'FieldsV1', fieldsV1: fields };
}

function service(i: number, rv: number, port = 80, shape: DatasetShape = 'schema'): Record<string, unknown> {
  const ns = `ns-${i % 100}`;
  const labels = { app: `app-${i}`, 'app.kubernetes.io/part-of': `team-${i % 37}` };
  const ports = [
    { name: 'http', protocol: 'TCP', port, targetPort: 8080 },
    { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 'metrics' },
  ];
  const metadata: Record<string, unknown> = {
    name: `svc-${i}`,
    namespace: ns,
    uid: uid(i, 1),
    resourceVersion: String(rv),
    creationTimestamp: CREATED,
    labels,
  };
  if (shape === 'apiserver') {
    // Applied with `kubectl apply` (client side): the manifest as applied, and its manager's fields.
    const applied = { apiVersion: 'v1', kind: 'Service', metadata: { annotations: {}, labels, name: `svc-${i}`, namespace: ns }, spec: { ports, selector: { app: `app-${i}` }, type: 'ClusterIP' } };
    metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) + '\n' };
    const portFields = { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} };
    metadata.managedFields = [
      managedBy('kubectl-client-side-apply', 'v1', port === 80 ? CREATED : UPDATED, {
        'f:metadata': {
          'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} },
          'f:labels': { '.': {}, 'f:app': {}, 'f:app.kubernetes.io/part-of': {} },
        },
        'f:spec': {
          'f:internalTrafficPolicy': {},
          'f:ports': { '.': {}, [`k:{"port":${port},"protocol":"TCP"}`]: portFields, 'k:{"port":9090,"protocol":"TCP"}': portFields },
          'f:selector': {},
          'f:sessionAffinity': {},
          'f:type': {},
        },
      }),
    ];
  }
  return {
    metadata,
    spec: {
      type: 'ClusterIP',
      clusterIP: ip(10, 96 * 65536 + i),
      clusterIPs: [ip(10, 96 * 65536 + i)],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      ports,
      selector: { app: `app-${i}` },
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}

function slice(s: number, perSlice: number, rv: number, flip = -1, shape: DatasetShape = 'schema'): Record<string, unknown> {
  const svc = s;
  const ns = `ns-${svc % 100}`;
  const endpoints = [];
  for (let e = 0; e < perSlice; e++) {
    const n = s * perSlice + e;
    const ready = e !== flip;
    const endpoint: Record<string, unknown> = {
      addresses: [ip(10, 244 * 65536 + n)],
      conditions: { ready, serving: ready, terminating: false },
      nodeName: `node-${n % 500}`,
      zone: `zone-${n % 3}`,
    };
    // The Pod behind it, named as a Deployment's ReplicaSet names its Pods.
    if (shape === 'apiserver') endpoint.targetRef = { kind: 'Pod', namespace: ns, name: `app-${svc}-7d9f8b6c5-${podSuffix(n)}`, uid: uid(n, 4) };
    endpoints.push(endpoint);
  }
  const labels: Record<string, string> = { 'kubernetes.io/service-name': `svc-${svc}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
  const metadata: Record<string, unknown> = {
    name: `svc-${svc}-${uid(s, 2).slice(0, 5)}`,
    namespace: ns,
    uid: uid(s, 3),
    resourceVersion: String(rv),
    generation: 1,
    creationTimestamp: CREATED,
    labels,
  };
  if (shape === 'apiserver') {
    // As the EndpointSlice controller writes it: the Service's labels mirrored, owned by the Service.
    labels.app = `app-${svc}`;
    labels['app.kubernetes.io/part-of'] = `team-${svc % 37}`;
    const changed = flip < 0 ? CREATED : UPDATED;
    metadata.generateName = `svc-${svc}-`;
    metadata.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': changed };
    metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'Service', name: `svc-${svc}`, uid: uid(svc, 1), controller: true, blockOwnerDeletion: true }];
    metadata.managedFields = [
      managedBy('kube-controller-manager', 'discovery.k8s.io/v1', changed, {
        'f:addressType': {},
        'f:endpoints': {},
        'f:metadata': {
          'f:annotations': { '.': {}, 'f:endpoints.kubernetes.io/last-change-trigger-time': {} },
          'f:generateName': {},
          'f:labels': { '.': {}, 'f:app': {}, 'f:app.kubernetes.io/part-of': {}, 'f:endpointslice.kubernetes.io/managed-by': {}, 'f:kubernetes.io/service-name': {} },
          'f:ownerReferences': { '.': {}, [`k:{"uid":"${uid(svc, 1)}"}`]: {} },
        },
        'f:ports': {},
      }),
    ];
  }
  return {
    metadata,
    addressType: 'IPv4',
    endpoints,
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'metrics', protocol: 'TCP', port: 9090 },
    ],
  };
}

export function buildDataset(services = 10_000, endpoints = 100_000, perSlice = 100, updates = 10_000, shape: DatasetShape = 'schema'): Dataset {
  let rv = 1000;
  const svcItems = [];
  for (let i = 0; i < services; i++) svcItems.push(service(i, ++rv, 80, shape));
  const slices = Math.ceil(endpoints / perSlice);
  const sliceItems = [];
  for (let s = 0; s < slices; s++) sliceItems.push(slice(s, perSlice, ++rv, -1, shape));
  const listRV = String(rv);
  const events: Dataset['events'] = [];
  for (let u = 0; u < updates; u++) {
    // Half Service changes (a port), half EndpointSlice changes (an endpoint's readiness).
    if (u % 2 === 0) {
      const i = (u * 7919) % services;
      events.push({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'Service', ...service(i, ++rv, 80 + (u % 1000), shape) } });
    } else {
      const s = (u * 104729) % slices;
      events.push({ type: 'MODIFIED', object: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', ...slice(s, perSlice, ++rv, u % perSlice, shape) } });
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
