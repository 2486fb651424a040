// When the ebpf mode's UDP flow cleaner walks its conntrack maps and what its metric counts, over
// in-memory maps (test/bpf/udp-reconcile.test.ts runs it over the kernel's).
import { describe, expect, it } from 'vitest';
import { CT_TYPE, SIZE, encodeCtKey, encodeCtVal } from '../../../../src/dataplane/ebpf/abi.js';
import { UdpFlowCleaner } from '../../../../src/dataplane/ebpf/udp-cleaner.js';
import { RECONCILE_DELETED, RECONCILE_LATENCY } from '../../../../src/dataplane/reconciler-metrics.js';
import { buildDesiredState, type DesiredService } from '../../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';
import { FakeMap } from './fake-map.js';

const VIP = '10.96.0.10';
const CLIENT = '10.244.0.2';

/** UDP "dns" 10.96.0.10:53 to `ips` on 5353. */
function dns(ips: string[]): DesiredService[] {
  return [...buildDesiredState({
    services: [svc({ name: 'dns', spec: { ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } })],
    endpointSlices: ips.length ? [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: ips.map((ip) => ep(ip)) })] : [],
    node: NODE,
  }).state.services.values()];
}
const KEY = dns([])[0]!.key;

function maps() {
  const log: string[] = [];
  return { log, 4: new FakeMap('ct4', SIZE.ekp_ct4_key, SIZE.ekp_ct_val, log), 6: new FakeMap('ct', SIZE.ekp_ct_key, SIZE.ekp_ct_val, log) };
}

const val = (type: number, addr: string, port: number) =>
  encodeCtVal({ expiresNs: 1n, addr, addr2: null, port, port2: 0, svcId: 1, backendId: 1, type, state: 0, flags: 0, tcpFlagsSeen: 0 });

/** A flow CLIENT:sport → VIP:53 NATed to backend:5353, both halves unless `half` says one. */
function flow(m: FakeMap, backend: string, sport: number, half: 'both' | 'rev' = 'both'): void {
  if (half === 'both') m.update(encodeCtKey({ saddr: CLIENT, daddr: VIP, sport, dport: 53, proto: 'udp' }), val(CT_TYPE.FWD, backend, 5353));
  m.update(encodeCtKey({ saddr: backend, daddr: CLIENT, sport: 5353, dport: sport, proto: 'udp' }), val(CT_TYPE.REV, VIP, 53));
}

const deletedTotal = (c: UdpFlowCleaner) => c.kernelMetrics()[RECONCILE_DELETED]!.samples;
const walks = (c: UdpFlowCleaner) => c.kernelMetrics()[RECONCILE_LATENCY]!.samples.map((s) => [s.labels.ip_family, s.value]);

describe('UdpFlowCleaner (ebpf)', () => {
  it('the first sync walks the maps of the families with UDP ports; later, only full syncs do', () => {
    const m = maps();
    flow(m[4], '10.244.1.1', 40000);
    flow(m[4], '10.244.1.2', 40001);
    const c = new UdpFlowCleaner(m);
    expect(deletedTotal(c)).toEqual([]);
    m.log.length = 0;
    // A partial first sync: no history, so the diff has nothing; the reconciler runs anyway.
    expect(c.synced(dns(['10.244.1.2']), new Set([KEY]))).toEqual({ swept: 0, reconciled: 1 });
    expect(m.log).toEqual(['ct4 deleteBatch 2']); // no IPv6 UDP port: that map is not walked
    expect(m[4].data.size).toBe(2);
    expect(deletedTotal(c)).toEqual([{ labels: { ip_family: 'IPv4' }, value: 1 }]);

    flow(m[4], '10.244.1.3', 40002);
    expect(c.synced(dns(['10.244.1.2']), new Set([KEY]))).toEqual({ swept: 0, reconciled: 0 });
    expect(c.synced(dns(['10.244.1.2']), 'all')).toEqual({ swept: 0, reconciled: 0 });
    expect(walks(c)).toEqual([['IPv4', 1]]);
    expect(c.synced(dns(['10.244.1.2']), 'all', { reconcile: true })).toEqual({ swept: 0, reconciled: 1 });
    expect(walks(c)).toEqual([['IPv4', 2]]);
  });

  it('the diff goes first, and the metric counts the reconciler\'s own flows; a REV entry alone is one flow', () => {
    const m = maps();
    const c = new UdpFlowCleaner(m);
    c.synced(dns(['10.244.1.1', '10.244.1.2']), 'all');
    flow(m[4], '10.244.1.1', 40000);
    flow(m[4], '10.244.1.2', 40001);
    flow(m[4], '10.244.1.3', 40002, 'rev'); // left by a removal the diff never saw, its FWD half gone
    // 1.2 goes: the diff deletes its flow (2 entries); the reconciler then finds 1.3's REV entry.
    expect(c.synced(dns(['10.244.1.1']), 'all', { reconcile: true })).toEqual({ swept: 2, reconciled: 1 });
    expect(m[4].data.size).toBe(2);
    expect(deletedTotal(c)).toEqual([{ labels: { ip_family: 'IPv4' }, value: 1 }]);
  });

  it('a service port the writer left as it was keeps its flows', () => {
    const m = maps();
    flow(m[4], '10.244.1.1', 40000);
    const c = new UdpFlowCleaner(m);
    expect(c.synced(dns(['10.244.1.2']), 'all', { notProgrammed: new Set([KEY]) })).toEqual({ swept: 0, reconciled: 0 });
    expect(m[4].data.size).toBe(2);
  });
});
