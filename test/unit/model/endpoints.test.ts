import { describe, expect, it } from 'vitest';
import {
  buildEndpointsMap,
  endpointSliceSkipReason,
  endpointsKey,
  parseEndpointSlice,
  type EndpointSlice,
} from '../../../src/model/index.js';
import { ep, slice } from './fixtures.js';

function parsed(obj: unknown): EndpointSlice {
  const r = parseEndpointSlice(obj);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

const HTTP4 = endpointsKey('default', 'web', 'http', 'TCP', 4);

/** ip:port list per key, the way kube-proxy's tests compare endpoint maps. */
function summary(slices: unknown[], nodeName = 'node-a'): Record<string, string[]> {
  const m = buildEndpointsMap(slices.map(parsed), nodeName);
  return Object.fromEntries([...m].map(([k, eps]) => [k, eps.map((e) => `${e.ip}:${e.port}`)]));
}

describe('buildEndpointsMap', () => {
  it.each([
    {
      name: 'basic',
      slices: [slice({ endpoints: [ep('10.244.1.2'), ep('10.244.1.1')] })],
      want: { [HTTP4]: ['10.244.1.1:8080', '10.244.1.2:8080'] },
    },
    {
      name: 'multiport: one group per port name',
      slices: [
        slice({
          ports: [{ name: 'http', port: 8080 }, { name: 'https', port: 8443 }],
          endpoints: [ep('10.244.1.1')],
        }),
      ],
      want: { [HTTP4]: ['10.244.1.1:8080'], [endpointsKey('default', 'web', 'https', 'TCP', 4)]: ['10.244.1.1:8443'] },
    },
    {
      name: 'same port name, different protocols',
      slices: [
        slice({
          ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns', port: 53, protocol: 'TCP' }],
          endpoints: [ep('10.244.1.1')],
        }),
      ],
      want: {
        [endpointsKey('default', 'web', 'dns', 'UDP', 4)]: ['10.244.1.1:53'],
        [endpointsKey('default', 'web', 'dns', 'TCP', 4)]: ['10.244.1.1:53'],
      },
    },
    {
      name: 'named targetPort resolved per endpoint: slices differ in port number',
      slices: [
        slice({ name: 'web-1', endpoints: [ep('10.244.1.1')] }),
        slice({ name: 'web-2', ports: [{ name: 'http', port: 9090 }], endpoints: [ep('10.244.2.1')] }),
      ],
      want: { [HTTP4]: ['10.244.1.1:8080', '10.244.2.1:9090'] },
    },
    {
      name: 'unnamed port',
      slices: [slice({ ports: [{ port: 8080 }], endpoints: [ep('10.244.1.1')] })],
      want: { [endpointsKey('default', 'web', '', 'TCP', 4)]: ['10.244.1.1:8080'] },
    },
    {
      name: 'IPv6 slices form their own group',
      slices: [slice({ name: 'web-6', addressType: 'IPv6', endpoints: [ep('fd00:244::1')] })],
      want: { [endpointsKey('default', 'web', 'http', 'TCP', 6)]: ['fd00:244::1:8080'] },
    },
    {
      name: 'namespaces are kept apart',
      slices: [slice({ ns: 'a', endpoints: [ep('10.244.1.1')] }), slice({ ns: 'b', endpoints: [ep('10.244.1.2')] })],
      want: {
        [endpointsKey('a', 'web', 'http', 'TCP', 4)]: ['10.244.1.1:8080'],
        [endpointsKey('b', 'web', 'http', 'TCP', 4)]: ['10.244.1.2:8080'],
      },
    },
    { name: 'FQDN slices are ignored', slices: [slice({ addressType: 'FQDN', endpoints: [] })], want: {} },
    {
      name: 'headless-labelled slices are ignored',
      slices: [slice({ labels: { 'service.kubernetes.io/headless': '' }, endpoints: [ep('10.244.1.1')] })],
      want: {},
    },
    {
      name: 'service-proxy-name-labelled slices are ignored',
      slices: [slice({ labels: { 'service.kubernetes.io/service-proxy-name': 'x' }, endpoints: [ep('10.244.1.1')] })],
      want: {},
    },
  ])('$name', ({ slices, want }) => {
    expect(summary(slices)).toEqual(want);
  });

  it('conditions, locality, zone and hints are carried per endpoint', () => {
    const m = buildEndpointsMap(
      [
        parsed(
          slice({
            endpoints: [
              ep('10.244.1.1', { node: 'node-a', zone: 'zone-a', forZones: ['zone-a'], forNodes: ['node-a'] }),
              ep('10.244.2.1', { node: 'node-b', ready: false, serving: true, terminating: true }),
              ep('10.244.3.1'),
            ],
          }),
        ),
      ],
      'node-a',
    );
    expect(m.get(HTTP4)).toEqual([
      { ip: '10.244.1.1', port: 8080, ready: true, serving: true, terminating: false, isLocal: true, nodeName: 'node-a', zone: 'zone-a', zoneHints: ['zone-a'], nodeHints: ['node-a'] },
      { ip: '10.244.2.1', port: 8080, ready: false, serving: true, terminating: true, isLocal: false, nodeName: 'node-b', zoneHints: [], nodeHints: [] },
      { ip: '10.244.3.1', port: 8080, ready: true, serving: true, terminating: false, isLocal: false, zoneHints: [], nodeHints: [] },
    ]);
  });

  it('an empty node name never makes endpoints local', () => {
    const m = buildEndpointsMap([parsed(slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' })] }))], '');
    expect(m.get(HTTP4)?.[0]?.isLocal).toBe(false);
  });

  it.each([
    {
      name: 'ready wins over not-ready, whatever the slice order',
      a: ep('10.244.1.1', { ready: false }),
      b: ep('10.244.1.1', { ready: true }),
      want: { ready: true },
    },
    {
      name: 'serving+terminating wins over not serving',
      a: ep('10.244.1.1', { ready: false, serving: false }),
      b: ep('10.244.1.1', { ready: false, serving: true, terminating: true }),
      want: { ready: false, serving: true, terminating: true },
    },
    {
      name: 'between equally usable copies the local one wins (kube-proxy)',
      a: ep('10.244.1.1', { node: 'node-b' }),
      b: ep('10.244.1.1', { node: 'node-a' }),
      want: { isLocal: true },
    },
  ])('duplicates across slices merge: $name', ({ a, b, want }) => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ]) {
      const m = buildEndpointsMap(
        [parsed(slice({ name: 'web-1', endpoints: [x as Record<string, unknown>] })), parsed(slice({ name: 'web-2', endpoints: [y as Record<string, unknown>] }))],
        'node-a',
      );
      expect(m.get(HTTP4)).toHaveLength(1);
      expect(m.get(HTTP4)?.[0]).toMatchObject(want);
    }
  });
});

describe('endpointSliceSkipReason', () => {
  it.each<{ name: string; labels: Record<string, string>; reason: string | undefined }>([
    { name: 'normal', labels: {}, reason: undefined },
    { name: 'headless', labels: { 'service.kubernetes.io/headless': '' }, reason: 'labelled service.kubernetes.io/headless' },
    { name: 'other proxy', labels: { 'service.kubernetes.io/service-proxy-name': 'p' }, reason: 'labelled service.kubernetes.io/service-proxy-name="p": handled by another proxy' },
    { name: 'no service-name label', labels: { 'kubernetes.io/service-name': '' }, reason: 'no kubernetes.io/service-name label' },
  ])('$name', ({ labels, reason }) => {
    expect(endpointSliceSkipReason(parsed(slice({ labels, endpoints: [] })))).toBe(reason);
  });
});
