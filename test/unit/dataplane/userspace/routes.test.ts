import { describe, expect, it } from 'vitest';
import {
  backendSetFor, classifyClient, parsePeer, planRoutes, routeKey, routeServes, sourceAllowed, withoutForeignAddresses,
} from '../../../../src/dataplane/userspace/routes.js';
import { buildDesiredState, parseCIDR, type DesiredState } from '../../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';

const desired = (services: unknown[], endpointSlices: unknown[]): DesiredState => buildDesiredState({ services, endpointSlices, node: NODE }).state;
const ip = (s: string) => parsePeer(s)!;

const lb = svc({
  name: 'web',
  spec: {
    type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, externalIPs: ['203.0.113.10'],
    loadBalancerSourceRanges: ['198.51.100.0/24'],
    ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }],
  },
  status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } },
});
const twoPods = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' }), ep('10.244.2.6', { node: 'node-b' })] });

describe('planRoutes: one socket per frontend, service addresses made local', () => {
  const plan = planRoutes(desired([lb], [twoPods]).services.values());

  it('ClusterIP, every NodePort address of the family, the external IP and the LB IP', () => {
    expect([...plan.routes.keys()].sort()).toEqual([
      'TCP 10.0.0.5 30080', 'TCP 10.96.0.10 80', 'TCP 192.0.2.7 80', 'TCP 192.168.1.10 30080', 'TCP 203.0.113.10 80',
    ].sort());
  });

  it('addresses: the service addresses of the family, never node (NodePort) addresses', () => {
    expect([...plan.addresses].sort()).toEqual(['10.96.0.10', '192.0.2.7', '203.0.113.10']);
  });

  it('source ranges belong to the LB frontend only', () => {
    expect(plan.routes.get('TCP 192.0.2.7 80')!.sourceRanges.map((c) => c.text)).toEqual(['198.51.100.0/24']);
    expect(plan.routes.get('TCP 203.0.113.10 80')!.sourceRanges).toEqual([]);
  });

  it('eTP Local: external clients get local backends, pods and the node the cluster set', () => {
    const r = plan.routes.get('TCP 10.0.0.5 30080')!;
    expect(backendSetFor(r, false).set.backends.map((b) => b.ip)).toEqual(['10.244.1.5']);
    expect(backendSetFor(r, false).scope).toBe('external');
    expect(backendSetFor(r, true).set.backends.map((b) => b.ip).sort()).toEqual(['10.244.1.5', '10.244.2.6']);
    expect(backendSetFor(r, true).scope).toBe('shortCircuit');
    const c = plan.routes.get('TCP 10.96.0.10 80')!;
    expect(backendSetFor(c, false).scope).toBe('internal');
  });

  it('SCTP is skipped with a reason; the first service to claim an address:port keeps it', () => {
    const sctp = svc({ name: 'sctp', spec: { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], ports: [{ name: 'x', port: 9, protocol: 'SCTP', targetPort: 9 }] } });
    const dup = svc({ name: 'zdup', spec: { externalIPs: ['10.96.0.10'], clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'] } });
    const p = planRoutes(desired([lb, sctp, dup], [twoPods]).services.values());
    expect(p.skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/SCTP/),
      expect.stringMatching(/already served for default\/web:http/),
    ]);
    expect(p.routes.get(routeKey('TCP', '10.96.0.10', 80))!.service.key).toBe('default/web:http');
  });
});

describe('routeServes: a socket only while some client could get a backend, or kube-proxy would drop', () => {
  it('no endpoints anywhere: no socket (the kernel refuses)', () => {
    const p = planRoutes(desired([lb], []).services.values());
    for (const r of p.routes.values()) expect(routeServes(r)).toBe(false);
    // the addresses stay local, so that the refusal is the node's
    expect(p.addresses.size).toBe(3);
  });

  it('eTP Local with only remote endpoints: NodePorts still serve pods (short-circuit)', () => {
    const remote = slice({ endpoints: [ep('10.244.2.6', { node: 'node-b' })] });
    const p = planRoutes(desired([lb], [remote]).services.values());
    const np = p.routes.get('TCP 10.0.0.5 30080')!;
    expect(routeServes(np)).toBe(true);
    expect(backendSetFor(np, false).set).toMatchObject({ backends: [], dropWhenEmpty: true });
  });

  it('iTP Local with only remote endpoints: the ClusterIP keeps its socket, to drop as kube-proxy does rather than refuse', () => {
    const itp = svc({ spec: { internalTrafficPolicy: 'Local' } });
    const remote = slice({ endpoints: [ep('10.244.2.6', { node: 'node-b' })] });
    const r = planRoutes(desired([itp], [remote]).services.values()).routes.get('TCP 10.96.0.10 80')!;
    expect(routeServes(r)).toBe(true);
    expect(backendSetFor(r, true).set).toMatchObject({ backends: [], dropWhenEmpty: true });
  });
});

describe('clients: who is asking', () => {
  const plan = planRoutes(desired([lb], [twoPods]).services.values());
  const r = plan.routes.get('TCP 192.0.2.7 80')!;
  const local = new Set(['10.0.0.5', '192.168.1.10', '10.96.0.10']);

  it('parsePeer reads IPv4-mapped IPv6 as IPv4, and refuses junk', () => {
    expect(parsePeer('::ffff:10.244.1.5')).toMatchObject({ family: 4, text: '10.244.1.5' });
    expect(parsePeer('fd00::1')).toMatchObject({ family: 6 });
    expect(parsePeer(undefined)).toBeNull();
    expect(parsePeer('nope')).toBeNull();
  });

  it('pods (clusterCIDRs) and this node are internal; others are external', () => {
    expect(classifyClient(r, ip('10.244.7.7'), local)).toMatchObject({ thisNode: false, internal: true });
    expect(classifyClient(r, ip('10.96.0.10'), local)).toMatchObject({ thisNode: true, internal: true });
    expect(classifyClient(r, ip('127.0.0.1'), local)).toMatchObject({ thisNode: true, internal: true });
    expect(classifyClient(r, ip('198.51.100.9'), local)).toMatchObject({ thisNode: false, internal: false });
  });

  it('loadBalancerSourceRanges: the listed sources only; the node is no exception (its own LB IP comes in when a range holds the node)', () => {
    expect(sourceAllowed(r, ip('198.51.100.9'))).toBe(true);
    expect(sourceAllowed(r, ip('203.0.113.1'))).toBe(false);
    expect(sourceAllowed(r, ip('10.244.7.7'))).toBe(false);
    // The node, from its own address and from the LB IP it holds: the ranges do not hold it.
    expect(sourceAllowed(r, ip('192.168.1.10'))).toBe(false);
    expect(sourceAllowed(r, ip('192.0.2.7'))).toBe(false);
    expect(sourceAllowed(plan.routes.get('TCP 10.0.0.5 30080')!, ip('203.0.113.1'))).toBe(true);
    // A range that holds the node's primary address admits the LB IP as a source too.
    const withNode = { ...lb, spec: { ...(lb.spec as object), loadBalancerSourceRanges: ['198.51.100.0/24', '192.168.1.0/24'] } };
    const route = planRoutes(desired([withNode], [twoPods]).services.values()).routes.get('TCP 192.0.2.7 80')!;
    expect(sourceAllowed(route, ip('192.0.2.7'))).toBe(true);
    expect(sourceAllowed(route, ip('192.168.1.10'))).toBe(true);
    expect(sourceAllowed(route, ip('203.0.113.1'))).toBe(false);
  });
});

describe('withoutForeignAddresses: another host\'s address on a link of this node is never claimed', () => {
  // The external IP 203.0.113.10 and the LB IP 192.0.2.7 are both on this node's links here.
  const plan = planRoutes(desired([lb], [twoPods]).services.values());
  const cidr = (s: string) => { const c = parseCIDR(s); if (!c.ok) throw new Error(s); return c.cidr; };
  const links = [{ device: 'eth0', cidr: cidr('203.0.113.0/24') }, { device: 'eth1', cidr: cidr('192.0.2.0/24') }];

  it('an external IP on a link and not this node\'s own: its frontend left out, the reason named, the address not made local', () => {
    const out = withoutForeignAddresses(plan, new Set(['192.168.1.10']), links);
    expect([...out.routes.keys()].sort()).toEqual(['TCP 10.0.0.5 30080', 'TCP 10.96.0.10 80', 'TCP 192.0.2.7 80', 'TCP 192.168.1.10 30080']);
    expect([...out.addresses].sort()).toEqual(['10.96.0.10', '192.0.2.7']);
    expect(out.skipped).toEqual([
      expect.objectContaining({ frontend: 'externalIP 203.0.113.10:80/TCP', reason: expect.stringContaining('eth0 (203.0.113.0/24)'), warn: true }),
    ]);
  });

  it('an LB IP on a link stays (an L2 announcer holds it on no device; every node takes it)', () => {
    expect(withoutForeignAddresses(plan, new Set(), links.slice(1))).toBe(plan);
  });

  it('an address both a foreign external IP and another frontend\'s LB IP stays local for the LB frontend', () => {
    const ext = svc({ name: 'ext', spec: { clusterIP: '10.96.0.20', externalIPs: ['192.0.2.7'], ports: [{ name: 'http', port: 81, targetPort: 8080, protocol: 'TCP' }] } });
    const lbAt = svc({
      name: 'lb', spec: { type: 'LoadBalancer', clusterIP: '10.96.0.21', ports: [{ name: 'http', port: 82, nodePort: 30082, targetPort: 8080, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } },
    });
    const p = planRoutes(desired([ext, lbAt], []).services.values());
    const out = withoutForeignAddresses(p, new Set(), links);
    expect(out.routes.has('TCP 192.0.2.7 81')).toBe(false);
    expect(out.routes.has('TCP 192.0.2.7 82')).toBe(true);
    expect(out.addresses.has('192.0.2.7')).toBe(true);
  });

  it('this node\'s own address (an ExternalIP at the node\'s address) is served; so is one on no link of ours', () => {
    const out = withoutForeignAddresses(plan, new Set(['203.0.113.10']), links.slice(0, 1));
    expect(out).toBe(plan);
  });
});
