import { describe, expect, it } from 'vitest';
import { staleUdpFlows, staleUdpLines, udpFlows, UdpFlowHistory, type UdpFlows } from '../../../src/dataplane/udp-conntrack.js';
import { buildDesiredState, type DesiredService } from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

const UDP_PORTS = { ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] };
const SLICE_PORTS = [{ name: 'dns', port: 5353, protocol: 'UDP' }];

/** UDP service "dns" (10.96.0.10:53, optionally external IPs and a NodePort) with these endpoints. */
function dns(ips: string[], spec: Record<string, unknown> = {}, tcp = false): DesiredService[] {
  const ports = tcp ? [{ name: 'dns', port: 53, protocol: 'TCP', targetPort: 5353 }] : UDP_PORTS.ports;
  const state = buildDesiredState({
    services: [svc({ name: 'dns', spec: { ...UDP_PORTS, ports, ...spec } })],
    endpointSlices: ips.length ? [slice({ service: 'dns', ports: tcp ? [{ ...SLICE_PORTS[0]!, protocol: 'TCP' }] : SLICE_PORTS, endpoints: ips.map((ip) => ep(ip, { node: 'node-b' })) })] : [],
    node: NODE,
  }).state;
  return [...state.services.values()];
}

const flows = (services: DesiredService[]): Map<string, UdpFlows> =>
  new Map(services.filter((s) => s.protocol === 'UDP').map((s) => [s.key, udpFlows(s)]));
const KEY = 'default/dns:dns';

describe('stale UDP conntrack entries', () => {
  it('nothing on the first sync of a process: a restart must not cut live flows', () => {
    expect(staleUdpLines(null, flows(dns(['10.244.1.1'])), [KEY])).toEqual([]);
  });

  it('an endpoint that keeps its IP but moves its port is another endpoint: the old port\'s entries go', () => {
    const at = (port: number) => [...buildDesiredState({
      services: [svc({ name: 'dns', spec: UDP_PORTS })],
      endpointSlices: [slice({ service: 'dns', ports: [{ name: 'dns', port, protocol: 'UDP' }], endpoints: [ep('10.244.1.1', { node: 'node-b' })] })],
      node: NODE,
    }).state.services.values()];
    expect(staleUdpLines(flows(at(5353)), flows(at(5354)), [KEY])).toEqual(['-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353']);
  });

  it('an endpoint gone: entries to each frontend answered by it', () => {
    const before = flows(dns(['10.244.1.1', '10.244.1.2'], { type: 'NodePort', ports: [{ ...UDP_PORTS.ports[0], nodePort: 30053 }] }));
    const after = flows(dns(['10.244.1.1'], { type: 'NodePort', ports: [{ ...UDP_PORTS.ports[0], nodePort: 30053 }] }));
    expect(staleUdpLines(before, after, [KEY]).sort()).toEqual([
      '-D -p udp --orig-dst 10.0.0.5 --orig-port-dst 30053 --reply-src 10.244.1.2 --reply-port-src 5353',
      '-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353',
      '-D -p udp --orig-dst 192.168.1.10 --orig-port-dst 30053 --reply-src 10.244.1.2 --reply-port-src 5353',
    ]);
  });

  it('a service port deleted: every endpoint\'s entries', () => {
    expect(staleUdpLines(flows(dns(['10.244.1.1', '10.244.1.2'])), new Map(), [KEY])).toEqual([
      '-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353',
      '-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353',
    ]);
  });

  it('a first endpoint: every entry to its frontends (made without DNAT)', () => {
    const spec = { externalIPs: ['203.0.113.9'] };
    expect(staleUdpLines(flows(dns([], spec)), flows(dns(['10.244.1.1'], spec)), [KEY])).toEqual([
      '-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53',
      '-D -p udp --orig-dst 203.0.113.9 --orig-port-dst 53',
    ]);
  });

  it('a service port that appears after the first sync, and a new frontend of an active one', () => {
    expect(staleUdpLines(new Map(), flows(dns(['10.244.1.1'])), [KEY])).toEqual(['-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53']);
    const before = flows(dns(['10.244.1.1']));
    const after = flows(dns(['10.244.1.1'], { externalIPs: ['203.0.113.9'] }));
    expect(staleUdpLines(before, after, [KEY])).toEqual(['-D -p udp --orig-dst 203.0.113.9 --orig-port-dst 53']);
  });

  it('nothing for unchanged ports, TCP ports, or keys not synced', () => {
    const a = flows(dns(['10.244.1.1']));
    expect(staleUdpLines(a, a, [KEY])).toEqual([]);
    expect(flows(dns(['10.244.1.1'], {}, true)).size).toBe(0);
    expect(staleUdpLines(a, new Map(), [])).toEqual([]);
  });

  it('IPv6 lines name the family', () => {
    const spec = { ipFamilies: ['IPv6'], clusterIP: 'fd00:96::10', clusterIPs: ['fd00:96::10'] };
    const v6 = (ips: string[]) => {
      const state = buildDesiredState({
        services: [svc({ name: 'dns', spec: { ...UDP_PORTS, ...spec } })],
        endpointSlices: [slice({ service: 'dns', addressType: 'IPv6', ports: SLICE_PORTS, endpoints: ips.map((ip) => ep(ip, { node: 'node-b' })) })],
        node: NODE,
      }).state;
      return flows([...state.services.values()]);
    };
    const before = v6(['fd00:244::1', 'fd00:244::2']);
    expect(staleUdpLines(before, v6(['fd00:244::1']), before.keys())).toEqual(['-D -p udp -f ipv6 --orig-dst fd00:96::10 --orig-port-dst 53 --reply-src fd00:244::2 --reply-port-src 5353']);
  });
});

describe('stale UDP flows as data (what ebpf deletes from its maps)', () => {
  it('the same decision as the lines: frontend, and the endpoint whose replies it had', () => {
    const before = flows(dns(['10.244.1.1', '10.244.1.2']));
    expect(staleUdpFlows(before, flows(dns(['10.244.1.1'])), [KEY])).toEqual([{ family: 4, frontend: ['10.96.0.10', 53], replySrc: '10.244.1.2', replySrcPort: 5353 }]);
    expect(staleUdpFlows(flows(dns([])), flows(dns(['10.244.1.1'])), [KEY])).toEqual([{ family: 4, frontend: ['10.96.0.10', 53] }]);
  });

  it('UdpFlowHistory: nothing on the first sync, then what each sync made stale; unsynced keys keep their past', () => {
    const h = new UdpFlowHistory();
    expect(h.synced(dns(['10.244.1.1', '10.244.1.2']), 'all')).toEqual([]);
    expect(h.synced(dns(['10.244.1.1']), new Set())).toEqual([]);
    expect(h.synced(dns(['10.244.1.1']), new Set([KEY]))).toEqual([{ family: 4, frontend: ['10.96.0.10', 53], replySrc: '10.244.1.2', replySrcPort: 5353 }]);
    expect(h.synced(dns(['10.244.1.1']), 'all')).toEqual([]);
  });
});
