// Seeded fuzzing of the boundary: thousands of malformed Services and EndpointSlices must never make
// the model throw, every Problem must say where it is, and one well-formed Service mixed into the
// garbage must come out exactly as it does on its own.

import { describe, expect, it } from 'vitest';
import {
  buildDesiredState,
  parseCIDR,
  parseEndpointSlice,
  parseIP,
  parseNode,
  parseService,
  type BuildResult,
} from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from './fixtures.js';

/** mulberry32: small, fast, and the same sequence on every platform for a given seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;

// Nothing here may spell the "keep" namespace, so garbage can never collide with the known-good objects.
const JUNK: readonly unknown[] = [
  null,
  undefined,
  0,
  -1,
  1.5,
  65536,
  70000,
  2 ** 31,
  2 ** 53 + 2,
  1e308,
  -1e308,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  -0,
  true,
  false,
  '',
  ' ',
  'abc',
  '80',
  'None',
  'TCP',
  'tcp',
  'ICMP',
  'Local',
  'Cluster',
  'ClientIP',
  'LoadBalancer',
  'NodePort',
  'ExternalName',
  'IPv4',
  'IPv6',
  'FQDN',
  'Proxy',
  'VIP',
  '10.0.0.1',
  '10.0.0.256',
  '1.2.3',
  '::1',
  'fe80::1%eth0',
  '::ffff:1.2.3.4',
  '2001:db8::1',
  '1:2:3:4:5:6:7:8:9',
  '10.0.0.0/8',
  '10.0.0.0/33',
  'fd00::/129',
  'web',
  'default',
  'UPPER',
  'a/b',
  'x'.repeat(300),
  '\u0000',
  '__proto__',
  [],
  [null],
  [1, 'a', {}],
  {},
  { name: 5 },
  { ip: 'nope' },
  { port: 'http' },
  [[[[[]]]]],
  10n,
  () => 1,
  Symbol('s'),
];

function junk(r: Rand, depth = 0): unknown {
  const roll = r();
  if (roll < 0.75 || depth > 2) return pick(r, JUNK);
  if (roll < 0.87) return Array.from({ length: int(r, 4) }, () => junk(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(r, 4); i > 0; i--) o[pick(r, ['name', 'port', 'ip', 'spec', 'metadata', 'addresses', 'conditions', 'x'])] = junk(r, depth + 1);
  return o;
}

/** Replace, delete or wrap one randomly chosen node of a JSON tree (mutates `root`). */
function mutate(r: Rand, root: Record<string, unknown>): void {
  let node: unknown = root;
  for (let depth = 0; depth < 6; depth++) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node as object);
    if (keys.length === 0) return;
    const k = pick(r, keys as (string | number)[]);
    const container = node as Record<string | number, unknown>;
    const child = container[k];
    const descend = typeof child === 'object' && child !== null && r() < 0.6;
    if (descend) {
      node = child;
      continue;
    }
    const action = r();
    if (action < 0.5) container[k] = junk(r);
    else if (action < 0.7) delete container[k];
    else if (action < 0.85) container[k] = [child];
    else container[k] = { value: child };
    return;
  }
}

function randomService(r: Rand, i: number): unknown {
  if (r() < 0.05) return junk(r);
  const s = svc({
    name: `svc-${i}`,
    spec: {
      type: pick(r, ['ClusterIP', 'NodePort', 'LoadBalancer']),
      clusterIP: '10.96.1.1',
      clusterIPs: r() < 0.5 ? ['10.96.1.1'] : ['10.96.1.1', 'fd00:96::1'],
      ports: [
        { name: 'a', port: 80, targetPort: 'web', nodePort: 30000 + i },
        { name: 'b', port: 53, protocol: 'UDP' },
      ],
      externalIPs: ['203.0.113.9'],
      loadBalancerSourceRanges: ['198.51.100.0/24'],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } },
      externalTrafficPolicy: pick(r, ['Cluster', 'Local']),
      healthCheckNodePort: 32000,
    },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.9' }, { ip: '198.51.100.8', ipMode: 'Proxy' }] } },
  }) as Record<string, unknown>;
  for (let m = 1 + int(r, 4); m > 0; m--) mutate(r, s);
  return s;
}

function randomSlice(r: Rand, i: number): unknown {
  if (r() < 0.05) return junk(r);
  const s = slice({
    name: `slice-${i}`,
    service: `svc-${int(r, 50)}`,
    addressType: pick(r, ['IPv4', 'IPv4', 'IPv6']),
    ports: [{ name: 'a', port: 8080 }, { name: 'b', port: 53, protocol: 'UDP' }],
    endpoints: [
      ep('10.244.1.1', { node: 'node-a', zone: 'zone-a', forZones: ['zone-a'] }),
      ep('fd00:244::1', { ready: false, serving: true, terminating: true }),
      ep('10.244.2.2', { node: 'node-b' }),
    ],
  }) as Record<string, unknown>;
  for (let m = 1 + int(r, 4); m > 0; m--) mutate(r, s);
  return s;
}

const GOOD_SERVICE = svc({
  ns: 'keep',
  name: 'good',
  spec: {
    type: 'LoadBalancer',
    clusterIP: '10.96.7.7',
    clusterIPs: ['10.96.7.7', 'fd00:96::7'],
    ports: [
      { name: 'http', port: 80, targetPort: 'web', nodePort: 31080 },
      { name: 'dns', port: 53, protocol: 'UDP', nodePort: 31053 },
    ],
    externalIPs: ['203.0.113.7', '2001:db8::7'],
    loadBalancerSourceRanges: ['198.51.100.0/24'],
    sessionAffinity: 'ClientIP',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32007,
  },
  status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { ip: '2001:db8::70', ipMode: 'Proxy' }] } },
});
const GOOD_SLICES = [
  slice({
    ns: 'keep',
    service: 'good',
    name: 'good-4',
    ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'UDP' }],
    endpoints: [ep('10.244.1.7', { node: 'node-a' }), ep('10.244.2.7', { node: 'node-b' }), ep('10.244.3.7', { ready: false, serving: true, terminating: true })],
  }),
  slice({
    ns: 'keep',
    service: 'good',
    name: 'good-6',
    addressType: 'IPv6',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: [ep('fd00:244::7', { node: 'node-b' })],
  }),
];

const KNOWN_OBJECT = /^(Service|EndpointSlice) (\?|[a-z0-9.-]+\/(\?|[a-z0-9.-]+))$|^(NodeContext|BuildInput)$/;

function goodEntries(r: BuildResult): [string, unknown][] {
  return [...r.state.services.entries()].filter(([k]) => k.startsWith('keep/'));
}

describe('fuzz', () => {
  const alone = buildDesiredState({ services: [GOOD_SERVICE], endpointSlices: GOOD_SLICES, node: NODE });

  it('the known-good Service is well-formed on its own', () => {
    expect(alone.problems).toEqual([]);
    expect([...alone.state.services.keys()]).toEqual(['keep/good:dns', 'keep/good:dns@IPv6', 'keep/good:http', 'keep/good:http@IPv6']);
  });

  it.each([1, 2, 3, 4, 5])('seed %i: 800 services + 800 slices of garbage around the good one', (seed) => {
    const r = prng(seed);
    const services: unknown[] = Array.from({ length: 800 }, (_, i) => randomService(r, i));
    const endpointSlices: unknown[] = Array.from({ length: 800 }, (_, i) => randomSlice(r, i));
    services.splice(int(r, services.length), 0, GOOD_SERVICE);
    for (const s of GOOD_SLICES) endpointSlices.splice(int(r, endpointSlices.length), 0, s);

    // Individually, every parser stays total.
    for (const o of services) expect(() => parseService(o)).not.toThrow();
    for (const o of endpointSlices) {
      expect(() => parseEndpointSlice(o)).not.toThrow();
      expect(() => parseNode(o)).not.toThrow();
    }

    let result: BuildResult | undefined;
    expect(() => {
      result = buildDesiredState({ services, endpointSlices, node: NODE });
    }).not.toThrow();
    if (!result) throw new Error('unreachable');

    expect(result.problems.length).toBeGreaterThan(0);
    for (const p of result.problems) {
      expect(p.object).toMatch(KNOWN_OBJECT);
      expect(typeof p.field).toBe('string');
      expect(p.field.length).toBeGreaterThan(0);
      expect(p.message.length).toBeGreaterThan(0);
    }

    expect(goodEntries(result)).toEqual(goodEntries(alone));

    // Whatever survived is internally consistent: addresses parse in the entry's family, ports are ports.
    for (const d of result.state.services.values()) {
      for (const f of d.frontends) {
        const ip = parseIP(f.address);
        expect(ip.ok && ip.ip.family).toBe(d.family);
        expect(Number.isInteger(f.port) && f.port >= 1 && f.port <= 65535).toBe(true);
        for (const c of f.sourceRanges ?? []) expect(parseCIDR(c).ok).toBe(true);
      }
      for (const set of [d.internalBackends, d.externalBackends, d.shortCircuitBackends]) {
        for (const b of set.backends) {
          const ip = parseIP(b.ip);
          expect(ip.ok && ip.ip.family).toBe(d.family);
          expect(Number.isInteger(b.port) && b.port >= 1 && b.port <= 65535).toBe(true);
        }
      }
    }
  });
});
