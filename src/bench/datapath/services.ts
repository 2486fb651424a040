// Synthetic services for the datapath benchmark. One real Service + EndpointSlice
// goes through buildDesiredState (so every field is what the model produces); the
// other N-1 are copies with their own ClusterIP and pod IPs, because running the
// model over 100,000 Services takes ~30 s and would decide nothing new.
import { buildDesiredState, type Backend, type DesiredService, type DesiredState } from '../../model/index.js';
import { ipv4Add } from './packet.js';

export const NODE_IP = '172.18.0.2';
export const SERVICE_CIDR_BASE = '10.96.0.0'; // 10.96.0.0/12: 1,048,576 ClusterIPs
export const POD_BASE = '10.128.0.0'; // 10.128.0.0/9: pods on other nodes
export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;

export interface ServicePlan {
  /** Backends per service. */
  backends: number;
}

export function clusterIpOf(i: number): string {
  return ipv4Add(SERVICE_CIDR_BASE, i + 1);
}

export function backendIpOf(i: number, j: number, perService: number): string {
  return ipv4Add(POD_BASE, i * perService + j + 1);
}

function template(plan: ServicePlan): DesiredService {
  const cip = clusterIpOf(0);
  const endpoints = Array.from({ length: plan.backends }, (_, j) => ({
    addresses: [backendIpOf(0, j, plan.backends)],
    conditions: { ready: true },
    nodeName: 'node-b', // remote: external clients are SNATed, the heavier path
  }));
  const r = buildDesiredState({
    services: [{
      apiVersion: 'v1', kind: 'Service', metadata: { name: 's0', namespace: 'bench' },
      spec: { type: 'ClusterIP', clusterIP: cip, clusterIPs: [cip], ports: [{ name: 'http', port: SERVICE_PORT, protocol: 'TCP', targetPort: TARGET_PORT }] },
    }],
    endpointSlices: [{
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 's0-bench', namespace: 'bench', labels: { 'kubernetes.io/service-name': 's0' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }], endpoints,
    }],
    node: { nodeName: 'node-a', nodeAddresses: [NODE_IP], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false },
  });
  const s = [...r.state.services.values()][0];
  if (!s || r.problems.length) throw new Error(`bench: template service did not build: ${JSON.stringify(r.problems)}`);
  if (s.internalBackends.backends.length !== plan.backends) throw new Error('bench: template service lost backends');
  return s;
}

/** Service i of the synthetic cluster: ClusterIP clusterIpOf(i):80/TCP -> plan.backends remote pods :8080. */
export class SyntheticCluster {
  private readonly tpl: DesiredService;

  constructor(readonly plan: ServicePlan) {
    this.tpl = template(plan);
  }

  service(i: number): DesiredService {
    const t = this.tpl;
    if (i === 0) return t;
    const name = `s${i}`;
    const cip = clusterIpOf(i);
    const tb = t.internalBackends.backends[0]!;
    const backends: Backend[] = Array.from({ length: this.plan.backends }, (_, j) => ({ ...tb, ip: backendIpOf(i, j, this.plan.backends) }));
    return {
      ...t,
      name: { ...t.name, name },
      key: t.key.replace(/\/s0(?=[:@]|$)/, `/${name}`),
      clusterIP: cip,
      frontends: t.frontends.map((f) => ({ ...f, address: cip })),
      internalBackends: { ...t.internalBackends, backends },
    };
  }

  /** Services [0, count) as a desired state. */
  state(count: number): DesiredState {
    const services = new Map<string, DesiredService>();
    for (let i = 0; i < count; i++) {
      const s = this.service(i);
      services.set(s.key, s);
    }
    return { services };
  }
}

/** Index i spread over [0, n) by a multiplicative hash, so consecutive flows hit unrelated services. */
export function spread(i: number, n: number): number {
  return (Math.imul(i + 1, 0x9e3779b1) >>> 0) % n;
}
