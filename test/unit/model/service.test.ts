import { describe, expect, it } from 'vitest';
import {
  parseService,
  servicePortKey,
  servicePortNameString,
  servicePorts,
  type Service,
  type ServicePort,
} from '../../../src/model/index.js';
import { svc } from './fixtures.js';

function parsed(obj: unknown): Service {
  const r = parseService(obj);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

function ports(obj: unknown): readonly ServicePort[] {
  const r = servicePorts(parsed(obj));
  if (!r.ok) throw new Error(r.reason);
  return r.ports;
}

describe('ServicePortName', () => {
  it.each([
    { n: { namespace: 'ns', name: 'web', port: 'http', protocol: 'TCP' as const }, family: 4 as const, key: 'ns/web:http' },
    { n: { namespace: 'ns', name: 'web', port: '', protocol: 'UDP' as const }, family: 4 as const, key: 'ns/web' },
    { n: { namespace: 'ns', name: 'web', port: 'http', protocol: 'TCP' as const }, family: 6 as const, key: 'ns/web:http@IPv6' },
  ])('$key', ({ n, family, key }) => {
    expect(servicePortKey(n, family)).toBe(key);
    expect(servicePortNameString(n)).toBe(key.replace('@IPv6', ''));
  });
});

describe('Services kube-proxy does not proxy', () => {
  it.each([
    {
      name: 'service-proxy-name label (any value, even empty)',
      input: svc({ labels: { 'service.kubernetes.io/service-proxy-name': '' } }),
      reason: /service-proxy-name="": handled by another proxy/,
    },
    {
      name: 'service-proxy-name label with a value',
      input: svc({ labels: { 'service.kubernetes.io/service-proxy-name': 'cilium' } }),
      reason: /service-proxy-name="cilium"/,
    },
    { name: 'headless label', input: svc({ labels: { 'service.kubernetes.io/headless': '' } }), reason: /headless/ },
    { name: 'headless (clusterIP None)', input: svc({ spec: { clusterIP: 'None', clusterIPs: ['None'] } }), reason: /^headless \(clusterIP None\)$/ },
    {
      name: 'ExternalName',
      input: svc({ spec: { type: 'ExternalName', externalName: 'db.example.com', clusterIP: undefined, clusterIPs: undefined } }),
      reason: /ExternalName/,
    },
    { name: 'no cluster IP yet', input: svc({ spec: { clusterIP: '', clusterIPs: [] } }), reason: /^no cluster IP$/ },
  ])('$name', ({ input, reason }) => {
    const r = servicePorts(parsed(input));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe('servicePorts', () => {
  it('basic: one port, kube-proxy defaults', () => {
    expect(ports(svc())).toEqual([
      {
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
      },
    ]);
  });

  it('multiport, and the same port number with different protocols', () => {
    const got = ports(
      svc({
        spec: {
          ports: [
            { name: 'dns-udp', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53, protocol: 'TCP' },
            { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 'metrics' },
            { name: 'sctp', port: 9999, protocol: 'SCTP' },
          ],
        },
      }),
    );
    expect(got.map((p) => [p.key, p.port, p.protocol, p.targetPort])).toEqual([
      ['default/web:dns-udp', 53, 'UDP', 53],
      ['default/web:dns-tcp', 53, 'TCP', 53],
      ['default/web:metrics', 9153, 'TCP', 'metrics'],
      ['default/web:sctp', 9999, 'SCTP', 9999],
    ]);
  });

  it('dual-stack: one ServicePort per family, everything filtered to that family', () => {
    const got = ports(
      svc({
        spec: {
          type: 'LoadBalancer',
          clusterIP: 'fd00:96::10',
          clusterIPs: ['fd00:96::10', '10.96.0.10'],
          ports: [{ name: 'http', port: 80, nodePort: 30080 }],
          externalIPs: ['203.0.113.1', '2001:db8::1'],
          loadBalancerSourceRanges: ['198.51.100.0/24', '2001:db8:1::/48'],
        },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { ip: '2001:db8::7' }] } },
      }),
    );
    expect(got.map((p) => ({
      key: p.key,
      family: p.family,
      clusterIP: p.clusterIP,
      externalIPs: p.externalIPs,
      vips: p.loadBalancerVIPs,
      ranges: p.loadBalancerSourceRanges,
    }))).toEqual([
      { key: 'default/web:http@IPv6', family: 6, clusterIP: 'fd00:96::10', externalIPs: ['2001:db8::1'], vips: ['2001:db8::7'], ranges: ['2001:db8:1::/48'] },
      { key: 'default/web:http', family: 4, clusterIP: '10.96.0.10', externalIPs: ['203.0.113.1'], vips: ['198.51.100.7'], ranges: ['198.51.100.0/24'] },
    ]);
  });

  it('load-balancer ingress with ipMode Proxy is kept for reference but is not a VIP', () => {
    const [p] = ports(
      svc({
        spec: { type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.1', ipMode: 'Proxy' }, { ip: '198.51.100.2', ipMode: 'VIP' }] } },
      }),
    );
    expect(p?.loadBalancerIngress).toEqual([
      { ip: '198.51.100.1', ipMode: 'Proxy' },
      { ip: '198.51.100.2', ipMode: 'VIP' },
    ]);
    expect(p?.loadBalancerVIPs).toEqual(['198.51.100.2']);
  });

  it.each([
    { name: 'None by default', spec: {}, affinity: { type: 'None' } },
    { name: 'ClientIP with the 10800s default', spec: { sessionAffinity: 'ClientIP' }, affinity: { type: 'ClientIP', timeoutSeconds: 10800 } },
    {
      name: 'ClientIP with an explicit timeout',
      spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
      affinity: { type: 'ClientIP', timeoutSeconds: 60 },
    },
    {
      name: 'switching back to None drops the timeout even if config lingers',
      spec: { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
      affinity: { type: 'None' },
    },
  ])('affinity: $name', ({ spec, affinity }) => {
    expect(ports(svc({ spec })).map((p) => p.affinity)).toEqual([affinity]);
  });

  // apiservice.ExternalPolicyLocal + BaseServicePortInfo.ExternallyAccessible
  it.each([
    { name: 'ClusterIP', spec: { externalTrafficPolicy: 'Local' }, eLocal: false, accessible: false },
    { name: 'ClusterIP + externalIPs', spec: { externalTrafficPolicy: 'Local', externalIPs: ['203.0.113.1'] }, eLocal: true, accessible: true },
    { name: 'NodePort eTP Local', spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080 }] }, eLocal: true, accessible: true },
    { name: 'NodePort eTP Cluster', spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }, eLocal: false, accessible: true },
    {
      name: 'LoadBalancer without nodePorts or ingress yet',
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 },
      eLocal: true,
      accessible: false,
    },
    { name: 'iTP Local', spec: { internalTrafficPolicy: 'Local' }, eLocal: false, accessible: false, iLocal: true },
  ])('traffic policy: $name', ({ spec, eLocal, accessible, iLocal }) => {
    const [p] = ports(svc({ spec }));
    expect(p).toMatchObject({ externalPolicyLocal: eLocal, externallyAccessible: accessible, internalPolicyLocal: iLocal ?? false });
  });

  it('healthCheckNodePort is carried on every port of a LoadBalancer eTP Local Service', () => {
    const got = ports(
      svc({
        spec: {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          healthCheckNodePort: 32000,
          ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 443, nodePort: 30443 }],
        },
      }),
    );
    expect(got.map((p) => p.healthCheckNodePort)).toEqual([32000, 32000]);
  });
});
