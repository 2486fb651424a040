// The compiled decoders (one function per message type, written from its field table) against
// the table-driven decodeFields they stand in for: on real Kubernetes objects, on the same
// message twice (merging), on every truncation and on thousands of random byte changes, both
// must give the same object, key order included, or the same error.

import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeObject } from '../../../../src/sources/kubernetes/proto/codec.js';
import { compilePlan, decodeInto, type DecodeMode, type TypePlan } from '../../../../src/sources/kubernetes/proto/decoder.js';
import { CORE, DISCOVERY, lookupType, META } from '../../../../src/sources/kubernetes/proto/schema.js';

/** Some fields whose zero is left out, so that the omit-empty path is compiled too. */
const OMIT: Record<string, string[]> = {
  [`${META}.ObjectMeta`]: ['name', 'namespace', 'uid', 'resourceVersion', 'generation'],
  [`${CORE}.ServiceSpec`]: ['clusterIP', 'type', 'healthCheckNodePort', 'publishNotReadyAddresses'],
  [`${CORE}.ServicePort`]: ['name', 'protocol', 'nodePort'],
};

const plan = (name: string, mode: DecodeMode): TypePlan => compilePlan(lookupType(name), OMIT, mode);

const service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web', namespace: 'default', uid: 'u-1', resourceVersion: '7', generation: 3, creationTimestamp: '2024-03-01T12:00:00Z',
    labels: { app: 'web', 'app.kubernetes.io/part-of': 'shop' }, annotations: { note: '' },
  },
  spec: {
    type: 'LoadBalancer', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'],
    ports: [
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 },
      { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 'metrics' },
    ],
    selector: { app: 'web' }, externalIPs: ['192.0.2.1'], sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, loadBalancerSourceRanges: ['192.0.2.0/24'],
    externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, publishNotReadyAddresses: false, internalTrafficPolicy: 'Cluster',
  },
  status: { loadBalancer: { ingress: [{ ip: '198.51.100.7', ipMode: 'VIP' }, { hostname: 'lb.example' }] } },
};

const slice = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    { addresses: ['10.244.1.1', '10.244.1.9'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'z1', hints: { forZones: [{ name: 'z1' }] } },
    { addresses: ['10.244.2.1'], conditions: { ready: false, serving: true, terminating: true }, hostname: 'pod-b' },
    { addresses: ['10.244.3.1'] },
  ],
  ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: '', protocol: 'UDP', port: 53 }],
};

const raw = (obj: Record<string, unknown>): Uint8Array => decodeEnvelope(encodeObject(obj), 'test').raw;

const CASES: Array<[string, string, Uint8Array]> = [
  ['Service', `${CORE}.Service`, raw(service)],
  ['EndpointSlice', `${DISCOVERY}.EndpointSlice`, raw(slice)],
];

/** What decoding gives: the object as JSON (key order included), or the error's class and message. */
function outcome(p: TypePlan, bytes: Uint8Array): string {
  try {
    return JSON.stringify(decodeInto(p, bytes));
  } catch (err) {
    return `${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

/** A small deterministic PRNG (mulberry32), so that a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(CASES)('compiled decoder of %s', (_name, type, bytes) => {
  const compiled = plan(type, 'compiled');
  const generic = plan(type, 'generic');
  const same = (b: Uint8Array): void => expect(outcome(compiled, b)).toBe(outcome(generic, b));

  it('decodes the object as the table-driven decoder does', () => {
    expect(outcome(compiled, bytes)).not.toMatch(/Error/);
    same(bytes);
  });

  it('merges a message met twice as it does', () => {
    same(Buffer.concat([bytes, bytes]));
    same(Buffer.concat([bytes, raw(type.endsWith('Service') ? { ...service, spec: { ports: [{ port: 1 }] } } : { ...slice, endpoints: [{ addresses: ['10.0.0.1'] }] }), bytes]));
  });

  it('fails on every truncation as it does', () => {
    for (let n = 0; n < bytes.length; n++) same(bytes.subarray(0, n));
  });

  it('agrees on thousands of random byte changes', () => {
    const rand = prng(7);
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(bytes);
      const changes = 1 + Math.floor(rand() * 3);
      for (let c = 0; c < changes; c++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      same(b);
    }
  });
});
