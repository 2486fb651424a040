// Representative desired states for the iptables tests, from API objects through buildDesiredState.
import { buildDesiredState, type DesiredState } from '../../../../src/model/index.js';
import type { DataplaneContext } from '../../../../src/dataplane/index.js';
import type { ProxyConfig } from '../../../../src/config/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';

type Obj = Record<string, unknown>;
const port = (extra: Obj = {}) => [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, ...extra }];
const a = (ip: string) => ep(ip, { ready: true, node: 'node-a' });
const b = (ip: string) => ep(ip, { ready: true, node: 'node-b' });

export interface Objects {
  services: Obj[];
  endpointSlices: Obj[];
}

/** Every kind of frontend and policy kube-proxy's iptables proxier distinguishes. */
export function everything(): Objects {
  return {
    services: [
      svc({ name: 'web' }),
      svc({ name: 'np', spec: { type: 'NodePort', clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], ports: port({ nodePort: 30080 }) } }),
      svc({
        name: 'lb-local',
        spec: {
          type: 'LoadBalancer', clusterIP: '10.96.0.12', clusterIPs: ['10.96.0.12'], ports: port({ nodePort: 30081 }),
          externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, loadBalancerSourceRanges: ['203.0.113.0/24', '192.168.1.0/24'],
        },
        status: { loadBalancer: { ingress: [{ ip: '198.51.100.20' }] } },
      }),
      svc({ name: 'sticky', spec: { clusterIP: '10.96.0.13', clusterIPs: ['10.96.0.13'], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } } }),
      svc({ name: 'empty', spec: { type: 'NodePort', clusterIP: '10.96.0.14', clusterIPs: ['10.96.0.14'], externalIPs: ['198.51.100.30'], ports: port({ nodePort: 30082 }) } }),
      svc({ name: 'remote', spec: { type: 'NodePort', clusterIP: '10.96.0.15', clusterIPs: ['10.96.0.15'], externalTrafficPolicy: 'Local', ports: port({ nodePort: 30083 }) } }),
      svc({ name: 'itp-local', spec: { clusterIP: '10.96.0.16', clusterIPs: ['10.96.0.16'], internalTrafficPolicy: 'Local' } }),
      svc({ name: 'dns', spec: { clusterIP: '10.96.0.17', clusterIPs: ['10.96.0.17'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } }),
      svc({
        name: 'dual',
        spec: { clusterIP: '10.96.0.18', clusterIPs: ['10.96.0.18', 'fd00:96::18'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack', externalIPs: ['2001:db8::30'] },
      }),
    ],
    endpointSlices: [
      slice({ service: 'web', endpoints: [a('10.244.1.1'), b('10.244.2.1')] }),
      slice({ service: 'np', endpoints: [a('10.244.1.2'), b('10.244.2.2')] }),
      slice({ service: 'lb-local', endpoints: [a('10.244.1.3'), b('10.244.2.3')] }),
      slice({ service: 'sticky', endpoints: [a('10.244.1.4'), b('10.244.2.4')] }),
      slice({ service: 'empty', endpoints: [] }),
      slice({ service: 'remote', endpoints: [b('10.244.2.5')] }),
      slice({ service: 'itp-local', endpoints: [b('10.244.2.6')] }),
      slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [a('10.244.1.7')] }),
      slice({ service: 'dual', endpoints: [a('10.244.1.8'), b('10.244.2.8')] }),
      slice({ service: 'dual', name: 'dual-v6', addressType: 'IPv6', endpoints: [a('fd00:244:1::8'), b('fd00:244:2::8')] }),
    ],
  };
}

export function desired(o: Objects): DesiredState {
  const r = buildDesiredState({ ...o, node: NODE });
  if (r.problems.length) throw new Error(JSON.stringify(r.problems));
  return r.state;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {}, with() { return quiet; } };

export function context(over: Partial<ProxyConfig> = {}, nodeAddresses: readonly string[] = NODE.nodeAddresses): DataplaneContext {
  return { config: { masqueradeBit: 14, ...over } as ProxyConfig, log: quiet, nodeAddresses: () => [...nodeAddresses] };
}

export { NODE };
