// Representative desired states for the nftables golden files and kernel tests.
import { buildDesiredState, type DesiredState, type NodeContext } from '../../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';

const build = (services: unknown[], endpointSlices: unknown[], node: NodeContext = NODE): DesiredState =>
  buildDesiredState({ services, endpointSlices, node }).state;

const twoEps = (service = 'web', ports?: Record<string, unknown>[]) =>
  slice({ service, ...(ports ? { ports } : {}), endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.2.1', { node: 'node-b' })] });

export const STATES: Record<string, () => DesiredState> = {
  'clusterip-basic': () => build([svc()], [twoEps()]),
  'no-endpoints': () => build([svc()], []),
  'nodeport-cluster': () => build([svc({ spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] } })], [twoEps()]),
  'nodeport-local': () =>
    build([svc({ spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30081 }] } })], [twoEps()]),
  'nodeport-local-none-here': () =>
    build(
      [svc({ spec: { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30081 }] } })],
      [slice({ endpoints: [ep('10.244.2.1', { node: 'node-b' })] })],
    ),
  'itp-local': () => build([svc({ spec: { internalTrafficPolicy: 'Local' } })], [slice({ endpoints: [ep('10.244.2.1', { node: 'node-b' })] })]),
  'loadbalancer-source-ranges': () =>
    build(
      [
        svc({
          spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['203.0.113.0/24', '198.51.100.7/32'], ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30090 }] },
          status: { loadBalancer: { ingress: [{ ip: '192.0.2.50' }] } },
        }),
      ],
      [twoEps()],
    ),
  // Nested ranges (one interval set element each would overlap: nft refuses the transaction), and
  // one that holds the node's IP, 192.168.1.10: the LB IP is admitted as a source too.
  'loadbalancer-source-ranges-nested': () =>
    build(
      [
        svc({
          spec: { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.1.0.0/16', '10.0.0.0/8', '192.168.1.0/24', '192.168.1.7/32'], ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30090 }] },
          status: { loadBalancer: { ingress: [{ ip: '192.0.2.50' }] } },
        }),
      ],
      [twoEps()],
    ),
  'external-ip-udp': () =>
    build(
      [svc({ name: 'dns', spec: { clusterIP: '10.96.0.53', clusterIPs: ['10.96.0.53'], externalIPs: ['203.0.113.10'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } })],
      [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: [ep('10.244.1.5', { node: 'node-a' })] })],
    ),
  'affinity': () =>
    build([svc({ spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } } })], [twoEps()]),
  'dual-stack': () =>
    build(
      [svc({ spec: { ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: ['10.96.0.10', 'fd00:96::10'], type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] } })],
      [twoEps(), slice({ name: 'web-v6', addressType: 'IPv6', endpoints: [ep('fd00:244:1::1', { node: 'node-a' }), ep('fd00:244:2::1', { node: 'node-b' })] })],
    ),
  'masquerade-all': () => build([svc()], [twoEps()], { ...NODE, masqueradeAll: true }),
  // kube-proxy's InterfaceNamePrefix detector: pods are what comes in on cali*, whatever the CIDRs.
  'pod-interface': () => podInterfaceState({ name: 'cali', prefix: true }),
  'multi-service': () =>
    build(
      [svc(), svc({ name: 'api', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } })],
      [twoEps(), slice({ service: 'api', endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.1.2', { node: 'node-a' }), ep('10.244.2.2', { node: 'node-b' })] })],
    ),
  // Two ServiceCIDRs of IPv4 (a cluster adding a range) and one of IPv6.
  'service-cidrs': () => ({ ...build([svc()], [twoEps()]), serviceCIDRs: { 4: ['10.96.0.0/16', '10.100.0.0/24'], 6: ['fd00:96::/112'] } }),
};

export { build, twoEps };

/** A ClusterIP and an eTP Local NodePort with an interface detector instead of CIDRs. */
export function podInterfaceState(podInterface: { name: string; prefix: boolean }): DesiredState {
  return build([svc(), svc({ name: 'np', spec: { clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'], type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30081 }] } })],
    [twoEps(), slice({ service: 'np', endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.2.1', { node: 'node-b' })] })],
    { ...NODE, podInterface });
}
