// The protobuf codec on its own: schema field numbers against upstream, the JSON shape it
// decodes to (identical to what the JSON wire gives, zero values Go writes included), and
// the malformed inputs it must refuse with a message that says what was wrong.

import { describe, expect, it } from 'vitest';
import { parseEndpointSlice, parseNode, parseService } from '../../../../src/model/index.js';
import {
  decodeList,
  decodeObject,
  decodeWatchFrame,
  DEFAULT_MAX_FRAME_BYTES,
  encodeObject,
  encodeWatchFrame,
  FrameReader,
  ProtocolError,
} from '../../../../src/sources/kubernetes/index.js';
import { k8sRoot } from '../../../../src/sources/kubernetes/proto/schema.js';
import { envelope, frame, lengthPrefixed, message, serviceBytes, WIRE } from './wire-bytes.js';

const { LEN, VARINT } = WIRE;

/**
 * Field numbers as upstream generated.proto / types.go protobuf tags have them (checked
 * against kubernetes/kubernetes staging sources). A wrong number here would silently read
 * another field from a real API server, so the schema is pinned.
 */
const UPSTREAM: Record<string, Record<string, number>> = {
  'k8s.io.apimachinery.pkg.runtime.Unknown': { typeMeta: 1, raw: 2, contentEncoding: 3, contentType: 4 },
  'k8s.io.apimachinery.pkg.runtime.TypeMeta': { apiVersion: 1, kind: 2 },
  'k8s.io.apimachinery.pkg.runtime.RawExtension': { raw: 1 },
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString': { type: 1, intVal: 2, strVal: 3 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.TypeMeta': { kind: 1, apiVersion: 2 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.ListMeta': { selfLink: 1, resourceVersion: 2, continue: 3, remainingItemCount: 4 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta': {
    name: 1, generateName: 2, namespace: 3, selfLink: 4, uid: 5, resourceVersion: 6, generation: 7,
    creationTimestamp: 8, deletionTimestamp: 9, deletionGracePeriodSeconds: 10, labels: 11, annotations: 12, ownerReferences: 13,
  },
  'k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference': { apiVersion: 5, kind: 1, name: 3, uid: 4, controller: 6, blockOwnerDeletion: 7 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.Time': { seconds: 1, nanos: 2 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.Status': { metadata: 1, status: 2, message: 3, reason: 4, details: 5, code: 6 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.StatusDetails': { name: 1, group: 2, kind: 3, uid: 6, causes: 4, retryAfterSeconds: 5 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.StatusCause': { reason: 1, message: 2, field: 3 },
  'k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent': { type: 1, object: 2 },
  'k8s.io.api.core.v1.Service': { metadata: 1, spec: 2, status: 3 },
  'k8s.io.api.core.v1.ServiceList': { metadata: 1, items: 2 },
  'k8s.io.api.core.v1.ServiceSpec': {
    ports: 1, selector: 2, clusterIP: 3, clusterIPs: 18, type: 4, externalIPs: 5, sessionAffinity: 7, loadBalancerIP: 8,
    loadBalancerSourceRanges: 9, externalName: 10, externalTrafficPolicy: 11, healthCheckNodePort: 12, publishNotReadyAddresses: 13,
    sessionAffinityConfig: 14, ipFamilies: 19, ipFamilyPolicy: 17, allocateLoadBalancerNodePorts: 20, loadBalancerClass: 21,
    internalTrafficPolicy: 22, trafficDistribution: 23,
  },
  'k8s.io.api.core.v1.ServicePort': { name: 1, protocol: 2, appProtocol: 6, port: 3, targetPort: 4, nodePort: 5 },
  'k8s.io.api.core.v1.ServiceStatus': { loadBalancer: 1 },
  'k8s.io.api.core.v1.LoadBalancerStatus': { ingress: 1 },
  'k8s.io.api.core.v1.LoadBalancerIngress': { ip: 1, hostname: 2, ipMode: 3, ports: 4 },
  'k8s.io.api.core.v1.PortStatus': { port: 1, protocol: 2, error: 3 },
  'k8s.io.api.core.v1.SessionAffinityConfig': { clientIP: 1 },
  'k8s.io.api.core.v1.ClientIPConfig': { timeoutSeconds: 1 },
  'k8s.io.api.core.v1.Node': { metadata: 1, spec: 2, status: 3 },
  'k8s.io.api.core.v1.NodeList': { metadata: 1, items: 2 },
  'k8s.io.api.core.v1.NodeSpec': { podCIDR: 1, podCIDRs: 7, providerID: 3, unschedulable: 4 },
  'k8s.io.api.core.v1.NodeStatus': { addresses: 5 },
  'k8s.io.api.core.v1.NodeAddress': { type: 1, address: 2 },
  'k8s.io.api.discovery.v1.EndpointSlice': { metadata: 1, addressType: 4, endpoints: 2, ports: 3 },
  'k8s.io.api.discovery.v1.EndpointSliceList': { metadata: 1, items: 2 },
  'k8s.io.api.discovery.v1.Endpoint': { addresses: 1, conditions: 2, hostname: 3, nodeName: 6, zone: 7, hints: 8 },
  'k8s.io.api.discovery.v1.EndpointConditions': { ready: 1, serving: 2, terminating: 3 },
  'k8s.io.api.discovery.v1.EndpointHints': { forZones: 1, forNodes: 2 },
  'k8s.io.api.discovery.v1.ForZone': { name: 1 },
  'k8s.io.api.discovery.v1.ForNode': { name: 1 },
  'k8s.io.api.discovery.v1.EndpointPort': { name: 1, protocol: 2, port: 3, appProtocol: 4 },
};

const richService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'prod',
    uid: '5b1f0a4e-0000-4000-8000-000000000001',
    resourceVersion: '123',
    generation: 4,
    creationTimestamp: '2024-05-06T07:08:09Z',
    deletionTimestamp: '2024-05-07T00:00:00Z',
    labels: { app: 'web', 'kubernetes.io/x': '' },
    annotations: { note: 'ü ✓' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Thing', name: 'owner', uid: 'u-1', controller: true }],
  },
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.10',
    clusterIPs: ['10.96.0.10', 'fd00::10'],
    ipFamilies: ['IPv4', 'IPv6'],
    ipFamilyPolicy: 'PreferDualStack',
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 'web', nodePort: 30080, appProtocol: 'http' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 },
    ],
    selector: { app: 'web' },
    externalIPs: ['192.0.2.1'],
    loadBalancerSourceRanges: ['10.0.0.0/8'],
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
    externalTrafficPolicy: 'Local',
    internalTrafficPolicy: 'Cluster',
    healthCheckNodePort: 31000,
    allocateLoadBalancerNodePorts: false,
    trafficDistribution: 'PreferClose',
  },
  status: { loadBalancer: { ingress: [{ ip: '203.0.113.5', ipMode: 'Proxy', ports: [{ port: 80, protocol: 'TCP' }] }, { hostname: 'lb.example' }] } },
};

const richSlice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'prod', resourceVersion: '124', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    {
      addresses: ['10.0.0.1'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'node-1',
      zone: 'a',
      hints: { forZones: [{ name: 'a' }], forNodes: [{ name: 'node-1' }] },
    },
    { addresses: ['10.0.0.2'], conditions: { ready: false } },
    { addresses: ['10.0.0.3'], conditions: {} },
  ],
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { port: 9090 }],
};

const richNode = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: 'node-1', resourceVersion: '7', labels: { 'topology.kubernetes.io/zone': 'a' } },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'] },
  status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }, { type: 'Hostname', address: 'node-1' }] },
};

function expectProtocolError(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('schema', () => {
  it.each(Object.entries(UPSTREAM))('%s has the upstream field numbers', (typeName, fields) => {
    const type = k8sRoot().lookupType(typeName);
    expect(Object.fromEntries(type.fieldsArray.map((f) => [f.name, f.id]))).toEqual(fields);
  });
});

describe('decoding to the JSON shape', () => {
  it.each([
    ['Service', richService],
    ['EndpointSlice', richSlice],
    ['Node', richNode],
  ])('round-trips a %s with every field we read, identical to its JSON', (_kind, obj) => {
    expect(decodeObject(encodeObject(obj))).toEqual(JSON.parse(JSON.stringify(obj)));
  });

  it('gives the model the same result as JSON does', () => {
    for (const [obj, parse] of [
      [richService, parseService],
      [richSlice, parseEndpointSlice],
      [richNode, parseNode],
    ] as const) {
      expect((parse as (o: unknown) => unknown)(decodeObject(encodeObject(obj)))).toEqual((parse as (o: unknown) => unknown)(obj));
    }
  });

  it('leaves out the zero values Go writes for fields its JSON omits, and keeps explicit pointer zeros', () => {
    // As a real API server writes a ClusterIP Service: every non-pointer scalar, even empty,
    // a zero Time for an unset timestamp, an empty status.
    const goZeroTime = message([1, VARINT, -62135596800]);
    const raw = message(
      [1, LEN, message([1, LEN, 'web'], [2, LEN, ''], [3, LEN, 'default'], [4, LEN, ''], [6, LEN, '9'], [7, VARINT, 0], [9, LEN, goZeroTime])],
      [
        2,
        LEN,
        message(
          [1, LEN, message([1, LEN, ''], [2, LEN, 'TCP'], [3, VARINT, 80], [4, LEN, message([1, VARINT, 0], [2, VARINT, 8080], [3, LEN, ''])], [5, VARINT, 0])],
          [3, LEN, '10.96.0.1'],
          [4, LEN, 'ClusterIP'],
          [7, LEN, 'None'],
          [8, LEN, ''],
          [10, LEN, ''],
          [11, LEN, ''],
          [12, VARINT, 0],
          [13, VARINT, 0],
        ),
      ],
      [3, LEN, message([1, LEN, new Uint8Array(0)])],
    );
    const obj = decodeObject(envelope('v1', 'Service', raw));
    expect(obj).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default', resourceVersion: '9' },
      spec: { ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }], clusterIP: '10.96.0.1', type: 'ClusterIP', sessionAffinity: 'None' },
      status: { loadBalancer: {} },
    });
    expect(parseService(obj)).toMatchObject({ ok: true, problems: [] });
    // Pointer fields keep their zero: ready=false is not "unknown".
    const slice = decodeObject(
      envelope('discovery.k8s.io/v1', 'EndpointSlice', message([1, LEN, message([1, LEN, 's'])], [4, LEN, 'IPv4'], [2, LEN, message([1, LEN, '10.0.0.1'], [2, LEN, message([1, VARINT, 0])])])),
    );
    expect(slice).toMatchObject({ endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: false } }] });
  });

  it('skips fields it does not know, at any depth', () => {
    const raw = message(
      [1, LEN, message([1, LEN, 'web'], [6, LEN, '9'], [17, LEN, message([1, LEN, 'kubectl'], [2, LEN, 'Update'])], [14, LEN, 'finalizer'])],
      [2, LEN, message([3, LEN, '10.0.0.1'], [99, VARINT, 7], [1000, LEN, 'future'])],
      [7, LEN, 'unknown top-level field'],
    );
    expect(decodeObject(envelope('v1', 'Service', raw, [[9, VARINT, 1]]))).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', resourceVersion: '9' },
      spec: { clusterIP: '10.0.0.1' },
    });
  });

  it('decodes a List with its continue token, items without TypeMeta', () => {
    const list = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', metadata: { resourceVersion: '9', continue: 'abc', remainingItemCount: 3 }, items: [{ metadata: { name: 'a' }, addressType: 'IPv6' }] };
    expect(decodeList(encodeObject(list))).toEqual({ resourceVersion: '9', continue: 'abc', items: [{ metadata: { name: 'a' }, addressType: 'IPv6' }] });
  });

  it('decodes a watch ERROR event carrying a Status', () => {
    const status = { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (5)', reason: 'Expired', code: 410 };
    const f = encodeWatchFrame({ type: 'ERROR', object: status });
    expect(decodeWatchFrame(f.subarray(4))).toEqual({ type: 'ERROR', object: status });
  });
});

describe('bad input', () => {
  it('a wrong magic', () => {
    const good = encodeObject(richNode);
    expectProtocolError(() => decodeObject(Buffer.concat([Buffer.from('k8s!'), good.subarray(4)])), /expected magic 6b 38 73 00 .*got 6b 38 73 21/);
    expectProtocolError(() => decodeObject(Buffer.from('{"kind":"Node"}')), /not a Kubernetes protobuf object.*got 7b 22 6b 69/);
    expectProtocolError(() => decodeObject(new Uint8Array(0)), /got \(nothing\)/);
  });

  it('an unknown kind, or a known kind of another apiVersion', () => {
    expectProtocolError(() => decodeObject(envelope('v1', 'Pod', message([1, LEN, message([1, LEN, 'p'])]))), /unknown kind "Pod" \(apiVersion "v1"\)/);
    expectProtocolError(() => decodeObject(envelope('discovery.k8s.io/v1beta1', 'EndpointSlice', new Uint8Array(0))), /unknown kind "EndpointSlice" \(apiVersion "discovery.k8s.io\/v1beta1"\)/);
  });

  it('a field of the wrong wire type, named with its message', () => {
    const raw = serviceBytes('web', '5', [[1, LEN, message([3, LEN, '80'])]]);
    expectProtocolError(() => decodeObject(envelope('v1', 'Service', raw)), /Service.*k8s\.io\.api\.core\.v1\.ServicePort\.port \(field 3\) has wire type 2 \(length-delimited\), expected 0 \(varint\)/);
    const meta = message([1, LEN, message([1, VARINT, 5])]);
    expectProtocolError(() => decodeObject(envelope('v1', 'Node', meta)), /ObjectMeta\.name \(field 1\) has wire type 0 \(varint\), expected 2/);
  });

  it('a truncated message', () => {
    const good = encodeObject(richService);
    expectProtocolError(() => decodeObject(good.subarray(0, good.length - 10)), /cannot decode|bad envelope/);
    const raw = serviceBytes('web', '5');
    expectProtocolError(() => decodeObject(envelope('v1', 'Service', raw.subarray(0, raw.length - 3))), /Service\): cannot decode k8s\.io\.api\.core\.v1\.Service: index out of range/);
  });

  it('a compressed or foreign payload inside the envelope', () => {
    expectProtocolError(() => decodeObject(envelope('v1', 'Node', new Uint8Array(0), [[3, LEN, 'gzip']])), /unsupported contentEncoding "gzip"/);
    expectProtocolError(() => decodeObject(envelope('v1', 'Node', new Uint8Array(0), [[4, LEN, 'application/json']])), /unsupported contentType "application\/json"/);
  });

  it('a watch event that is not one', () => {
    expectProtocolError(() => decodeWatchFrame(message([1, LEN, 'UPSERTED'], [2, LEN, message([1, LEN, encodeObject(richNode)])])), /not a watch event: type "UPSERTED"/);
    expectProtocolError(() => decodeWatchFrame(message([1, LEN, 'ADDED'])), /watch event ADDED has no object/);
    expectProtocolError(() => decodeWatchFrame(frame('ADDED', Buffer.from('k8s')).subarray(4)), /watch event ADDED: not a Kubernetes protobuf object/);
  });
});

describe('frames', () => {
  const a = encodeWatchFrame({ type: 'ADDED', object: richNode });
  const b = encodeWatchFrame({ type: 'MODIFIED', object: richService });

  it('are reassembled from any split of the stream', () => {
    const stream = Buffer.concat([a, b]);
    for (const step of [1, 3, 4, 5, 17, stream.length]) {
      const r = new FrameReader();
      const out: string[] = [];
      for (let i = 0; i < stream.length; i += step) {
        r.push(stream.subarray(i, i + step));
        let f: Buffer | undefined;
        while ((f = r.next())) out.push(decodeWatchFrame(f).type);
      }
      r.end();
      expect(r.next()).toBeUndefined();
      expect(out, `split every ${step}`).toEqual(['ADDED', 'MODIFIED']);
    }
  });

  it('refuse a huge length prefix at once, without waiting for the bytes', () => {
    const r = new FrameReader();
    r.push(Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]));
    expect(() => r.next()).toThrow(new ProtocolError(`watch frame length 4294967280 exceeds the limit of ${DEFAULT_MAX_FRAME_BYTES} bytes`));
    const small = new FrameReader(64);
    small.push(lengthPrefixed(new Uint8Array(65)));
    expect(() => small.next()).toThrow(/watch frame length 65 exceeds the limit of 64 bytes/);
  });

  it('refuse a stream that ends inside a frame or its length prefix', () => {
    const r = new FrameReader();
    r.push(a.subarray(0, 10));
    expect(r.next()).toBeUndefined();
    r.end();
    expect(() => r.next()).toThrow(new ProtocolError(`watch stream ended inside a frame: 6 of ${a.length - 4} bytes`));
    const p = new FrameReader();
    p.push(Buffer.from([0, 0]));
    p.end();
    expect(() => p.next()).toThrow(/inside a frame's length prefix \(2 of 4 bytes\)/);
  });
});
