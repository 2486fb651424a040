// Cases ported from kube-proxy's TestCategorizeEndpoints (pkg/proxy/topology_test.go).

import { describe, expect, it } from 'vitest';
import { categorizeEndpoints, type Endpoint, type TrafficPolicyInfo } from '../../../src/model/index.js';

interface E {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  local?: boolean;
  zones?: string[];
  nodes?: string[];
}

function e(addr: string, o: E = {}): Endpoint {
  const [ip = '', port = '80'] = addr.split(':');
  const ready = o.ready ?? false;
  return {
    ip,
    port: Number(port),
    ready,
    serving: o.serving ?? ready,
    terminating: o.terminating ?? false,
    isLocal: o.local ?? false,
    zoneHints: o.zones ?? [],
    nodeHints: o.nodes ?? [],
  };
}

const CLUSTER: TrafficPolicyInfo = { internalPolicyLocal: false, externalPolicyLocal: false, externallyAccessible: false };
const NODEPORT = { externallyAccessible: true }; // kube-proxy's tests use nodePort: 8080 for this

interface Case {
  name: string;
  zone?: string;
  nodeName?: string;
  preferSameNode?: boolean;
  svc: Partial<TrafficPolicyInfo>;
  endpoints: Endpoint[];
  /** null = the port never uses that policy. */
  cluster: string[] | null;
  local: string[] | null;
  /** Defaults to whichever of cluster/local is non-null when only one is. */
  all?: string[];
  /** hasAnyEndpoints although nothing is reachable from this node. */
  onlyRemote?: boolean;
  mode?: string;
}

const ids = (eps: readonly Endpoint[] | null): string[] | null => (eps === null ? null : eps.map((x) => `${x.ip}:${x.port}`).sort());

const cases: Case[] = [
  {
    name: 'zone hints: endpoints hinted for this zone only',
    zone: 'zone-a',
    svc: {},
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: true }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true }),
      e('10.1.2.5:80', { zones: ['zone-c'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: true }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: null,
    mode: 'PreferSameZone',
  },
  {
    name: 'externalTrafficPolicy: Local, topology ignored for Local endpoints',
    zone: 'zone-a',
    svc: { externalPolicyLocal: true, ...NODEPORT },
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: true, local: true }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true, local: true }),
      e('10.1.2.5:80', { zones: ['zone-c'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: true }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: ['10.1.2.3:80', '10.1.2.4:80'],
    all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
  },
  {
    name: 'internalTrafficPolicy: Local, topology ignored for Local endpoints',
    zone: 'zone-a',
    svc: { internalPolicyLocal: true, ...NODEPORT },
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: true, local: true }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true, local: true }),
      e('10.1.2.5:80', { zones: ['zone-c'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: true }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: ['10.1.2.3:80', '10.1.2.4:80'],
    all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
  },
  {
    name: 'node has no zone label: hints ignored',
    svc: {},
    endpoints: [e('10.1.2.3:80', { zones: ['zone-a'], ready: true })],
    cluster: ['10.1.2.3:80'],
    local: null,
    mode: '',
  },
  {
    name: 'empty zone label: hints ignored',
    zone: '',
    svc: {},
    endpoints: [e('10.1.2.3:80', { zones: ['zone-a'], ready: true })],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'node in a zone no endpoint is hinted for: no filtering',
    zone: 'zone-b',
    svc: {},
    endpoints: [e('10.1.2.3:80', { zones: ['zone-a'], ready: true })],
    cluster: ['10.1.2.3:80'],
    local: null,
    mode: '',
  },
  {
    name: 'unready endpoint is not used even if hinted for this zone',
    zone: 'zone-a',
    svc: {},
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: true }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true }),
      e('10.1.2.5:80', { zones: ['zone-c'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: false }),
    ],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'only unready endpoints in this zone: no filtering',
    zone: 'zone-a',
    svc: {},
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: false }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true }),
      e('10.1.2.5:80', { zones: ['zone-c'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: false }),
    ],
    cluster: ['10.1.2.4:80', '10.1.2.5:80'],
    local: null,
  },
  {
    name: 'one ready endpoint without hints: all hints ignored',
    zone: 'zone-a',
    svc: {},
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a'], ready: true }),
      e('10.1.2.4:80', { zones: ['zone-b'], ready: true }),
      e('10.1.2.5:80', { ready: true }),
      e('10.1.2.6:80', { zones: ['zone-a'], ready: true }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.5:80', '10.1.2.6:80'],
    local: null,
    mode: '',
  },
  {
    name: 'multiple hints per endpoint: any match counts',
    zone: 'zone-c',
    svc: {},
    endpoints: [
      e('10.1.2.3:80', { zones: ['zone-a', 'zone-b', 'zone-c'], ready: true }),
      e('10.1.2.4:80', { zones: ['zone-b', 'zone-c'], ready: true }),
      e('10.1.2.5:80', { zones: ['zone-b', 'zone-d'], ready: true }),
      e('10.1.2.6:80', { zones: ['zone-c'], ready: true }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'conflicting topology and localness require merging allEndpoints',
    zone: 'zone-a',
    svc: { externalPolicyLocal: true, ...NODEPORT },
    endpoints: [
      e('10.0.0.0:80', { zones: ['zone-a'], ready: true, local: true }),
      e('10.0.0.1:80', { zones: ['zone-b'], ready: true, local: true }),
      e('10.0.0.2:80', { zones: ['zone-a'], ready: true }),
      e('10.0.0.3:80', { zones: ['zone-b'], ready: true }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.2:80'],
    local: ['10.0.0.0:80', '10.0.0.1:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'],
  },
  {
    name: 'node hints: PreferSameNode',
    zone: 'zone-a',
    nodeName: 'node-a',
    svc: {},
    endpoints: [
      e('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-a'], ready: true }),
      e('10.0.0.2:80', { zones: ['zone-a'], nodes: ['node-b'], ready: true }),
      e('10.0.0.3:80', { zones: ['zone-b'], nodes: ['node-c'], ready: true }),
    ],
    cluster: ['10.0.0.1:80'],
    local: null,
    mode: 'PreferSameNode',
  },
  {
    name: 'node hints disabled: falls to zone hints',
    zone: 'zone-a',
    nodeName: 'node-a',
    preferSameNode: false,
    svc: {},
    endpoints: [
      e('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-a'], ready: true }),
      e('10.0.0.2:80', { zones: ['zone-a'], nodes: ['node-b'], ready: true }),
      e('10.0.0.3:80', { zones: ['zone-b'], nodes: ['node-c'], ready: true }),
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'],
    local: null,
    mode: 'PreferSameZone',
  },
  {
    name: 'node hints: none for this node, falls back to zone hints',
    zone: 'zone-a',
    nodeName: 'node-z',
    svc: {},
    endpoints: [
      e('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-a'], ready: true }),
      e('10.0.0.2:80', { zones: ['zone-a'], nodes: ['node-b'], ready: true }),
      e('10.0.0.3:80', { zones: ['zone-b'], nodes: ['node-c'], ready: true }),
    ],
    cluster: ['10.0.0.1:80', '10.0.0.2:80'],
    local: null,
    mode: 'PreferSameZone',
  },
  {
    name: 'node hints: one ready endpoint lacks a node hint, falls back to zone hints',
    zone: 'zone-b',
    nodeName: 'node-a',
    svc: {},
    endpoints: [
      e('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-a'], ready: true }),
      e('10.0.0.2:80', { zones: ['zone-b'], ready: true }),
    ],
    cluster: ['10.0.0.2:80'],
    local: null,
    mode: 'PreferSameZone',
  },
  {
    name: 'node hints: a not-ready endpoint without hints does not disable them',
    nodeName: 'node-a',
    svc: {},
    endpoints: [e('10.0.0.1:80', { nodes: ['node-a'], ready: true }), e('10.0.0.2:80', { ready: false }), e('10.0.0.3:80', { nodes: ['node-b'], ready: true })],
    cluster: ['10.0.0.1:80'],
    local: null,
    mode: 'PreferSameNode',
  },
  {
    name: 'internalTrafficPolicy: Local, with empty endpoints',
    svc: { internalPolicyLocal: true },
    endpoints: [],
    cluster: null,
    local: [],
  },
  {
    name: 'internalTrafficPolicy: Local, but all endpoints are remote',
    svc: { internalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true }), e('10.0.0.1:80', { ready: true })],
    cluster: null,
    local: [],
    onlyRemote: true,
  },
  {
    name: 'internalTrafficPolicy: Local, all endpoints are local',
    svc: { internalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true, local: true }), e('10.0.0.1:80', { ready: true, local: true })],
    cluster: null,
    local: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'internalTrafficPolicy: Local, some endpoints are local',
    svc: { internalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true, local: true }), e('10.0.0.1:80', { ready: true })],
    cluster: null,
    local: ['10.0.0.0:80'],
  },
  {
    name: 'Cluster traffic policy, endpoints not Ready',
    svc: {},
    endpoints: [e('10.0.0.0:80'), e('10.0.0.1:80')],
    cluster: [],
    local: null,
  },
  {
    name: 'Cluster traffic policy, some endpoints are Ready',
    svc: {},
    endpoints: [e('10.0.0.0:80'), e('10.0.0.1:80', { ready: true })],
    cluster: ['10.0.0.1:80'],
    local: null,
  },
  {
    name: 'Cluster traffic policy, all endpoints are terminating: fall back to serving-terminating',
    svc: {},
    endpoints: [
      e('10.0.0.0:80', { serving: true, terminating: true, local: true }),
      e('10.0.0.1:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
  },
  {
    name: 'Cluster traffic policy, terminating but not serving endpoints are never used',
    svc: {},
    endpoints: [e('10.0.0.0:80', { serving: false, terminating: true }), e('10.0.0.1:80', { serving: true, terminating: true })],
    cluster: ['10.0.0.1:80'],
    local: null,
  },
  {
    name: 'terminating fallback ignores topology hints',
    zone: 'zone-a',
    svc: {},
    endpoints: [
      e('10.0.0.0:80', { serving: true, terminating: true, zones: ['zone-a'] }),
      e('10.0.0.1:80', { serving: true, terminating: true, zones: ['zone-b'] }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
    mode: '',
  },
  {
    name: 'iTP: Local, eTP: Cluster, some endpoints local',
    svc: { internalPolicyLocal: true, ...NODEPORT },
    endpoints: [e('10.0.0.0:80', { ready: true, local: true }), e('10.0.0.1:80', { ready: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP: Cluster, eTP: Local, some endpoints local',
    svc: { externalPolicyLocal: true, ...NODEPORT },
    endpoints: [e('10.0.0.0:80', { ready: true, local: true }), e('10.0.0.1:80', { ready: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, some endpoints local',
    svc: { internalPolicyLocal: true, externalPolicyLocal: true, ...NODEPORT },
    endpoints: [e('10.0.0.0:80', { ready: true, local: true }), e('10.0.0.1:80', { ready: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote',
    svc: { internalPolicyLocal: true, externalPolicyLocal: true, ...NODEPORT },
    endpoints: [e('10.0.0.0:80', { ready: true }), e('10.0.0.1:80', { ready: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: [],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote and terminating',
    svc: { internalPolicyLocal: true, externalPolicyLocal: true, ...NODEPORT },
    endpoints: [e('10.0.0.0:80', { serving: true, terminating: true }), e('10.0.0.1:80', { serving: true, terminating: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: [],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
    onlyRemote: true,
  },
  {
    name: 'iTP: Cluster, eTP: Local, with terminating endpoints: Local falls back on its own',
    svc: { externalPolicyLocal: true, ...NODEPORT },
    endpoints: [
      e('10.0.0.0:80', { ready: true }),
      e('10.0.0.1:80', { serving: false, local: true }),
      e('10.0.0.2:80', { serving: true, terminating: true, local: true }),
      e('10.0.0.3:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.0:80'],
    local: ['10.0.0.2:80'],
    all: ['10.0.0.0:80', '10.0.0.2:80'],
  },
  {
    name: 'iTP: Local, with terminating local endpoints: Local falls back on its own',
    svc: { internalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true }), e('10.0.0.2:80', { serving: true, terminating: true, local: true })],
    cluster: null,
    local: ['10.0.0.2:80'],
  },
  {
    name: 'externalTrafficPolicy ignored if not externally accessible',
    svc: { externalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true }), e('10.0.0.1:80', { ready: true, local: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
  },
  {
    name: 'no cluster endpoints for iTP:Local internal-only service',
    svc: { internalPolicyLocal: true },
    endpoints: [e('10.0.0.0:80', { ready: true }), e('10.0.0.1:80', { ready: true, local: true })],
    cluster: null,
    local: ['10.0.0.1:80'],
  },
  {
    name: 'no endpoints at all',
    svc: {},
    endpoints: [],
    cluster: [],
    local: null,
  },
];

describe('categorizeEndpoints', () => {
  it.each(cases)('$name', (tc) => {
    const got = categorizeEndpoints(tc.endpoints, { ...CLUSTER, ...tc.svc }, {
      nodeName: tc.nodeName ?? 'node-x',
      ...(tc.zone !== undefined ? { zone: tc.zone } : {}),
      ...(tc.preferSameNode !== undefined ? { preferSameNode: tc.preferSameNode } : {}),
    });
    expect(ids(got.clusterEndpoints)).toEqual(tc.cluster);
    expect(ids(got.localEndpoints)).toEqual(tc.local);
    const all = tc.all ?? (tc.cluster !== null && tc.local === null ? tc.cluster : tc.local !== null && tc.cluster === null ? tc.local : []);
    expect(ids(got.allReachableEndpoints)).toEqual([...all].sort());
    expect(got.hasAnyEndpoints).toBe(all.length > 0 || tc.onlyRemote === true);
    if (tc.mode !== undefined) expect(got.topologyMode).toBe(tc.mode);
  });
});
