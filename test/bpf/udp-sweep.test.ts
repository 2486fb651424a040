// Stale UDP flows leave the ebpf conntrack maps: flows made by the real datapath (BPF_PROG_TEST_RUN),
// swept for what a sync decided (udp-conntrack.ts), then the same client tuple picks a live backend.
import { describe, expect } from 'vitest';
import { CT_TYPE, MAP, decodeCtKey, decodeCtVal } from '../../src/dataplane/ebpf/abi.js';
import { sweepUdpFlows } from '../../src/dataplane/ebpf/udp-sweep.js';
import { kernelIt } from '../support/capability.js';
import { buildPacket, parsePacket, type PacketSpec } from '../support/packet.js';
import { datapathFixture } from './datapath.js';
import { FROM_PODS, FROM_WIRE, NETS } from './fixtures.js';

const it = kernelIt();

describe.each(NETS)('UDP sweep of the conntrack maps ($tag)', (n) => {
  const fx = datapathFixture();
  const cip = { addr: n.clusterIp, port: 53, proto: 'udp' as const };
  const np = { addr: n.node, port: 30053, proto: 'udp' as const };
  const cipTcp = { addr: n.clusterIp, port: 53, proto: 'tcp' as const };
  const cip54 = { addr: n.clusterIp, port: 54, proto: 'udp' as const };

  function setup(slots: number[]): void {
    const dp = fx.dp;
    dp.setService({ frontend: cip, svcId: 1, slots });
    dp.setService({ frontend: np, svcId: 2, slots });
    dp.setService({ frontend: cipTcp, svcId: 3, slots });
    dp.setService({ frontend: cip54, svcId: 4, slots });
  }

  /** Where the datapath sends this packet (destination address after DNAT). */
  function send(spec: PacketSpec, config = FROM_PODS): string {
    const r = fx.dp.program('tc_ingress', config).testRun({ data: buildPacket(spec) });
    return parsePacket(r.data).dst;
  }
  const fromPod = (dport: number, proto: 'udp' | 'tcp' = 'udp', sport = 40000) =>
    ({ src: n.pod, dst: n.clusterIp, proto, sport, dport, ...(proto === 'tcp' ? { tcpFlags: { syn: true } } : {}) }) as PacketSpec;
  const fromOutside = { src: n.external, dst: n.node, proto: 'udp' as const, sport: 41000, dport: 30053 };

  const flows = () => [fx.dp.map(MAP.ct4), fx.dp.map(MAP.ct)].flatMap((m) => [...m.entries()].map(([k, v]) => {
    const key = decodeCtKey(k);
    return { key, val: decodeCtVal(v, key.family) };
  })).filter((e) => e.key.family === n.family);

  it('an endpoint removed: its FWD and REV entries go (SNATed NodePort flows too), the rest stay; the same tuple moves', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: n.remoteBe, port: 5353 });
    dp.setBackend(2, { addr: n.remoteBe2, port: 5353 });
    setup([1]);
    expect(send(fromPod(53))).toBe(n.remoteBe);
    expect(send(fromOutside, FROM_WIRE)).toBe(n.remoteBe); // SNATed: REV keyed by the SNAT port
    expect(send(fromPod(53, 'tcp'))).toBe(n.remoteBe);
    expect(send(fromPod(54, 'udp', 40009))).toBe(n.remoteBe);
    expect(flows()).toHaveLength(8);

    // The sync: backend 1 replaced by 2 in the ClusterIP and NodePort frontends of port 53.
    setup([2]);
    dp.setBackend(1, null);
    const deleted = sweepUdpFlows([dp.map(MAP.ct4), dp.map(MAP.ct)], [
      { family: n.family, frontend: [n.clusterIp, 53], replySrc: n.remoteBe },
      { family: n.family, frontend: [n.node, 30053], replySrc: n.remoteBe },
    ]);
    expect(deleted).toBe(4);
    const left = flows();
    expect(left).toHaveLength(4);
    // TCP keeps its backend; so does the other port of the same VIP.
    expect(left.filter((e) => e.val.type === CT_TYPE.FWD).map((e) => [e.key.proto, e.key.dport]).sort()).toEqual([[17, 54], [6, 53]]);
    expect(send(fromPod(53))).toBe(n.remoteBe2);
    expect(send(fromOutside, FROM_WIRE)).toBe(n.remoteBe2);
  });

  it('a REV entry whose FWD entry is gone goes too; another endpoint\'s flows and nothing-stale sweep nothing', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: n.remoteBe, port: 5353 });
    dp.setBackend(2, { addr: n.remoteBe2, port: 5353 });
    setup([1]);
    send(fromPod(53, 'udp', 40001));
    setup([2]);
    send(fromPod(53, 'udp', 40002));
    const fwdOf1 = flows().find((e) => e.val.type === CT_TYPE.FWD && e.val.addr === n.remoteBe)!;
    const ct = n.family === 4 ? dp.map(MAP.ct4) : dp.map(MAP.ct);
    const raw = [...ct.entries()].find(([k]) => decodeCtKey(k).sport === fwdOf1.key.sport && decodeCtKey(k).daddr === fwdOf1.key.daddr)!;
    ct.delete(Buffer.from(raw[0]));
    expect(flows()).toHaveLength(3);
    expect(sweepUdpFlows([dp.map(MAP.ct4), dp.map(MAP.ct)], [])).toBe(0);
    // The endpoint at another port (a pod that moved its port keeps its IP) is another endpoint.
    expect(sweepUdpFlows([dp.map(MAP.ct4), dp.map(MAP.ct)], [{ family: n.family, frontend: [n.clusterIp, 53], replySrc: n.remoteBe, replySrcPort: 5354 }])).toBe(0);
    expect(sweepUdpFlows([dp.map(MAP.ct4), dp.map(MAP.ct)], [{ family: n.family, frontend: [n.clusterIp, 53], replySrc: n.remoteBe, replySrcPort: 5353 }])).toBe(1);
    expect(flows().map((e) => e.val.addr === n.remoteBe2 || e.key.saddr === n.remoteBe2)).toEqual([true, true]);
  });

  it('a frontend\'s first endpoint: every UDP flow to it goes, whatever its backend', () => {
    const dp = fx.dp;
    dp.reset();
    dp.setBackend(1, { addr: n.remoteBe, port: 5353 });
    setup([1]);
    send(fromPod(53, 'udp', 40001));
    send(fromPod(53, 'udp', 40002));
    send(fromPod(53, 'tcp', 40003));
    expect(sweepUdpFlows([dp.map(MAP.ct4), dp.map(MAP.ct)], [{ family: n.family, frontend: [n.clusterIp, 53] }])).toBe(4);
    expect(flows().map((e) => e.key.proto)).toEqual([6, 6]);
  });
});
