// The ebpf conntrack reconciler over real maps: flows made by the real datapath (BPF_PROG_TEST_RUN)
// while a daemon wrote endpoints A and B; A is removed while no daemon runs; a restarted one (a
// new writer and cleaner: no history) deletes the UDP flows to A on its first sync, and only those.
import { describe, expect } from 'vitest';
import { CT_TYPE, MAP, SLOTS_PER_ENTRY, decodeCtKey, decodeCtVal } from '../../src/dataplane/ebpf/abi.js';
import { UdpFlowCleaner } from '../../src/dataplane/ebpf/udp-cleaner.js';
import { ServiceWriter } from '../../src/dataplane/ebpf/writer.js';
import { RECONCILE_DELETED, RECONCILE_LATENCY } from '../../src/dataplane/reconciler-metrics.js';
import { buildDesiredState, type DesiredState } from '../../src/model/index.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, parsePacket, type PacketSpec } from '../support/packet.js';
import { ep, NODE, slice, svc } from '../unit/model/fixtures.js';
import { datapathFixture } from './datapath.js';
import { FROM_PODS, FROM_WIRE } from './fixtures.js';

const it = kernelIt();

const FAMILIES = [
  { tag: 'v4', family: 4 as const, type: 'IPv4', vip: '10.96.0.10', old: '10.96.0.20', a: '10.244.1.5', b: '10.244.2.9', pod: '10.244.0.2', node: '192.168.1.10', outside: '192.0.2.10' },
  { tag: 'v6', family: 6 as const, type: 'IPv6', vip: 'fd00:10:96::a', old: 'fd00:10:96::14', a: 'fd00:244:1::5', b: 'fd00:244:2::9', pod: 'fd00:244::2', node: 'fd00::10', outside: '2001:db8:ff::10' },
];

describe.each(FAMILIES)('ebpf UDP conntrack reconciler after a restart ($tag)', (f) => {
  const fx = datapathFixture();

  /**
   * "dns": a NodePort Service with 53/UDP (NodePort 30053) and 53/TCP on the same ClusterIP,
   * both to `endpoints` on 5353; "old": a ClusterIP Service 53/UDP to A, unless `withOld` is false.
   */
  function state(endpoints: string[], withOld: boolean): DesiredState {
    const spec = (clusterIP: string) => ({ clusterIP, clusterIPs: [clusterIP], ipFamilies: [f.type] });
    const ports = [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353, nodePort: 30053 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 }];
    const epPorts = [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'dns-tcp', port: 5353, protocol: 'TCP' }];
    const at = (ips: string[]) => ips.map((ip) => ep(ip, { node: 'node-b' }));
    return buildDesiredState({
      services: [
        svc({ name: 'dns', spec: { ...spec(f.vip), type: 'NodePort', ports } }),
        ...(withOld ? [svc({ name: 'old', spec: { ...spec(f.old), ports: [ports[0]!] } })] : []),
      ],
      endpointSlices: [
        slice({ service: 'dns', addressType: f.type, ports: epPorts, endpoints: at(endpoints) }),
        ...(withOld ? [slice({ service: 'old', addressType: f.type, ports: [epPorts[0]!], endpoints: at([f.a]) })] : []),
      ],
      node: NODE,
    }).state;
  }

  const writer = () => {
    const maps = { svc: fx.dp.map(MAP.svc), backend: fx.dp.map(MAP.backend), slots: fx.dp.map(MAP.slots), srcRange: fx.dp.map(MAP.srcRange) };
    const w = new ServiceWriter(maps, {
      algorithm: 'random',
      sizes: { svcIds: maps.svc.maxEntries, backends: maps.backend.maxEntries, slots: maps.slots.maxEntries * SLOTS_PER_ENTRY },
    });
    w.adopt();
    return w;
  };

  /** Where the datapath sends this packet (its destination after DNAT). */
  const send = (spec: PacketSpec, config = FROM_PODS) => parsePacket(fx.dp.program('tc_ingress', config).testRun({ data: buildPacket(spec) }).data).dst;
  const fromPod = (dst: string, sport: number, proto: 'udp' | 'tcp' = 'udp'): PacketSpec =>
    ({ src: f.pod, dst, proto, sport, dport: 53, ...(proto === 'tcp' ? { tcpFlags: { syn: true } } : {}) });
  const fromOutside = (sport: number): PacketSpec => ({ src: f.outside, dst: f.node, proto: 'udp', sport, dport: 30053 });

  /** Every flow of this family: its FWD entry's frontend and backend, and whether its REV entry is there. */
  function flows() {
    const entries = [...fx.dp.map(f.family === 4 ? MAP.ct4 : MAP.ct).entries()].map(([k, v]) => {
      const key = decodeCtKey(k);
      return { key, val: decodeCtVal(v, key.family) };
    });
    const revs = new Set(entries.filter((e) => e.val.type === CT_TYPE.REV).map((e) => `${e.key.saddr} ${e.key.sport} ${e.val.addr} ${e.val.port}`));
    return entries.filter((e) => e.val.type === CT_TYPE.FWD).map((e) => ({
      proto: e.key.proto === 17 ? 'udp' : 'tcp', frontend: `${e.key.daddr} ${e.key.dport}`, backend: e.val.addr, sport: e.key.sport,
      rev: revs.has(`${e.val.addr} ${e.val.port} ${e.key.daddr} ${e.key.dport}`),
    }));
  }
  const count = (list: ReturnType<typeof flows>, proto: string, frontend: string, backend: string) =>
    list.filter((x) => x.proto === proto && x.frontend === frontend && x.backend === backend).length;

  it('the first sync deletes the UDP flows to the gone endpoint (ClusterIP and NodePort, FWD and REV) and nothing else; the metric counts them', () => {
    fx.dp.reset();
    expect([...state([f.a], false).services.values()].find((s) => s.protocol === 'UDP')!.frontends.map((x) => x.address)).toContain(f.node);

    // The previous daemon: A and B behind "dns", A behind "old"; clients spread over both.
    writer().apply({ state: state([f.a, f.b], true), changed: 'all' });
    for (let i = 0; i < 24; i++) {
      send(fromPod(f.vip, 40000 + i));
      send(fromPod(f.vip, 41000 + i, 'tcp'));
      send(fromOutside(42000 + i), FROM_WIRE);
    }
    expect(send(fromPod(f.old, 43000))).toBe(f.a);
    const before = flows();
    expect(before.every((x) => x.rev)).toBe(true);
    const udpToA = count(before, 'udp', `${f.vip} 53`, f.a) + count(before, 'udp', `${f.node} 30053`, f.a);
    for (const [proto, fe] of [['udp', `${f.vip} 53`], ['tcp', `${f.vip} 53`], ['udp', `${f.node} 30053`]] as const) {
      expect(count(before, proto, fe, f.a), `${proto} ${fe} to A`).toBeGreaterThan(0);
      expect(count(before, proto, fe, f.b), `${proto} ${fe} to B`).toBeGreaterThan(0);
    }

    // A is removed, and "old" deleted, while no daemon runs. The restarted one: a new writer and
    // cleaner, no history; its first sync is a partial one (the tracker's first is full, but the
    // reconciler must not wait for one).
    const after = state([f.b], false);
    writer().apply({ state: after, changed: 'all' });
    const cleaner = new UdpFlowCleaner({ 4: fx.dp.map(MAP.ct4), 6: fx.dp.map(MAP.ct) });
    expect(cleaner.kernelMetrics()[RECONCILE_DELETED]!.samples).toEqual([]);
    const d = cleaner.synced(after.services.values(), new Set<string>());

    const left = flows();
    // UDP to A: gone, both halves (every REV entry left is one of the FWD entries left).
    expect(count(left, 'udp', `${f.vip} 53`, f.a) + count(left, 'udp', `${f.node} 30053`, f.a)).toBe(0);
    expect(left.length).toBe(before.length - udpToA);
    const revLeft = [...fx.dp.map(f.family === 4 ? MAP.ct4 : MAP.ct).entries()].filter(([k, v]) => {
      const key = decodeCtKey(k);
      return decodeCtVal(v, key.family).type === CT_TYPE.REV;
    }).length;
    expect(revLeft).toBe(left.length);
    // B's UDP flows, TCP flows to A (an established connection keeps its backend), and the flow
    // to "old"'s ClusterIP, no frontend now (only the diff knows it went away), all stay.
    expect(count(left, 'udp', `${f.vip} 53`, f.b)).toBe(count(before, 'udp', `${f.vip} 53`, f.b));
    expect(count(left, 'udp', `${f.node} 30053`, f.b)).toBe(count(before, 'udp', `${f.node} 30053`, f.b));
    expect(count(left, 'tcp', `${f.vip} 53`, f.a)).toBe(count(before, 'tcp', `${f.vip} 53`, f.a));
    expect(count(left, 'udp', `${f.old} 53`, f.a)).toBe(1);
    expect(left.every((x) => x.rev)).toBe(true);
    expect(d).toEqual({ swept: 0, reconciled: udpToA });

    // The metric, by family; the other family had no UDP port and no walk.
    const label = { ip_family: f.family === 4 ? 'IPv4' : 'IPv6' };
    const m = cleaner.kernelMetrics();
    expect(m[RECONCILE_DELETED]!.samples).toEqual([{ labels: label, value: udpToA }]);
    const walks = () => cleaner.kernelMetrics()[RECONCILE_LATENCY]!.samples.map((s) => [s.labels, s.value]);
    expect(m[RECONCILE_LATENCY]!.type).toBe('histogram');
    expect(walks()).toEqual([[label, 1]]);

    // A client of A's keeps talking: the same tuple is a new flow, to B.
    const moved = before.find((x) => x.proto === 'udp' && x.frontend === `${f.vip} 53` && x.backend === f.a)!;
    expect(send(fromPod(f.vip, moved.sport))).toBe(f.b);

    // Later syncs: a partial one walks nothing; a full one walks again and finds nothing stale.
    expect(cleaner.synced(after.services.values(), new Set<string>())).toEqual({ swept: 0, reconciled: 0 });
    expect(walks()).toEqual([[label, 1]]);
    expect(cleaner.synced(after.services.values(), 'all', { reconcile: true })).toEqual({ swept: 0, reconciled: 0 });
    expect(walks()).toEqual([[label, 2]]);
    expect(cleaner.kernelMetrics()[RECONCILE_DELETED]!.samples).toEqual([{ labels: label, value: udpToA }]);
  });
});
