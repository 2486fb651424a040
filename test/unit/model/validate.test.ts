import { describe, expect, it } from 'vitest';
import { nodeContextFromNode, parseEndpointSlice, parseNode, parseService, parseServiceCIDR, resolveNode, serviceCIDRsOf, type Problem } from '../../../src/model/index.js';
import { ep, slice, svc } from './fixtures.js';

const fieldsOf = (problems: readonly Problem[]): string[] => problems.map((p) => p.field);

describe('parseService: a valid object is normalised with API defaults', () => {
  it('fills defaults and canonicalises addresses', () => {
    const r = parseService({
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        clusterIP: '2001:DB8::10',
        ports: [{ port: 80 }],
        externalIPs: ['203.0.113.7', '203.0.113.7'],
        loadBalancerSourceRanges: [' 198.51.100.0/24 ', '10.1.2.3/8'],
      },
    });
    expect(r).toEqual({
      ok: true,
      problems: [],
      value: {
        metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
        spec: {
          type: 'ClusterIP',
          clusterIP: '2001:db8::10',
          clusterIPs: ['2001:db8::10'],
          ports: [{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }],
          externalIPs: ['203.0.113.7'],
          loadBalancerSourceRanges: ['198.51.100.0/24', '10.0.0.0/8'],
          sessionAffinity: 'None',
          externalTrafficPolicy: 'Cluster',
          internalTrafficPolicy: 'Cluster',
        },
        status: { loadBalancer: { ingress: [] } },
      },
    });
  });
});

describe('parseService: unusable objects fail as a whole', () => {
  it.each([
    { name: 'null', input: null, object: 'Service ?', field: '<root>' },
    { name: 'array', input: [svc()], object: 'Service ?', field: '<root>' },
    { name: 'string', input: 'web', object: 'Service ?', field: '<root>' },
    { name: 'no metadata', input: { spec: {} }, object: 'Service ?', field: 'metadata' },
    { name: 'no name', input: { metadata: { namespace: 'prod' }, spec: {} }, object: 'Service prod/?', field: 'metadata.name' },
    { name: 'name not a string', input: { metadata: { name: 7 }, spec: {} }, object: 'Service default/?', field: 'metadata.name' },
    { name: 'name with a slash', input: { metadata: { name: 'a/b' }, spec: {} }, object: 'Service default/?', field: 'metadata.name' },
    { name: 'bad namespace', input: { metadata: { name: 'web', namespace: ['x'] }, spec: {} }, object: 'Service ?', field: 'metadata.namespace' },
    { name: 'no spec', input: { metadata: { name: 'web' } }, object: 'Service default/web', field: 'spec' },
    { name: 'spec is an array', input: { metadata: { name: 'web' }, spec: [] }, object: 'Service default/web', field: 'spec' },
    { name: 'unknown type', input: svc({ spec: { type: 'Magic' } }), object: 'Service default/web', field: 'spec.type' },
  ])('$name', ({ input, object, field }) => {
    const r = parseService(input);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([expect.objectContaining({ object, field })]);
  });

  it('survives a throwing getter', () => {
    const hostile = { metadata: { name: 'web' } };
    Object.defineProperty(hostile, 'spec', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const r = parseService(hostile);
    expect(r).toEqual({ ok: false, problems: [{ object: 'Service ?', field: '<root>', message: 'unreadable object: boom' }] });
  });
});

describe('parseService: a bad value drops only the smallest unit containing it', () => {
  const two = (second: Record<string, unknown>): Record<string, unknown> =>
    svc({ spec: { ports: [{ name: 'http', port: 80 }, { name: 'b', port: 81, ...second }] } });

  it.each([
    { name: 'port "abc"', input: two({ port: 'abc' }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got "abc"' },
    { name: 'port 70000', input: two({ port: 70000 }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got 70000' },
    { name: 'port 0', input: two({ port: 0 }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got 0' },
    { name: 'port 80.5', input: two({ port: 80.5 }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got 80.5' },
    { name: 'port 1e300', input: two({ port: 1e300 }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got 1e+300' },
    { name: 'port null', input: two({ port: null }), field: 'spec.ports[1].port', message: 'must be an integer 1-65535, got null' },
    { name: 'protocol ICMP', input: two({ protocol: 'ICMP' }), field: 'spec.ports[1].protocol', message: 'must be one of TCP|UDP|SCTP, got "ICMP"' },
    { name: 'protocol lower-case', input: two({ protocol: 'tcp' }), field: 'spec.ports[1].protocol', message: 'must be one of TCP|UDP|SCTP, got "tcp"' },
    { name: 'targetPort "8080" (a string is a name)', input: two({ targetPort: '8080' }), field: 'spec.ports[1].targetPort', message: 'must be a port number or an IANA service name, got "8080"' },
    { name: 'targetPort 65536', input: two({ targetPort: 65536 }), field: 'spec.ports[1].targetPort', message: 'must be an integer 1-65535, got 65536' },
    { name: 'name with capitals', input: two({ name: 'HTTP' }), field: 'spec.ports[1].name', message: 'must be a DNS label, got "HTTP"' },
    { name: 'duplicate name', input: two({ name: 'http' }), field: 'spec.ports[1].name', message: 'duplicate port name "http"; keeping the first' },
    { name: 'duplicate port/protocol', input: two({ port: 80 }), field: 'spec.ports[1].port', message: 'duplicate port 80/TCP; keeping the first' },
    { name: 'port entry is a string', input: svc({ spec: { ports: [{ name: 'http', port: 80 }, '81'] } }), field: 'spec.ports[1]', message: 'must be an object, got "81"' },
  ])('$name', ({ input, field, message }) => {
    const r = parseService(input);
    if (!r.ok) throw new Error('expected ok');
    expect(r.problems).toEqual([{ object: 'Service default/web', field, message }]);
    expect(r.value.spec.ports.map((p) => p.name)).toEqual(['http']);
  });

  it('a bad nodePort drops only the nodePort', () => {
    const r = parseService(
      svc({ spec: { type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 99999 }] } }),
    );
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual(['spec.ports[1].nodePort']);
    expect(r.value.spec.ports).toEqual([
      { name: 'a', protocol: 'TCP', port: 80, targetPort: 80, nodePort: 30080 },
      { name: 'b', protocol: 'TCP', port: 81, targetPort: 81 },
    ]);
  });

  it.each([
    { name: 'inside the configured range', nodePort: 30080, kept: true },
    { name: 'below the configured range', nodePort: 29999, kept: false },
    { name: 'above the configured range', nodePort: 32768, kept: false },
  ])('nodePort range: $name', ({ nodePort, kept }) => {
    const r = parseService(svc({ spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] } }), {
      nodePortRange: { min: 30000, max: 32767 },
    });
    if (!r.ok) throw new Error('expected ok');
    expect(r.value.spec.ports[0]?.nodePort).toBe(kept ? nodePort : undefined);
    expect(r.problems).toHaveLength(kept ? 0 : 1);
  });

  it('a nodePort on a ClusterIP Service is ignored, the port kept', () => {
    const r = parseService(svc({ spec: { ports: [{ port: 80, nodePort: 30080 }] } }));
    if (!r.ok) throw new Error('expected ok');
    expect(r.value.spec.ports).toEqual([{ name: '', protocol: 'TCP', port: 80, targetPort: 80 }]);
    expect(fieldsOf(r.problems)).toEqual(['spec.ports[0].nodePort']);
  });

  it('named and defaulted targetPorts', () => {
    const r = parseService(svc({ spec: { ports: [{ name: 'a', port: 80, targetPort: 'http-alt' }, { name: 'b', port: 81, targetPort: 0 }] } }));
    if (!r.ok) throw new Error('expected ok');
    expect(r.value.spec.ports.map((p) => p.targetPort)).toEqual(['http-alt', 81]);
  });

  it.each([
    {
      name: 'one bad external IP',
      spec: { externalIPs: ['203.0.113.1', '300.1.1.1', 7, '2001:db8::1'] },
      fields: ['spec.externalIPs[1]', 'spec.externalIPs[2]'],
      check: { externalIPs: ['203.0.113.1', '2001:db8::1'] },
    },
    {
      name: 'externalIPs not a list',
      spec: { externalIPs: '203.0.113.1' },
      fields: ['spec.externalIPs'],
      check: { externalIPs: [] },
    },
    {
      name: 'second cluster IP bad',
      spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::zz'] },
      fields: ['spec.clusterIPs[1]'],
      check: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'] },
    },
    {
      name: 'two cluster IPs of one family',
      spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', '10.96.0.11'] },
      fields: ['spec.clusterIPs[1]'],
      check: { clusterIPs: ['10.96.0.10'] },
    },
    {
      name: 'clusterIP disagrees with clusterIPs[0]',
      spec: { clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.10'] },
      fields: ['spec.clusterIP'],
      check: { clusterIP: '10.96.0.10' },
    },
    {
      name: 'headless is not a problem',
      spec: { clusterIP: 'None', clusterIPs: ['None'] },
      fields: [],
      check: { clusterIP: 'None', clusterIPs: [] },
    },
    {
      name: 'one bad source range',
      spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8', '10.0.0.0/99'] },
      fields: ['spec.loadBalancerSourceRanges[1]'],
      check: { loadBalancerSourceRanges: ['10.0.0.0/8'] },
    },
    {
      name: 'unknown sessionAffinity falls back to None',
      spec: { sessionAffinity: 'Cookie' },
      fields: ['spec.sessionAffinity'],
      check: { sessionAffinity: 'None' },
    },
    {
      name: 'ClientIP without config gets the 10800s default',
      spec: { sessionAffinity: 'ClientIP' },
      fields: [],
      check: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } },
    },
    {
      name: 'timeoutSeconds 0 falls back to the default',
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } },
      fields: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds'],
      check: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } },
    },
    {
      name: 'timeoutSeconds above a day falls back to the default',
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } },
      fields: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds'],
      check: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } },
    },
    {
      name: 'timeoutSeconds of a day is fine',
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } },
      fields: [],
      check: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } },
    },
    {
      name: 'unknown externalTrafficPolicy falls back to Cluster',
      spec: { type: 'NodePort', externalTrafficPolicy: 'Global' },
      fields: ['spec.externalTrafficPolicy'],
      check: { externalTrafficPolicy: 'Cluster' },
    },
    {
      name: 'unknown internalTrafficPolicy falls back to Cluster',
      spec: { internalTrafficPolicy: 42 },
      fields: ['spec.internalTrafficPolicy'],
      check: { internalTrafficPolicy: 'Cluster' },
    },
    {
      name: 'LoadBalancer eTP Local without healthCheckNodePort',
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' },
      fields: ['spec.healthCheckNodePort'],
      check: { externalTrafficPolicy: 'Local' },
    },
    {
      name: 'healthCheckNodePort kept only where kube-proxy uses it',
      spec: { type: 'NodePort', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 },
      fields: [],
      check: { externalTrafficPolicy: 'Local' },
    },
    {
      name: 'trafficDistribution passes through',
      spec: { trafficDistribution: 'PreferClose' },
      fields: [],
      check: { trafficDistribution: 'PreferClose' },
    },
  ])('$name', ({ spec, fields, check }) => {
    const r = parseService(svc({ spec }));
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual(fields);
    expect(r.value.spec).toMatchObject(check);
    expect(r.value.spec.ports).toHaveLength(1);
  });

  it.each([
    {
      name: 'bad ingress IP and unknown ipMode drop those entries; hostname-only entries are skipped silently',
      ingress: [{ ip: '198.51.100.1' }, { ip: 'nope' }, { ip: '198.51.100.2', ipMode: 'Tunnel' }, { hostname: 'lb.example.com' }, { ip: '198.51.100.3', ipMode: 'Proxy' }],
      fields: ['status.loadBalancer.ingress[1].ip', 'status.loadBalancer.ingress[2].ipMode'],
      ingressOut: [
        { ip: '198.51.100.1', ipMode: 'VIP' },
        { ip: '198.51.100.3', ipMode: 'Proxy' },
      ],
    },
    {
      name: 'status.loadBalancer not an object',
      ingress: 'x',
      fields: ['status.loadBalancer.ingress'],
      ingressOut: [],
    },
  ])('$name', ({ ingress, fields, ingressOut }) => {
    const r = parseService(svc({ spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress } } }));
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual(fields);
    expect(r.value.status.loadBalancer.ingress).toEqual(ingressOut);
  });

  it('fails closed when every source range is invalid: no load-balancer IPs are kept', () => {
    const r = parseService(
      svc({
        spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['everyone', '10.0.0.0/40'] },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } },
      }),
    );
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual([
      'spec.loadBalancerSourceRanges[0]',
      'spec.loadBalancerSourceRanges[1]',
      'spec.loadBalancerSourceRanges',
    ]);
    expect(r.value.status.loadBalancer.ingress).toEqual([]);
  });

  it('drops bad labels one by one and never touches the prototype', () => {
    const labels = JSON.parse('{"app":"web","__proto__":"x","n":5,"constructor":"c"}') as Record<string, unknown>;
    const r = parseService({ metadata: { name: 'web', labels }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] } });
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual(['metadata.labels["n"]']);
    expect(Object.getPrototypeOf(r.value.metadata.labels)).toBe(Object.prototype);
    expect(Object.keys(r.value.metadata.labels).sort()).toEqual(['__proto__', 'app', 'constructor']);
  });
});

describe('parseEndpointSlice', () => {
  it('applies condition defaults as kube-proxy\'s EndpointSliceCache: nil ready = true, nil serving = true (whatever ready says), nil terminating = false', () => {
    const r = parseEndpointSlice(
      slice({
        endpoints: [
          ep('10.244.1.1'),
          ep('10.244.1.2', { ready: false }),
          ep('10.244.1.3', { ready: false, serving: true, terminating: true }),
          ep('10.244.1.4', { ready: null, serving: null, terminating: null }),
          ep('10.244.1.5', { ready: false, terminating: true }),
          ep('10.244.1.6', { ready: false, serving: false }),
        ],
      }),
    );
    if (!r.ok) throw new Error('expected ok');
    expect(r.problems).toEqual([]);
    expect(r.value.endpoints.map((e) => e.conditions)).toEqual([
      { ready: true, serving: true, terminating: false },
      { ready: false, serving: true, terminating: false },
      { ready: false, serving: true, terminating: true },
      { ready: true, serving: true, terminating: false },
      { ready: false, serving: true, terminating: true },
      { ready: false, serving: false, terminating: false },
    ]);
  });

  it.each([
    { name: 'unknown addressType', input: slice({ addressType: 'IPv5', endpoints: [] }), field: 'addressType' },
    { name: 'missing addressType', input: { metadata: { name: 's' }, endpoints: [] }, field: 'addressType' },
    { name: 'no name', input: { metadata: {}, addressType: 'IPv4' }, field: 'metadata.name' },
    { name: 'not an object', input: 17, field: '<root>' },
  ])('fatal: $name', ({ input, field }) => {
    const r = parseEndpointSlice(input);
    expect(r.ok).toBe(false);
    expect(fieldsOf(r.problems)).toEqual([field]);
  });

  it('FQDN slices are accepted but their endpoints are not read', () => {
    const r = parseEndpointSlice(slice({ addressType: 'FQDN', endpoints: [{ addresses: ['example.com'] }] }));
    expect(r).toMatchObject({ ok: true, problems: [], value: { addressType: 'FQDN', endpoints: [] } });
  });

  it.each([
    { name: 'IPv6 address in an IPv4 slice', endpoint: ep('fd00::1'), field: 'endpoints[1].addresses[0]' },
    { name: 'bad address', endpoint: ep('10.244.1.300'), field: 'endpoints[1].addresses[0]' },
    { name: 'no addresses', endpoint: { addresses: [] }, field: 'endpoints[1].addresses' },
    { name: 'addresses not a list', endpoint: { addresses: '10.244.1.2' }, field: 'endpoints[1].addresses' },
    { name: 'ready is a string', endpoint: ep('10.244.1.2', { ready: 'yes' as unknown as boolean }), field: 'endpoints[1].conditions.ready' },
    { name: 'conditions is a list', endpoint: { addresses: ['10.244.1.2'], conditions: [] }, field: 'endpoints[1].conditions' },
    { name: 'endpoint is null', endpoint: null, field: 'endpoints[1]' },
  ])('drops just the endpoint: $name', ({ endpoint, field }) => {
    const r = parseEndpointSlice(slice({ endpoints: [ep('10.244.1.1'), endpoint as Record<string, unknown>] }));
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual([field]);
    expect(r.value.endpoints.map((e) => e.addresses[0])).toEqual(['10.244.1.1']);
  });

  it('only addresses[0] is used, as in kube-proxy', () => {
    const r = parseEndpointSlice(slice({ endpoints: [{ addresses: ['10.244.1.1', 'garbage'] }] }));
    expect(r).toMatchObject({ ok: true, problems: [], value: { endpoints: [{ addresses: ['10.244.1.1'] }] } });
  });

  it('a bad nodeName, zone or hint loses only that field', () => {
    const r = parseEndpointSlice(
      slice({ endpoints: [{ addresses: ['10.244.1.1'], nodeName: 5, zone: '', hints: { forZones: [{ name: 'a' }, { nom: 'b' }], forNodes: 'n' } }] }),
    );
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual([
      'endpoints[0].nodeName',
      'endpoints[0].zone',
      'endpoints[0].hints.forZones[1]',
      'endpoints[0].hints.forNodes',
    ]);
    expect(r.value.endpoints).toEqual([
      {
        addresses: ['10.244.1.1'],
        conditions: { ready: true, serving: true, terminating: false },
        hints: { forZones: [{ name: 'a' }], forNodes: [] },
      },
    ]);
  });

  it.each([
    { name: 'port without a number', port: { name: 'b' }, field: 'ports[1].port' },
    { name: 'port number too big', port: { name: 'b', port: 65536 }, field: 'ports[1].port' },
    { name: 'bad protocol', port: { name: 'b', port: 53, protocol: 'QUIC' }, field: 'ports[1].protocol' },
    { name: 'duplicate name/protocol', port: { name: 'http', port: 9090 }, field: 'ports[1]' },
  ])('drops just the port: $name', ({ port, field }) => {
    const r = parseEndpointSlice(slice({ ports: [{ name: 'http', port: 8080 }, port], endpoints: [ep('10.244.1.1')] }));
    if (!r.ok) throw new Error('expected ok');
    expect(fieldsOf(r.problems)).toEqual([field]);
    expect(r.value.ports).toEqual([{ name: 'http', protocol: 'TCP', port: 8080 }]);
  });
});

describe('parseNode', () => {
  it('keeps IP addresses and pod CIDRs, drops bad ones', () => {
    const r = parseNode({
      metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
      spec: { podCIDRs: ['10.244.1.0/24', 'bad'] },
      status: {
        addresses: [
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'Hostname', address: 'node-a' },
          { type: 'ExternalIP', address: '1.2.3.999' },
          { type: 'InternalIP', address: 'fd00::10' },
        ],
      },
    });
    expect(r).toEqual({
      ok: true,
      problems: [
        expect.objectContaining({ object: 'Node node-a', field: 'spec.podCIDRs[1]' }),
        expect.objectContaining({ object: 'Node node-a', field: 'status.addresses[2].address' }),
      ],
      value: {
        metadata: { name: 'node-a', namespace: '', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
        spec: { podCIDRs: ['10.244.1.0/24'] },
        status: {
          addresses: [
            { type: 'InternalIP', address: '192.168.1.10' },
            { type: 'InternalIP', address: 'fd00::10' },
          ],
        },
      },
    });
  });

  it('a Node without a name is unusable', () => {
    const r = parseNode({ metadata: {} });
    expect(r).toEqual({ ok: false, problems: [expect.objectContaining({ object: 'Node ?', field: 'metadata.name' })] });
  });

  it('nodeContextFromNode: InternalIPs first (primary per family), zone label, podCIDRs as clusterCIDRs by default', () => {
    const r = parseNode({
      metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
      spec: { podCIDRs: ['10.244.1.0/24', 'fd00:244:1::/64'] },
      status: {
        addresses: [
          { type: 'ExternalIP', address: '203.0.113.10' },
          { type: 'InternalIP', address: '192.168.1.10' },
          { type: 'InternalIP', address: 'fd00::10' },
        ],
      },
    });
    if (!r.ok) throw new Error('expected ok');
    expect(nodeContextFromNode(r.value)).toEqual({
      nodeName: 'node-a',
      zone: 'zone-a',
      nodeAddresses: ['192.168.1.10', 'fd00::10', '203.0.113.10'],
      clusterCIDRs: ['10.244.1.0/24', 'fd00:244:1::/64'],
      masqueradeAll: false,
    });
    expect(nodeContextFromNode(r.value, { clusterCIDRs: ['10.244.0.0/16'], nodePortAddresses: ['primary'], masqueradeAll: true })).toMatchObject({
      clusterCIDRs: ['10.244.0.0/16'],
      nodePortAddresses: ['primary'],
      masqueradeAll: true,
    });
    // The PreferSameTrafficDistribution gate: given, it reaches the topology; unset, node hints are honoured.
    expect(nodeContextFromNode(r.value, { preferSameNode: false }).preferSameNode).toBe(false);
    expect(nodeContextFromNode(r.value, { preferSameNode: true }).preferSameNode).toBe(true);
    // The interfaces' addresses come after the Node's, so the primary stays the InternalIP.
    const withLocal = nodeContextFromNode(r.value, { localAddresses: ['10.0.5.1', '192.168.1.10'] });
    expect(withLocal.nodeAddresses).toEqual(['192.168.1.10', 'fd00::10', '203.0.113.10', '10.0.5.1']);
    expect(resolveNode(withLocal).nodePortAddresses[4]).toEqual(['192.168.1.10', '203.0.113.10', '10.0.5.1']);
    expect(resolveNode({ ...withLocal, nodePortAddresses: ['primary'] }).nodePortAddresses).toEqual({ 4: ['192.168.1.10'], 6: ['fd00::10'] });
  });
});

describe('ServiceCIDRs', () => {
  const sc = (name: string, cidrs: unknown) => ({ metadata: { name }, spec: { cidrs } });

  it('a bad entry is named by object and field and left out; the rest are kept, canonical', () => {
    const r = parseServiceCIDR(sc('kubernetes', ['10.96.0.1/16', 'nonsense', 7, 'FD00:96::/112']));
    expect(r).toEqual({
      ok: true,
      value: ['10.96.0.0/16', 'fd00:96::/112'],
      problems: [
        { object: 'ServiceCIDR kubernetes', field: 'spec.cidrs[1]', message: expect.stringMatching(/must be a CIDR, got "nonsense"/) },
        { object: 'ServiceCIDR kubernetes', field: 'spec.cidrs[2]', message: 'must be a CIDR, got 7' },
      ],
    });
    expect(parseServiceCIDR({ spec: { cidrs: ['10.96.0.0/16'] } }).ok).toBe(false);
    expect(fieldsOf(parseServiceCIDR(sc('x', '10.96.0.0/16')).problems)).toEqual(['spec.cidrs']);
  });

  it('the union of every object by family, sorted, without a range that lies inside another', () => {
    const r = serviceCIDRsOf([
      sc('kubernetes', ['10.96.0.0/16', 'fd00:96::/112']),
      // A cluster moving to a wider range, a duplicate, and a range inside it.
      sc('wider', ['10.96.0.0/12', '10.96.0.0/16', '10.100.0.0/24']),
      sc('other', ['192.168.50.0/24', 'fd00:96::/108']),
      { metadata: {} },
    ]);
    expect(r.cidrs).toEqual({ 4: ['10.96.0.0/12', '192.168.50.0/24'], 6: ['fd00:96::/108'] });
    expect(r.problems).toEqual([{ object: 'ServiceCIDR ?', field: 'metadata.name', message: expect.any(String) }]);
    expect(serviceCIDRsOf([]).cidrs).toEqual({ 4: [], 6: [] });
  });
});
