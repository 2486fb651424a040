// Which UDP flows of the ebpf conntrack maps the reconciler takes for stale, for a given desired
// state: whatever the previous syncs (or a previous process) did.
import { describe, expect, it } from 'vitest';
import { staleFlowTest } from '../../../../src/dataplane/ebpf/udp-reconcile.js';
import { flowId } from '../../../../src/dataplane/ebpf/udp-sweep.js';
import { buildDesiredState, type DesiredService } from '../../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';

const PORT = { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 };

/**
 * UDP "dns" (or `name`): ClusterIP 10.96.0.10:53 unless `extra` says otherwise, external IP
 * 203.0.113.9, LB IP 198.51.100.7, NodePort 30053 (on NODE's 10.0.0.5 and 192.168.1.10),
 * endpoints on `epPort`.
 */
function dns(ips: string[], epPort = 5353, extra: Record<string, unknown> = {}, name = 'dns', addressType = 'IPv4'): DesiredService[] {
  return [...buildDesiredState({
    services: [svc({
      name,
      spec: { type: 'LoadBalancer', externalIPs: ['203.0.113.9'], ports: [PORT], ...extra },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } },
    })],
    endpointSlices: ips.length ? [slice({ service: name, addressType, ports: [{ name: 'dns', port: epPort, protocol: 'UDP' }], endpoints: ips.map((ip) => ep(ip, { node: 'node-b' })) })] : [],
    node: NODE,
  }).state.services.values()];
}

/** Whether a flow to `frontend` ("addr port") NATed to `backend` ("addr port") is stale. */
const stale = (services: DesiredService[], frontend: string, backend: string) => staleFlowTest(services)(flowId(frontend), flowId(backend));

describe('flowId', () => {
  it('by the address\'s bytes, so the map\'s and the model\'s IPv6 spellings meet', () => {
    expect(flowId('10.96.0.10 53')).toBe(String.fromCharCode(0x0a60, 0x000a, 53));
    expect(flowId('fd00:10:96::a 53')).toBe(String.fromCharCode(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0xa, 53));
    expect(flowId('fd00:10:96:0:0::a 53')).toBe(flowId('fd00:10:96::a 53'));
    expect(flowId('::ffff:10.96.0.10 53')).toBe(flowId('::ffff:a60:a 53'));
    expect(flowId('255.255.255.255 65535')).toBe('\uffff\uffff\uffff');
  });
});

describe('ebpf conntrack reconciler: stale flows for the desired state', () => {
  const frontends = ['10.96.0.10 53', '203.0.113.9 53', '198.51.100.7 53', '10.0.0.5 30053', '192.168.1.10 30053'];

  it('a flow to any frontend (cluster, external, LB, each NodePort address) NATed to a gone endpoint is stale; a live endpoint\'s is not', () => {
    const s = dns(['10.244.1.1']);
    for (const fe of frontends) {
      expect(stale(s, fe, '10.244.1.2 5353'), fe).toBe(true);
      expect(stale(s, fe, '10.244.1.1 5353'), fe).toBe(false);
    }
  });

  it('a port with no endpoint: every flow to it is stale', () => {
    for (const fe of frontends) expect(stale(dns([]), fe, '10.244.1.1 5353'), fe).toBe(true);
  });

  it('an endpoint that keeps its IP but moves its port is another endpoint', () => {
    expect(stale(dns(['10.244.1.1'], 5354), '10.96.0.10 53', '10.244.1.1 5353')).toBe(true);
    expect(stale(dns(['10.244.1.1'], 5354), '10.96.0.10 53', '10.244.1.1 5354')).toBe(false);
  });

  it('not a UDP frontend now: another port of the VIP, another address, a NodePort number elsewhere, a TCP port', () => {
    const s = dns([]);
    expect(stale(s, '10.96.0.10 54', '10.244.1.1 5353')).toBe(false);
    expect(stale(s, '10.96.0.11 53', '10.244.1.1 5353')).toBe(false);
    expect(stale(s, '8.8.8.8 30053', '10.244.1.1 5353')).toBe(false);
    // Only nodePortAddresses serve NodePorts (no localhost NodePorts in ebpf mode's model).
    expect(stale(s, '127.0.0.1 30053', '10.244.1.1 5353')).toBe(false);
    const tcp = dns([], 5353, { ports: [{ ...PORT, protocol: 'TCP' }] });
    expect(tcp[0]!.protocol).toBe('TCP');
    expect(stale(tcp, '10.96.0.10 53', '10.244.1.1 5353')).toBe(false);
  });

  it('two ports sharing a frontend keep the flows of either\'s endpoints', () => {
    const both = [...dns(['10.244.1.1']), ...dns(['10.244.2.2'], 5353, { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] }, 'other')];
    expect(stale(both, '203.0.113.9 53', '10.244.1.1 5353')).toBe(false);
    expect(stale(both, '203.0.113.9 53', '10.244.2.2 5353')).toBe(false);
    expect(stale(both, '203.0.113.9 53', '10.244.3.3 5353')).toBe(true);
    // Their own ClusterIPs are theirs alone.
    expect(stale(both, '10.96.0.10 53', '10.244.2.2 5353')).toBe(true);
  });

  it('IPv6: frontends and endpoints match by their bytes, however spelt', () => {
    const v6 = dns(['fd00:244:1::5'], 5353, { clusterIP: 'fd00:10:96::a', clusterIPs: ['fd00:10:96::a'], ipFamilies: ['IPv6'], externalIPs: [] }, 'dns6', 'IPv6');
    expect(v6[0]!.family).toBe(6);
    expect(stale(v6, 'fd00:10:96:0:0:0:0:a 53', 'fd00:244:1:0::5 5353')).toBe(false);
    expect(stale(v6, 'fd00:10:96::a 53', 'fd00:244:1::6 5353')).toBe(true);
    expect(stale(v6, 'fd00::10 30053', 'fd00:244:1::6 5353')).toBe(true);
  });
});
