import { describe, expect, it } from 'vitest';
import { buildPlan, netEntries, vsKey } from '../../../../src/dataplane/ipvs/plan.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';
import { state } from './states.js';

type Obj = Record<string, unknown>;
const port = (extra: Obj = {}) => [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, ...extra }];
const a = (ip: string) => ep(ip, { ready: true, node: 'node-a' });
const b = (ip: string) => ep(ip, { ready: true, node: 'node-b' });

/** NODE's addresses plus a VIP, as interfaceAddresses reports them when ekp-ipvs0 holds ClusterIPs. */
const nodeWithVip = { ...NODE, nodeAddresses: [...NODE.nodeAddresses, '10.96.0.10'] };

describe('ipvs plan', () => {
  const s = state(
    [
      svc({ name: 'web' }),
      svc({ name: 'np', spec: { type: 'NodePort', clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], ports: port({ nodePort: 30080 }) } }),
      svc({
        name: 'lb', spec: {
          type: 'LoadBalancer', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], ports: port({ nodePort: 30081 }), externalTrafficPolicy: 'Local',
          loadBalancerSourceRanges: ['203.0.113.0/24', '192.168.1.7/32'], healthCheckNodePort: 32000,
        },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.20' }] } },
      }),
      svc({ name: 'sticky', spec: { clusterIP: '10.96.0.13', clusterIPs: ['10.96.0.13'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } } }),
      svc({ name: 'empty', spec: { clusterIP: '10.96.0.14', clusterIPs: ['10.96.0.14'], externalIPs: ['198.51.100.30'] } }),
      svc({ name: 'remote', spec: { type: 'NodePort', clusterIP: '10.96.0.15', clusterIPs: ['10.96.0.15'], externalTrafficPolicy: 'Local', ports: port({ nodePort: 30083 }) } }),
      svc({ name: 'dns', spec: { clusterIP: '10.96.0.17', clusterIPs: ['10.96.0.17'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } }),
      svc({ name: 'dual', spec: { clusterIP: '10.96.0.18', clusterIPs: ['10.96.0.18', 'fd00:96::18'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' } }),
    ],
    [
      slice({ service: 'web', endpoints: [b('10.244.2.1'), a('10.244.1.1')] }),
      slice({ service: 'np', endpoints: [a('10.244.1.2'), b('10.244.2.2')] }),
      slice({ service: 'lb', endpoints: [a('10.244.1.3'), b('10.244.2.3')] }),
      slice({ service: 'sticky', endpoints: [a('10.244.1.4')] }),
      slice({ service: 'empty', endpoints: [] }),
      slice({ service: 'remote', endpoints: [b('10.244.2.5')] }),
      slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [a('10.244.1.7')] }),
      slice({ service: 'dual', endpoints: [b('10.244.2.8')] }),
      slice({ service: 'dual', name: 'dual-v6', addressType: 'IPv6', endpoints: [a('fd00:244:1::8')] }),
    ],
    nodeWithVip,
  );
  const plan = buildPlan(s, { scheduler: 'wrr' });
  const vs = (k: string) => plan.virtualServers.get(k);

  it('makes one virtual server per frontend, real servers sorted, weight 1, the configured scheduler', () => {
    expect(vs('TCP/10.96.0.10:80')).toEqual({
      protocol: 'TCP', address: '10.96.0.10', port: 80, family: 4, scheduler: 'wrr', persistence: 0,
      reals: [{ address: '10.244.1.1', port: 8080, weight: 1 }, { address: '10.244.2.1', port: 8080, weight: 1 }],
    });
    expect(vs('UDP/10.96.0.17:53')?.reals).toEqual([{ address: '10.244.1.7', port: 5353, weight: 1 }]);
    expect(vs(vsKey('TCP', 'fd00:96::18', 80))?.reals).toEqual([{ address: 'fd00:244:1::8', port: 8080, weight: 1 }]);
  });

  it('NodePorts on every node address, never on a VIP the node address list picked up from ekp-ipvs0', () => {
    for (const addr of ['192.168.1.10', '10.0.0.5']) expect(vs(`TCP/${addr}:30080`)?.reals).toHaveLength(2);
    expect(vs('TCP/10.96.0.10:30080')).toBeUndefined();
    expect(plan.sets.get('EKP-NODE-PORT')).toEqual(new Set(['10.0.0.5,tcp:30080', '192.168.1.10,tcp:30080']));
  });

  it('a node address that is also an ExternalIP keeps its NodePorts (k3s ServiceLB, bare metal)', () => {
    const onNode = state(
      [
        svc({ name: 'np', spec: { type: 'NodePort', clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], ports: port({ nodePort: 30080 }) } }),
        svc({ name: 'ext', spec: { clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], externalIPs: ['10.0.0.5'] } }),
      ],
      [slice({ service: 'np', endpoints: [a('10.244.1.2')] }), slice({ service: 'ext', endpoints: [a('10.244.1.3')] })],
      NODE,
    );
    const p = buildPlan(onNode, { scheduler: 'rr' });
    expect(NODE.nodeAddresses).toContain('10.0.0.5');
    expect(p.virtualServers.get('TCP/10.0.0.5:30080')?.reals).toEqual([{ address: '10.244.1.2', port: 8080, weight: 1 }]);
    expect(p.virtualServers.get('TCP/10.0.0.5:80')?.reals).toEqual([{ address: '10.244.1.3', port: 8080, weight: 1 }]);
    expect(p.sets.get('EKP-NODE-PORT')).toContain('10.0.0.5,tcp:30080');
  });

  it('eTP Local external frontends get the local endpoints only; ClusterIP gets them all', () => {
    expect(vs('TCP/198.51.100.20:80')?.reals.map((r) => r.address)).toEqual(['10.244.1.3']);
    expect(vs('TCP/10.0.0.5:30081')?.reals.map((r) => r.address)).toEqual(['10.244.1.3']);
    expect(vs('TCP/10.96.0.12:80')?.reals).toHaveLength(2);
    expect(plan.sets.get('EKP-LOAD-BALANCER-LOCAL')).toEqual(new Set(['198.51.100.20,tcp:80']));
    expect(plan.sets.get('EKP-NODE-PORT-LOCAL')).toContain('192.168.1.10,tcp:30081');
  });

  it('the healthCheckNodePort of an eTP Local load balancer: a port alone (any address, the LB IP too), as KUBE-HEALTH-CHECK-NODE-PORT', () => {
    expect(plan.sets.get('EKP-HEALTH-CHECK-NODE-PORT')).toEqual(new Set(['32000']));
    expect(plan.sets.get('EKP6-HEALTH-CHECK-NODE-PORT')).toEqual(new Set());
  });

  it('source ranges: the frontend in LOAD-BALANCER-FW, each range (host ranges without /32) in SOURCE-CIDR', () => {
    expect(plan.sets.get('EKP-LOAD-BALANCER-FW')).toEqual(new Set(['198.51.100.20,tcp:80']));
    expect(plan.sets.get('EKP-LOAD-BALANCER-SOURCE-CIDR')).toEqual(new Set(['198.51.100.20,tcp:80,203.0.113.0/24', '198.51.100.20,tcp:80,192.168.1.7']));
  });

  it('source ranges holding the node\'s IP (192.168.1.10): the LB IP is an admitted source too (kube-proxy\'s allowFromNode); nested ranges folded', () => {
    const held = state([svc({
      name: 'lb', spec: { type: 'LoadBalancer', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], ports: port({ nodePort: 30081 }), loadBalancerSourceRanges: ['192.168.0.0/16', '192.168.1.0/24'] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.20' }] } },
    })], [slice({ service: 'lb', endpoints: [a('10.244.1.3')] })]);
    expect(buildPlan(held, { scheduler: 'rr' }).sets.get('EKP-LOAD-BALANCER-SOURCE-CIDR'))
      .toEqual(new Set(['198.51.100.20,tcp:80,192.168.0.0/16', '198.51.100.20,tcp:80,198.51.100.20']));
  });

  it('ClientIP affinity becomes persistence', () => {
    expect(vs('TCP/10.96.0.13:80')?.persistence).toBe(300);
  });

  it('no endpoints anywhere: REJECT; iTP Local with endpoints elsewhere only: DROP', () => {
    expect(vs('TCP/10.96.0.14:80')?.reals).toEqual([]);
    expect(plan.sets.get('EKP-REJECT')).toEqual(new Set(['10.96.0.14,tcp:80', '198.51.100.30,tcp:80']));
    const itp = state(
      [svc({ name: 'itp', spec: { type: 'NodePort', internalTrafficPolicy: 'Local', ports: port({ nodePort: 30090 }) } })],
      [slice({ service: 'itp', endpoints: [b('10.244.2.9')] })],
    );
    const p = buildPlan(itp, { scheduler: 'rr' });
    expect(p.virtualServers.get('TCP/10.96.0.10:80')?.reals).toEqual([]);
    expect(p.sets.get('EKP-DROP')).toEqual(new Set(['10.96.0.10,tcp:80']));
    expect(p.virtualServers.get('TCP/10.0.0.5:30090')?.reals.map((r) => r.address)).toEqual(['10.244.2.9']);
  });

  it('eTP Local without a local endpoint: every external frontend gets the cluster endpoints, never dropped (kube-proxy\'s ipvs syncEndpoint, kubernetes#97081)', () => {
    // Pods and the node reach them; an external client keeps its address (the -LOCAL sets) and the
    // remote backend answers it directly, so its connection never completes, as with kube-proxy.
    for (const addr of ['192.168.1.10', '10.0.0.5']) expect(vs(`TCP/${addr}:30083`)?.reals).toEqual([{ address: '10.244.2.5', port: 8080, weight: 1 }]);
    expect(plan.sets.get('EKP-NODE-PORT-LOCAL')).toContain('10.0.0.5,tcp:30083');
    expect(plan.sets.get('EKP-DROP')).toEqual(new Set());
    const lb = state(
      [svc({
        name: 'lb', spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', externalIPs: ['198.51.100.31'], ports: port({ nodePort: 30091 }), healthCheckNodePort: 32001 },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.21' }] } },
      })],
      [slice({ service: 'lb', endpoints: [b('10.244.2.6'), b('10.244.2.7')] })],
    );
    const p = buildPlan(lb, { scheduler: 'rr' });
    for (const k of ['TCP/198.51.100.21:80', 'TCP/198.51.100.31:80', 'TCP/10.0.0.5:30091']) {
      expect(p.virtualServers.get(k)?.reals.map((r) => r.address), k).toEqual(['10.244.2.6', '10.244.2.7']);
    }
    expect(p.sets.get('EKP-DROP')).toEqual(new Set());
    expect(p.sets.get('EKP-REJECT')).toEqual(new Set());
  });

  it('VIPs: cluster, external and load-balancer IPs of both families; hairpin entries per real server', () => {
    expect(plan.vips).toEqual(new Set(['10.96.0.10', '10.96.0.11', '10.96.0.12', '198.51.100.20', '10.96.0.13', '10.96.0.14', '198.51.100.30', '10.96.0.15', '10.96.0.17', '10.96.0.18', 'fd00:96::18']));
    expect(plan.sets.get('EKP-LOOP-BACK')).toContain('10.244.1.1,tcp:8080,10.244.1.1');
    expect(plan.sets.get('EKP6-LOOP-BACK')).toEqual(new Set(['fd00:244:1::8,tcp:8080,fd00:244:1::8']));
    expect(plan.sets.get('EKP6-CLUSTER-IP')).toEqual(new Set(['fd00:96::18,tcp:80']));
  });

  it('EKP-IPVS-IPS: every VIP, for refusing what is no frontend; but an address local on a device of the node is never one', () => {
    expect(plan.sets.get('EKP-IPVS-IPS')).toEqual(new Set([...plan.vips].filter((v) => !v.includes(':'))));
    expect(plan.sets.get('EKP6-IPVS-IPS')).toEqual(new Set(['fd00:96::18']));
    const onNode = buildPlan(s, { scheduler: 'wrr', localAddresses: new Set(['198.51.100.20', '10.0.0.5']) });
    expect(onNode.sets.get('EKP-IPVS-IPS')?.has('198.51.100.20')).toBe(false);
    expect(onNode.sets.get('EKP-IPVS-IPS')?.has('10.96.0.10')).toBe(true);
  });

  it('masquerading per family follows the node (clusterCIDRs → offCluster)', () => {
    expect(plan.masquerade[4]).toEqual({ clusterIP: 'offCluster', clusterCIDRs: ['10.244.0.0/16'], podInterface: null });
    expect(plan.masquerade[6]).toEqual({ clusterIP: 'offCluster', clusterCIDRs: ['fd00:244::/56'], podInterface: null });
  });

  it('a second service on the same address:port is skipped and reported', () => {
    const twice = state(
      [svc({ name: 'a', spec: { externalIPs: ['198.51.100.9'] } }), svc({ name: 'b', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], externalIPs: ['198.51.100.9'] } })],
      [],
    );
    const p = buildPlan(twice, { scheduler: 'rr' });
    expect(p.skipped).toEqual(['default/b:http: externalIP TCP/198.51.100.9:80 is already programmed for another service']);
  });

  it('netEntries: /0 split in halves (ipset refuses /0), host bits cleared', () => {
    expect(netEntries('0.0.0.0/0')).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    expect(netEntries('::/0')).toEqual(['::/1', '8000::/1']);
    expect(netEntries('10.1.2.3/8')).toEqual(['10.0.0.0/8']);
    expect(netEntries('2001:db8::1/128')).toEqual(['2001:db8::1']);
  });
});
