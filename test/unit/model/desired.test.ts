// End-to-end: API objects in, desired state out. Scenarios follow kube-proxy's proxier tests
// (pkg/proxy/iptables/proxier_test.go, pkg/proxy/nftables/proxier_test.go).

import { describe, expect, it } from 'vitest';
import {
  buildDesiredState,
  withPrimaryAddress,
  type Backend,
  type BuildResult,
  type DesiredService,
  type NodeContext,
} from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from './fixtures.js';

function build(services: unknown[], endpointSlices: unknown[], node: NodeContext = NODE): BuildResult {
  return buildDesiredState({ services, endpointSlices, node });
}

function get(r: BuildResult, key: string): DesiredService {
  const d = r.state.services.get(key);
  if (!d) throw new Error(`no ${key} in ${[...r.state.services.keys()].join(', ')}`);
  return d;
}

const ips = (bs: readonly Backend[]): string[] => bs.map((b) => `${b.ip}:${b.port}`);
const frontends = (d: DesiredService): string[] =>
  d.frontends.map((f) => `${f.kind} ${f.family === 6 ? `[${f.address}]` : f.address}:${f.port}/${f.protocol}`);

describe('buildDesiredState', () => {
  it('basic ClusterIP service: the full shape', () => {
    const r = build([svc()], [slice({ endpoints: [ep('10.244.1.1', { node: 'node-a', zone: 'zone-a' }), ep('10.244.2.1', { node: 'node-b' })] })]);
    expect(r.problems).toEqual([]);
    expect(r.skipped).toEqual([]);
    expect([...r.state.services.keys()]).toEqual(['default/web:http']);
    expect(get(r, 'default/web:http')).toEqual({
      name: { namespace: 'default', name: 'web', port: 'http', protocol: 'TCP' },
      key: 'default/web:http',
      family: 4,
      clusterIP: '10.96.0.10',
      port: 80,
      protocol: 'TCP',
      targetPort: 8080,
      externalIPs: [],
      loadBalancerIngress: [],
      loadBalancerVIPs: [],
      loadBalancerSourceRanges: [],
      affinity: { type: 'None' },
      internalPolicyLocal: false,
      externalPolicyLocal: false,
      externallyAccessible: false,
      frontends: [{ kind: 'clusterIP', address: '10.96.0.10', port: 80, protocol: 'TCP', family: 4 }],
      internalBackends: {
        backends: [
          { ip: '10.244.1.1', port: 8080, ready: true, serving: true, terminating: false, isLocal: true, nodeName: 'node-a', zone: 'zone-a' },
          { ip: '10.244.2.1', port: 8080, ready: true, serving: true, terminating: false, isLocal: false, nodeName: 'node-b' },
        ],
        dropWhenEmpty: false,
      },
      shortCircuitBackends: { backends: [], dropWhenEmpty: false },
      externalBackends: { backends: [], dropWhenEmpty: false },
      rejectWhenNoEndpoints: false,
      masquerade: { clusterIP: 'offCluster', external: 'all', clusterCIDRs: ['10.244.0.0/16'], podInterface: null, hairpin: true },
      localReadyEndpoints: 1,
      servingEndpoints: [],
      topologyMode: '',
    });
  });

  it('multiport: each port gets its own entry and its own slice port', () => {
    const r = build(
      [svc({ spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'https', port: 443, targetPort: 8443 }] } })],
      [slice({ ports: [{ name: 'http', port: 8080 }, { name: 'https', port: 8443 }], endpoints: [ep('10.244.1.1'), ep('10.244.1.2')] })],
    );
    expect([...r.state.services.keys()]).toEqual(['default/web:http', 'default/web:https']);
    expect(ips(get(r, 'default/web:http').internalBackends.backends)).toEqual(['10.244.1.1:8080', '10.244.1.2:8080']);
    expect(ips(get(r, 'default/web:https').internalBackends.backends)).toEqual(['10.244.1.1:8443', '10.244.1.2:8443']);
  });

  it('same port number, different protocols', () => {
    const r = build(
      [svc({ spec: { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] } })],
      [slice({ ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5353, protocol: 'TCP' }], endpoints: [ep('10.244.1.1')] })],
    );
    expect(frontends(get(r, 'default/web:dns'))).toEqual(['clusterIP 10.96.0.10:53/UDP']);
    expect(frontends(get(r, 'default/web:dns-tcp'))).toEqual(['clusterIP 10.96.0.10:53/TCP']);
    expect(ips(get(r, 'default/web:dns').internalBackends.backends)).toEqual(['10.244.1.1:5353']);
    expect(ips(get(r, 'default/web:dns-tcp').internalBackends.backends)).toEqual(['10.244.1.1:5353']);
  });

  it('a slice port whose protocol differs from the Service port does not match', () => {
    const r = build([svc()], [slice({ ports: [{ name: 'http', port: 8080, protocol: 'UDP' }], endpoints: [ep('10.244.1.1')] })]);
    expect(get(r, 'default/web:http').rejectWhenNoEndpoints).toBe(true);
  });

  it('named targetPorts are resolved per endpoint from each slice', () => {
    const r = build(
      [svc({ spec: { ports: [{ name: 'http', port: 80, targetPort: 'web' }] } })],
      [
        slice({ name: 'web-v1', ports: [{ name: 'http', port: 8080 }], endpoints: [ep('10.244.1.1')] }),
        slice({ name: 'web-v2', ports: [{ name: 'http', port: 9090 }], endpoints: [ep('10.244.1.2')] }),
      ],
    );
    const d = get(r, 'default/web:http');
    expect(d.targetPort).toBe('web');
    expect(ips(d.internalBackends.backends)).toEqual(['10.244.1.1:8080', '10.244.1.2:9090']);
  });

  describe('NodePort frontends on the node addresses nodePortAddresses selects', () => {
    const nodePortSvc = svc({
      spec: {
        type: 'NodePort',
        clusterIPs: ['10.96.0.10', 'fd00:96::10'],
        ports: [{ name: 'http', port: 80, nodePort: 30080 }],
      },
    });
    it.each([
      { name: 'unset: every node address of the family', sel: undefined, v4: ['10.0.0.5', '192.168.1.10'], v6: ['fd00::10'] },
      { name: 'empty list: same as unset', sel: [], v4: ['10.0.0.5', '192.168.1.10'], v6: ['fd00::10'] },
      { name: 'one CIDR per family', sel: ['192.168.0.0/16', 'fd00::/64'], v4: ['192.168.1.10'], v6: ['fd00::10'] },
      { name: 'an IPv4 CIDR only leaves IPv6 unrestricted (kube-proxy)', sel: ['10.0.0.0/8'], v4: ['10.0.0.5'], v6: ['fd00::10'] },
      { name: 'a CIDR matching nothing yields no NodePort frontends', sel: ['172.16.0.0/12'], v4: [], v6: ['fd00::10'] },
      { name: 'primary: the first address of each family', sel: ['primary'], v4: ['192.168.1.10'], v6: ['fd00::10'] },
    ])('$name', ({ sel, v4, v6 }) => {
      const node: NodeContext = { ...NODE, ...(sel ? { nodePortAddresses: sel } : {}) };
      const r = build([nodePortSvc], [slice({ endpoints: [ep('10.244.1.1')] })], node);
      expect(r.problems).toEqual([]);
      const nodePorts = (d: DesiredService): string[] => d.frontends.filter((f) => f.kind === 'nodePort').map((f) => `${f.address}:${f.port}`);
      expect(nodePorts(get(r, 'default/web:http'))).toEqual(v4.map((a) => `${a}:30080`));
      expect(nodePorts(get(r, 'default/web:http@IPv6'))).toEqual(v6.map((a) => `${a}:30080`));
    });

    it('bindAddress (withPrimaryAddress) makes an address the primary one of its family: "primary" serves NodePorts there', () => {
      const nodePorts = (r: ReturnType<typeof build>, key: string) => get(r, key).frontends.filter((f) => f.kind === 'nodePort').map((f) => f.address);
      const node = withPrimaryAddress({ ...NODE, nodePortAddresses: ['primary'] }, '10.0.0.5');
      expect(nodePorts(build([nodePortSvc], [slice({ endpoints: [ep('10.244.1.1')] })], node), 'default/web:http')).toEqual(['10.0.0.5']);
      // The other family keeps its own primary; null changes nothing.
      expect(nodePorts(build([nodePortSvc], [slice({ endpoints: [ep('10.244.1.1')] })], node), 'default/web:http@IPv6')).toEqual(['fd00::10']);
      expect(withPrimaryAddress(NODE, null)).toBe(NODE);
      // Not one of the node's: it would be a NodePort frontend nothing reaches.
      expect(withPrimaryAddress(NODE, '10.9.9.9')).toBe(NODE);
    });

    it('a pod interface that is no interface name is reported against NodeContext and not used', () => {
      const r = build([svc()], [], { ...NODE, podInterface: { name: 'cali" accept; #', prefix: true } });
      expect(r.problems).toEqual([expect.objectContaining({ object: 'NodeContext', field: 'podInterface' })]);
      expect(get(r, 'default/web:http').masquerade.podInterface).toBeNull();
    });

    it('a bad nodePortAddresses entry is reported against NodeContext', () => {
      const r = build([nodePortSvc], [], { ...NODE, nodePortAddresses: ['10.0.0.0/8', 'nope'] });
      expect(r.problems).toEqual([expect.objectContaining({ object: 'NodeContext', field: 'nodePortAddresses[1]' })]);
    });
  });

  it('externalIPs and LoadBalancer ingress: VIP-mode programmed, Proxy-mode not, source ranges on LB only', () => {
    const r = build(
      [
        svc({
          spec: {
            type: 'LoadBalancer',
            ports: [{ name: 'http', port: 80, nodePort: 30080 }],
            externalIPs: ['203.0.113.1'],
            loadBalancerSourceRanges: ['198.51.100.0/24', '2001:db8::/32'],
          },
          status: { loadBalancer: { ingress: [{ ip: '198.51.100.10' }, { ip: '198.51.100.11', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } },
        }),
      ],
      [slice({ endpoints: [ep('10.244.1.1')] })],
      { ...NODE, nodePortAddresses: ['primary'] },
    );
    const d = get(r, 'default/web:http');
    expect(d.frontends).toEqual([
      { kind: 'clusterIP', address: '10.96.0.10', port: 80, protocol: 'TCP', family: 4 },
      { kind: 'nodePort', address: '192.168.1.10', port: 30080, protocol: 'TCP', family: 4 },
      { kind: 'loadBalancer', address: '198.51.100.10', port: 80, protocol: 'TCP', family: 4, sourceRanges: ['198.51.100.0/24'] },
      { kind: 'externalIP', address: '203.0.113.1', port: 80, protocol: 'TCP', family: 4 },
    ]);
    expect(d.externallyAccessible).toBe(true);
    expect(ips(d.externalBackends.backends)).toEqual(['10.244.1.1:8080']);
    expect(d.masquerade.external).toBe('all');
  });

  it('a Service with only Proxy-mode ingress is not externally accessible through it', () => {
    const r = build(
      [svc({ spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: '198.51.100.11', ipMode: 'Proxy' }] } } })],
      [slice({ endpoints: [ep('10.244.1.1')] })],
    );
    const d = get(r, 'default/web:http');
    expect(frontends(d)).toEqual(['clusterIP 10.96.0.10:80/TCP']);
    expect(d.externallyAccessible).toBe(false);
  });

  it('an externalIP equal to a VIP is programmed once, as the load balancer', () => {
    const r = build(
      [
        svc({
          spec: { type: 'LoadBalancer', externalIPs: ['198.51.100.10'], ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }] },
          status: { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } },
        }),
      ],
      [],
    );
    expect(frontends(get(r, 'default/web:a'))).toEqual(['clusterIP 10.96.0.10:80/TCP', 'loadBalancer 198.51.100.10:80/TCP']);
    expect(r.problems).toEqual([expect.objectContaining({ object: 'Service default/web', field: 'spec.externalIPs' })]);
  });

  it.each([
    { name: 'None', spec: {}, affinity: { type: 'None' } },
    { name: 'ClientIP, default timeout', spec: { sessionAffinity: 'ClientIP' }, affinity: { type: 'ClientIP', timeoutSeconds: 10800 } },
    {
      name: 'ClientIP, explicit timeout',
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } },
      affinity: { type: 'ClientIP', timeoutSeconds: 300 },
    },
  ])('affinity: $name', ({ spec, affinity }) => {
    expect(get(build([svc({ spec })], []), 'default/web:http').affinity).toEqual(affinity);
  });

  it('switching affinity on and off changes only the affinity', () => {
    const slices = [slice({ endpoints: [ep('10.244.1.1')] })];
    const before = get(build([svc()], slices), 'default/web:http');
    const on = get(build([svc({ spec: { sessionAffinity: 'ClientIP' } })], slices), 'default/web:http');
    const off = get(build([svc({ spec: { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } } })], slices), 'default/web:http');
    expect(on).toEqual({ ...before, affinity: { type: 'ClientIP', timeoutSeconds: 10800 } });
    expect(off).toEqual(before);
  });

  it('skips what kube-proxy skips and says why, once per object', () => {
    const r = build(
      [
        svc({ name: 'other', labels: { 'service.kubernetes.io/service-proxy-name': 'foo-bar' } }),
        svc({ name: 'headless', spec: { clusterIP: 'None', clusterIPs: ['None'] } }),
        { metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'db.example.com' } },
        svc(),
      ],
      [
        slice({ service: 'headless', labels: { 'service.kubernetes.io/headless': '' }, endpoints: [ep('10.244.1.9')] }),
        slice({ service: 'other', endpoints: [ep('10.244.1.8')] }),
        slice({ service: 'ext', addressType: 'FQDN', endpoints: [] }),
      ],
    );
    expect([...r.state.services.keys()]).toEqual(['default/web:http']);
    expect(r.problems).toEqual([]);
    expect(r.skipped).toEqual([
      { object: 'Service default/other', reason: expect.stringMatching(/service-proxy-name="foo-bar"/) },
      { object: 'Service default/headless', reason: 'headless (clusterIP None)' },
      { object: 'Service default/ext', reason: expect.stringMatching(/ExternalName/) },
      { object: 'EndpointSlice default/headless-abc', reason: 'labelled service.kubernetes.io/headless' },
      { object: 'EndpointSlice default/ext-abc', reason: 'addressType FQDN is not proxied' },
    ]);
  });

  describe('no endpoints and Local policies without local endpoints', () => {
    const np = (extra: Record<string, unknown>): Record<string, unknown> =>
      svc({ spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...extra } });
    const remote = slice({ endpoints: [ep('10.244.2.1', { node: 'node-b' })] });
    const local = slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.2.1', { node: 'node-b' })] });

    it.each([
      {
        name: 'no endpoints at all → REJECT everywhere',
        service: np({}),
        slices: [],
        want: { reject: true, internal: [], internalDrop: false, external: [], externalDrop: false, short: [] },
      },
      {
        name: 'only not-ready endpoints → REJECT',
        service: np({}),
        slices: [slice({ endpoints: [ep('10.244.2.1', { ready: false })] })],
        want: { reject: true, internal: [], internalDrop: false, external: [], externalDrop: false, short: [] },
      },
      {
        name: 'eTP Local, no local endpoints → external DROP; pods and node short-circuit to the cluster set',
        service: np({ externalTrafficPolicy: 'Local' }),
        slices: [remote],
        want: { reject: false, internal: ['10.244.2.1:8080'], internalDrop: false, external: [], externalDrop: true, short: ['10.244.2.1:8080'] },
      },
      {
        name: 'eTP Local with a local endpoint → external gets only it',
        service: np({ externalTrafficPolicy: 'Local' }),
        slices: [local],
        want: { reject: false, internal: ['10.244.1.1:8080', '10.244.2.1:8080'], internalDrop: false, external: ['10.244.1.1:8080'], externalDrop: false, short: ['10.244.1.1:8080', '10.244.2.1:8080'] },
      },
      {
        name: 'iTP Local, no local endpoints → ClusterIP DROP, external still served',
        service: np({ internalTrafficPolicy: 'Local' }),
        slices: [remote],
        want: { reject: false, internal: [], internalDrop: true, external: ['10.244.2.1:8080'], externalDrop: false, short: ['10.244.2.1:8080'] },
      },
      {
        name: 'iTP Local with a local endpoint',
        service: np({ internalTrafficPolicy: 'Local' }),
        slices: [local],
        want: { reject: false, internal: ['10.244.1.1:8080'], internalDrop: false, external: ['10.244.1.1:8080', '10.244.2.1:8080'], externalDrop: false, short: ['10.244.1.1:8080', '10.244.2.1:8080'] },
      },
    ])('$name', ({ service, slices, want }) => {
      const d = get(build([service], slices), 'default/web:http');
      expect({
        reject: d.rejectWhenNoEndpoints,
        internal: ips(d.internalBackends.backends),
        internalDrop: d.internalBackends.dropWhenEmpty,
        external: ips(d.externalBackends.backends),
        externalDrop: d.externalBackends.dropWhenEmpty,
        short: ips(d.shortCircuitBackends.backends),
      }).toEqual(want);
    });
  });

  describe('terminating fallback, per traffic policy', () => {
    const term = (ip: string, node: string): Record<string, unknown> => ep(ip, { node, ready: false, serving: true, terminating: true });
    const svcWith = (extra: Record<string, unknown>): Record<string, unknown> =>
      svc({ spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }], ...extra } });

    it.each([
      {
        name: 'iTP Cluster: all terminating → serving-terminating endpoints used',
        extra: {},
        eps: [term('10.244.1.1', 'node-a'), term('10.244.2.1', 'node-b')],
        internal: ['10.244.1.1:8080', '10.244.2.1:8080'],
        external: ['10.244.1.1:8080', '10.244.2.1:8080'],
      },
      {
        name: 'iTP Cluster: a ready endpoint anywhere beats terminating ones',
        extra: {},
        eps: [term('10.244.1.1', 'node-a'), ep('10.244.2.1', { node: 'node-b' })],
        internal: ['10.244.2.1:8080'],
        external: ['10.244.2.1:8080'],
      },
      {
        name: 'iTP Local: local terminating used while remote ones are ready',
        extra: { internalTrafficPolicy: 'Local' },
        eps: [term('10.244.1.1', 'node-a'), ep('10.244.2.1', { node: 'node-b' })],
        internal: ['10.244.1.1:8080'],
        external: ['10.244.2.1:8080'],
      },
      {
        name: 'eTP Cluster: all terminating → used for external traffic too',
        extra: { externalTrafficPolicy: 'Cluster' },
        eps: [term('10.244.2.1', 'node-b')],
        internal: ['10.244.2.1:8080'],
        external: ['10.244.2.1:8080'],
      },
      {
        name: 'eTP Local: local terminating used while remote ones are ready',
        extra: { externalTrafficPolicy: 'Local' },
        eps: [term('10.244.1.1', 'node-a'), ep('10.244.2.1', { node: 'node-b' })],
        internal: ['10.244.2.1:8080'],
        external: ['10.244.1.1:8080'],
      },
      {
        name: 'eTP Local: terminating but not serving is never used',
        extra: { externalTrafficPolicy: 'Local' },
        eps: [ep('10.244.1.1', { node: 'node-a', ready: false, serving: false, terminating: true }), ep('10.244.2.1', { node: 'node-b' })],
        internal: ['10.244.2.1:8080'],
        external: [],
      },
    ])('$name', ({ extra, eps, internal, external }) => {
      const d = get(build([svcWith(extra)], [slice({ endpoints: eps })]), 'default/web:http');
      expect(ips(d.internalBackends.backends)).toEqual(internal);
      expect(ips(d.externalBackends.backends)).toEqual(external);
      expect(d.rejectWhenNoEndpoints).toBe(false);
    });
  });

  describe('topology hints come from the node context', () => {
    const hinted = slice({
      endpoints: [
        ep('10.244.1.1', { node: 'node-a', zone: 'zone-a', forZones: ['zone-a'], forNodes: ['node-a'] }),
        ep('10.244.1.2', { node: 'node-x', zone: 'zone-a', forZones: ['zone-a'], forNodes: ['node-x'] }),
        ep('10.244.2.1', { node: 'node-b', zone: 'zone-b', forZones: ['zone-b'], forNodes: ['node-b'] }),
      ],
    });
    it.each([
      { name: 'PreferSameNode', node: NODE, want: ['10.244.1.1:8080'], mode: 'PreferSameNode' },
      { name: 'PreferSameZone when node hints are off', node: { ...NODE, preferSameNode: false }, want: ['10.244.1.1:8080', '10.244.1.2:8080'], mode: 'PreferSameZone' },
      { name: 'zone of another node', node: { ...NODE, nodeName: 'node-q', zone: 'zone-b' }, want: ['10.244.2.1:8080'], mode: 'PreferSameZone' },
      {
        name: 'a zone no endpoint is hinted for: all endpoints',
        node: { ...NODE, nodeName: 'node-q', zone: 'zone-q' },
        want: ['10.244.1.1:8080', '10.244.1.2:8080', '10.244.2.1:8080'],
        mode: '',
      },
    ])('$name', ({ node, want, mode }) => {
      const d = get(build([svc()], [hinted], node), 'default/web:http');
      expect(ips(d.internalBackends.backends)).toEqual(want);
      expect(d.topologyMode).toBe(mode);
    });
  });

  it('dual-stack: one entry per family, each with its own frontends and endpoints', () => {
    const r = build(
      [
        svc({
          spec: {
            type: 'NodePort',
            ipFamilies: ['IPv4', 'IPv6'],
            clusterIPs: ['10.96.0.10', 'fd00:96::10'],
            externalIPs: ['203.0.113.1', '2001:db8::1'],
            ports: [{ name: 'http', port: 80, nodePort: 30080 }],
          },
        }),
      ],
      [
        slice({ name: 'web-v4', endpoints: [ep('10.244.1.1')] }),
        slice({ name: 'web-v6', addressType: 'IPv6', endpoints: [ep('fd00:244::1')] }),
      ],
      { ...NODE, nodePortAddresses: ['primary'] },
    );
    expect([...r.state.services.keys()]).toEqual(['default/web:http', 'default/web:http@IPv6']);
    const v4 = get(r, 'default/web:http');
    const v6 = get(r, 'default/web:http@IPv6');
    expect(frontends(v4)).toEqual(['clusterIP 10.96.0.10:80/TCP', 'nodePort 192.168.1.10:30080/TCP', 'externalIP 203.0.113.1:80/TCP']);
    expect(frontends(v6)).toEqual(['clusterIP [fd00:96::10]:80/TCP', 'nodePort [fd00::10]:30080/TCP', 'externalIP [2001:db8::1]:80/TCP']);
    expect(ips(v4.internalBackends.backends)).toEqual(['10.244.1.1:8080']);
    expect(ips(v6.internalBackends.backends)).toEqual(['fd00:244::1:8080']);
    expect(v6.masquerade.clusterCIDRs).toEqual(['fd00:244::/56']);
  });

  it('a single-stack IPv6 Service is keyed with the IPv6 suffix', () => {
    const r = build([svc({ spec: { clusterIP: 'fd00:96::10', clusterIPs: ['fd00:96::10'] } })], []);
    expect([...r.state.services.keys()]).toEqual(['default/web:http@IPv6']);
  });

  it('an EndpointSlice with an unknown address type is reported and ignored', () => {
    const r = build([svc()], [slice({ addressType: 'IPv7', endpoints: [ep('10.244.1.1')] })]);
    expect(r.problems).toEqual([
      { object: 'EndpointSlice default/web-abc', field: 'addressType', message: 'must be one of IPv4|IPv6|FQDN, got "IPv7"' },
    ]);
    expect(get(r, 'default/web:http').rejectWhenNoEndpoints).toBe(true);
  });

  it.each([
    { name: 'clusterCIDRs known: masquerade off-cluster sources', node: NODE, want: 'offCluster' },
    { name: '--masquerade-all', node: { ...NODE, masqueradeAll: true }, want: 'all' },
    { name: 'no clusterCIDR of the family: no local detection', node: { ...NODE, clusterCIDRs: ['fd00:244::/56'] }, want: 'none' },
    { name: 'an interface detector, no CIDR: masquerade what is not from the pod interfaces', node: { ...NODE, clusterCIDRs: [], podInterface: { name: 'cbr0', prefix: false } }, want: 'offCluster' },
  ])('masquerade for ClusterIP traffic: $name', ({ node, want }) => {
    expect(get(build([svc()], [], node), 'default/web:http').masquerade.clusterIP).toBe(want);
  });

  it('eTP Local keeps client IPs except for the node itself', () => {
    const d = get(
      build([svc({ spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] } })], []),
      'default/web:http',
    );
    expect(d.masquerade.external).toBe('nodeOrigin');
  });

  it('servingEndpoints (UDP): every serving endpoint, the terminating ones that get no new flows and the ones a Local policy leaves out included; none that stopped serving', () => {
    const udp = svc({ spec: { type: 'NodePort', externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] } });
    const d = get(
      build([udp], [slice({
        ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }],
        endpoints: [
          ep('10.244.1.1', { node: 'node-a' }),
          ep('10.244.1.3', { node: 'node-a', ready: false, serving: true, terminating: true }),
          ep('10.244.1.4', { node: 'node-a', ready: false, serving: false, terminating: true }),
          ep('10.244.2.1', { node: 'node-b' }),
        ],
      })]),
      'default/web:dns',
    );
    expect(d.internalBackends.backends.map((b) => b.ip)).toEqual(['10.244.1.1']);
    expect(d.servingEndpoints.map((b) => `${b.ip}:${b.port}`).sort()).toEqual(['10.244.1.1:5353', '10.244.1.3:5353', '10.244.2.1:5353']);
    // Shared with the sets, not copied.
    expect(d.servingEndpoints).toContain(d.internalBackends.backends[0]);
  });

  it('health check: localReadyEndpoints counts ready endpoints on this node', () => {
    const d = get(
      build(
        [
          svc({
            spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
          }),
        ],
        [
          slice({
            endpoints: [
              ep('10.244.1.1', { node: 'node-a' }),
              ep('10.244.1.2', { node: 'node-a' }),
              ep('10.244.1.3', { node: 'node-a', ready: false, serving: true, terminating: true }),
              ep('10.244.2.1', { node: 'node-b' }),
            ],
          }),
        ],
      ),
      'default/web:http',
    );
    expect(d.healthCheckNodePort).toBe(32000);
    expect(d.localReadyEndpoints).toBe(2);
  });

  it('a Service listed twice keeps the first and reports the second', () => {
    const r = build([svc(), svc({ spec: { clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.99'] } })], []);
    expect(get(r, 'default/web:http').clusterIP).toBe('10.96.0.10');
    expect(r.problems).toEqual([{ object: 'Service default/web', field: 'metadata.name', message: 'listed twice; keeping the first' }]);
  });

  it('the desired state is deeply frozen', () => {
    const d = get(build([svc()], [slice({ endpoints: [ep('10.244.1.1')] })]), 'default/web:http');
    expect(Object.isFrozen(d)).toBe(true);
    expect(Object.isFrozen(d.frontends[0])).toBe(true);
    expect(Object.isFrozen(d.internalBackends.backends)).toBe(true);
    expect(Object.isFrozen(d.internalBackends.backends[0])).toBe(true);
  });

  it('is deterministic: input order does not matter', () => {
    const services = [svc({ name: 'a' }), svc({ name: 'b', spec: { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] } })];
    const slices = [
      slice({ service: 'a', name: 'a-1', endpoints: [ep('10.244.1.2'), ep('10.244.1.1', { ready: false })] }),
      slice({ service: 'a', name: 'a-2', endpoints: [ep('10.244.1.1'), ep('10.244.1.3')] }),
      slice({ service: 'b', endpoints: [ep('10.244.9.9')] }),
    ];
    const x = build(services, slices);
    const y = build([...services].reverse(), [...slices].reverse());
    expect([...y.state.services.entries()]).toEqual([...x.state.services.entries()]);
    expect(ips(get(x, 'default/a:http').internalBackends.backends)).toEqual(['10.244.1.1:8080', '10.244.1.2:8080', '10.244.1.3:8080']);
  });

  it('non-list inputs are reported, not thrown', () => {
    const r = buildDesiredState({ services: 'nope' as unknown as unknown[], endpointSlices: null as unknown as unknown[], node: NODE });
    expect(r.state.services.size).toBe(0);
    expect(r.problems.map((p) => p.field)).toEqual(['services', 'endpointSlices']);
  });
});
