// Pure helpers of `bench datapath`: statistics, the derivation of syn_vip, goals, the
// JSON document's shape, the table, the packet builder and the synthetic services.
import { describe, expect, it } from 'vitest';
import {
  CASES, buildDoc, deriveSmallTable, deriveScale, establishedByLoad, evaluateGoals, formatBytes, formatReport, formatTable, median,
  type PerCallSample, type RoundSample, type ScaleResult,
} from '../../../src/bench/datapath/report.js';
import { TCP, ipv4Add, parseTcp4, sameButTtl, tcp4Frame } from '../../../src/bench/datapath/packet.js';
import { SyntheticCluster, backendIpOf, clusterIpOf, spread } from '../../../src/bench/datapath/services.js';

const pc = (syn: number, est: number, miss: number, floor: number): PerCallSample => ({ syn_vip: syn, established: est, miss, floor });

function round(k: number, load = 0): RoundSample {
  return {
    load,
    floorRepeat: 40 + k,
    tcFloorRepeat: 50 + k,
    repeat: { tc: { established: 100 + k, reply: 110 + k, miss: 90 + k }, xdp: { syn_vip: 95, established: 80, reply: 85, miss: 70 } },
    newFlow: { syn: 900 + 3 * k, spread: 1200 + k, noinsert: 500 + 5 * k, ct: 700 + 2 * k, insert: 400 + 4 * k, feed: 60 + k, bare: 20 },
    perCall: pc(800 + k, 250 + k, 240, 150),
  };
}

describe('median', () => {
  it('takes the middle element or the mean of the two middle ones, without reordering the input', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('deriveScale', () => {
  it('reports repeat=N medians for established/reply/miss/both floors (and all of XDP) and takes the feed out of tc syn_vip per round', () => {
    const r = deriveScale({ services: 10, rounds: [round(0), round(2), round(1)] });
    expect(r.floorNs).toEqual({ tc: 51, xdp: 41 });
    expect(r.ns.tc).toEqual({
      // per round: fed syn - feed + bare = 900+3k - (60+k) + 20 = 860+2k -> median 862
      syn_vip: 862, established: 101, reply: 111, miss: 91,
    });
    expect(r.syn.feed).toBe(41);
    expect(r.syn.spread).toBe(1201 - 61 + 20);
    expect(r.syn.ctCreate).toBe(702 - 61 + 20);
    // per round 400+4k - (60+k) + 20 = 360+3k -> median 363
    expect(r.syn.insert).toBe(363);
    // per round 500+5k - (60+k) + 20 = 460+4k -> median 464
    expect(r.syn.noInsert).toBe(464);
    // the single SYN: per round 800+k - (250+k - (100+k)) -> median 651
    expect(r.syn.perCall).toBe(801);
    expect(r.syn.overhead).toBe(150);
    expect(r.syn.single).toBe(651);
    expect(r.syn.viaMiss).toBe(801 - (240 - 91));
    // the per-call floor is the tc one, like the SYN it corrects
    expect(r.syn.viaFloor).toBe(801 - (150 - 51));
    expect(r.ns.xdp).toEqual({ syn_vip: 95, established: 80, reply: 85, miss: 70 });
  });

  it('refuses an empty sample', () => {
    expect(() => deriveScale({ services: 1, rounds: [] })).toThrow(RangeError);
  });
});

function scale(services: number, f: number, mult: number, ctCreate = 1, insert = 1, noInsert = 2): ScaleResult {
  const ns = Object.fromEntries(CASES.map((c, i) => [c, (i + 1) * 10 * mult])) as ScaleResult['ns']['tc'];
  const syn = { feed: 1, perCall: 1, overhead: 1, single: 1, viaMiss: 1, viaFloor: 1, spread: 100 * mult, ctCreate, insert, noInsert };
  // The XDP floor is half the tc one, so a ratio taken to the wrong floor shows.
  return { services, floorNs: { tc: f, xdp: f / 2 }, ns: { tc: ns, xdp: ns }, syn };
}

describe('establishedByLoad', () => {
  it('takes the median of each load of the programs, in load order, naming the loads it saw', () => {
    const r = establishedByLoad([{ services: 10, rounds: [round(0, 3), round(5, 0), round(2, 3), round(9, 0), round(4, 3), round(1, 0)] }]);
    // load 0: established 105, 109, 101 -> 105; load 3: 100, 102, 104 -> 102
    expect(r).toEqual([{ services: 10, loads: [0, 3], established: [105, 102], reply: [115, 112], floor: [55, 52] }]);
  });

  it('is printed only when there was more than one load', () => {
    const one = { services: 1, loads: [0], established: [100], reply: [110], floor: [50] };
    const s = { services: 1, floorNs: { tc: 50, xdp: 40 }, ns: { tc: { syn_vip: 900, established: 100, reply: 110, miss: 90 }, xdp: { syn_vip: 95, established: 80, reply: 85, miss: 70 } },
      syn: { feed: 10, spread: 1000, noInsert: 450, ctCreate: 700, insert: 400, perCall: 800, overhead: 150, single: 650, viaMiss: 650, viaFloor: 700 } } as ScaleResult;
    const doc = (b: unknown) => buildDoc({ scales: [s], mapBytes: { total: 1 }, extra: { tc_established_by_load: b } });
    expect(formatReport(doc([one]), [s])).not.toContain('each load');
    expect(formatReport(doc([{ ...one, loads: [0, 1], established: [100, 112], reply: [110, 111], floor: [50, 51] }]), [s]))
      .toContain('1: established 100.0 / 112.0; reply 110.0 / 111.0; floor 50.0 / 51.0');
  });
});

describe('evaluateGoals', () => {
  it('checks the 10,000-service ratios and the 1 -> 100,000 growth per case', () => {
    const goals = evaluateGoals([scale(1, 10, 1), scale(10_000, 10, 1), scale(100_000, 10, 1.1)]);
    const by = (s: string) => goals.find((g) => g.goal.includes(s))!;
    // established = 20 ns over a 10 ns floor
    expect(by('established at 10,000')).toMatchObject({ measured: 2, limit: 2, met: true });
    expect(by('new flow')).toMatchObject({ measured: 1, met: true });
    expect(by('miss growth')).toMatchObject({ measured: 10, met: true });
    expect(by('spread')).toMatchObject({ measured: 10, met: true });
    // the flow floor (insert 1 ns) against the same 4x bar
    expect(by('(reference) tc flow floor')).toMatchObject({ measured: 0.1, limit: 4, met: true });
    // and the new flow without its inserts (2 ns)
    expect(by('without its conntrack inserts')).toMatchObject({ measured: 0.2, limit: 4, met: true });
    expect(goals).toHaveLength(4 + CASES.length + 1);
  });

  it('holds the flow floor and the new flow without inserts to the new-flow bar, and fails them when they are over', () => {
    const goals = evaluateGoals([scale(10_000, 10, 1, 1, 41, 40)]);
    expect(goals.find((g) => g.goal.includes('flow floor'))).toMatchObject({ measured: 4.1, met: false });
    expect(goals.find((g) => g.goal.includes('without its conntrack inserts'))).toMatchObject({ measured: 4, met: true });
    const over = evaluateGoals([scale(10_000, 10, 1, 1, 40, 41)]);
    expect(over.find((g) => g.goal.includes('flow floor'))).toMatchObject({ measured: 4, met: true });
    expect(over.find((g) => g.goal.includes('without its conntrack inserts'))).toMatchObject({ measured: 4.1, met: false });
  });

  it('only states what was measured', () => {
    expect(evaluateGoals([scale(1, 10, 1)])).toEqual([]);
  });
});

describe('buildDoc', () => {
  const scales = [scale(1, 10, 1), scale(10_000, 12, 1), scale(100_000, 14, 1)];
  const doc = buildDoc({ scales, mapBytes: { ekp_svc_v1: 100, total: 100 }, extra: { method: 'm' } });

  it('has exactly the required keys and row shape, tc rows in results', () => {
    expect(doc.floor_ns).toBe(12);
    expect(doc.xdp_floor_ns).toBe(6);
    expect(doc.map_bytes).toEqual({ ekp_svc_v1: 100, total: 100 });
    expect(doc.results).toHaveLength(3 * CASES.length);
    for (const row of doc.results) {
      expect(Object.keys(row).sort()).toEqual(['case', 'ns', 'services']);
      expect(CASES).toContain(row.case);
      expect(typeof row.ns).toBe('number');
    }
    expect(doc.results[0]).toEqual({ services: 1, case: 'syn_vip', ns: 10 });
    expect(doc.method).toBe('m');
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('carries XDP results, ratios to the per-scale floor and the goals as extras', () => {
    expect(doc.xdp_results).toHaveLength(3 * CASES.length);
    type Ratio = { services: number; case: string; ratio: number };
    const ratios = doc.ratio_to_floor as { tc: Ratio[]; tc_to_xdp_floor: Ratio[] };
    expect(ratios.tc.find((r) => r.services === 100_000 && r.case === 'established')!.ratio).toBe(round2(20 / 14));
    expect(ratios.tc_to_xdp_floor.find((r) => r.services === 100_000 && r.case === 'established')!.ratio).toBe(round2(20 / 7));
    expect(doc.floor_ns_by_scale).toEqual({ 1: { tc: 10, xdp: 5 }, 10000: { tc: 12, xdp: 6 }, 100000: { tc: 14, xdp: 7 } });
    expect(Array.isArray(doc.goals)).toBe(true);
  });

  it('renders as a table with every scale and case', () => {
    const text = formatReport(doc, scales);
    expect(text).toContain('100,000');
    for (const c of CASES) expect(text).toContain(c);
    expect(text).toContain('ekp_svc_v1');
    expect(text).not.toContain('conntrack_small_table');
    // the new-flow table's columns, each with its ratio to the tc floor (noInsert 2 ns over 12)
    expect(text).toMatch(/spread VIPs +no inserts +conntrack alone +flow floor +feed adds/);
    expect(text).toContain('2.0 (0.17x)');
  });

  it('prints the small-table conntrack figures against the 10,000-service scale when they were measured', () => {
    const small = deriveSmallTable(16_384, 3 << 20, [
      { ct: 700, insert: 400, feed: 60, bare: 20 }, { ct: 720, insert: 380, feed: 70, bare: 20 }, { ct: 650, insert: 390, feed: 50, bare: 20 },
    ]);
    // per round, less the feed and plus the bare loop: ct 660 / 670 / 620, insert 360 / 330 / 360
    expect(small).toEqual({ entries: 16_384, ct4MapBytes: 3 << 20, ctCreate: 660, insert: 360 });
    // Each scale its own conntrack figures, so a wrong scale or a swapped denominator shows.
    const own = [scale(1, 10, 1, 900, 450), scale(10_000, 12, 1, 1100, 550), scale(100_000, 14, 1, 1300, 650)];
    const text = formatReport({ ...buildDoc({ scales: own, mapBytes: { total: 1 } }), conntrack_small_table: small }, own);
    // 660 / 1100 and 360 / 550
    expect(text).toContain('conntrack maps of 16,384 entries (the IPv4 one 3.0 MiB), conntrack alone costs 660.0 ns and\nthe flow floor 360.0 ns (conntrack_small_table): 60 % and 65 % of what they cost with the real maps at 10,000 services.');
    expect(() => deriveSmallTable(1, 1, [])).toThrow(RangeError);
  });
});

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

describe('formatTable / formatBytes', () => {
  it('pads the first column left and the others right', () => {
    expect(formatTable(['a', 'bb'], [['xyz', '1'], ['q', '22']])).toBe(['a    bb', '---  --', 'xyz   1', 'q    22'].join('\n'));
  });
  it('uses binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 2 ** 20)).toBe('3.0 MiB');
  });
});

describe('bench packets', () => {
  it('builds frames whose checksums verify, and parses them back', () => {
    const f = tcp4Frame({ src: '198.18.0.1', dst: '10.96.0.1', sport: 1024, dport: 80, flags: TCP.SYN });
    expect(f.length).toBe(54);
    expect(parseTcp4(f)).toEqual({ src: '198.18.0.1', dst: '10.96.0.1', sport: 1024, dport: 80, flags: TCP.SYN, ttl: 64, checksumsOk: true });
    const g = tcp4Frame({ src: '1.2.3.4', dst: '5.6.7.8', sport: 1, dport: 2, flags: TCP.ACK | TCP.PSH, payload: Buffer.from('odd') });
    expect(parseTcp4(g).checksumsOk).toBe(true);
    g[g.length - 1] ^= 1;
    expect(parseTcp4(g).checksumsOk).toBe(false);
  });
  it('tells a frame that came back with fewer hops from one that changed elsewhere', () => {
    const f = tcp4Frame({ src: '198.18.0.1', dst: '10.96.0.1', sport: 1024, dport: 80, flags: TCP.ACK, ttl: 255 });
    const lower = tcp4Frame({ src: '198.18.0.1', dst: '10.96.0.1', sport: 1024, dport: 80, flags: TCP.ACK, ttl: 1 });
    expect(parseTcp4(lower)).toMatchObject({ ttl: 1, checksumsOk: true });
    expect(sameButTtl(f, lower)).toBe(true);
    expect(sameButTtl(f, tcp4Frame({ src: '198.18.0.1', dst: '10.96.0.1', sport: 1025, dport: 80, flags: TCP.ACK, ttl: 1 }))).toBe(false);
    expect(sameButTtl(f, f.subarray(0, 40))).toBe(false);
  });
  it('adds to addresses across octets', () => {
    expect(ipv4Add('10.96.0.0', 256 + 1)).toBe('10.96.1.1');
    expect(ipv4Add('10.128.0.0', 1_000_000)).toBe('10.143.66.64');
  });
});

describe('synthetic services', () => {
  const cluster = new SyntheticCluster({ backends: 10 });

  it('copies the model-built template with its own ClusterIP and backends', () => {
    const s = cluster.service(12_345);
    expect(s.key).toBe('bench/s12345:http');
    expect(s.clusterIP).toBe(clusterIpOf(12_345));
    expect(s.frontends).toEqual([expect.objectContaining({ kind: 'clusterIP', address: clusterIpOf(12_345), port: 80, protocol: 'TCP' })]);
    expect(s.internalBackends.backends.map((b) => b.ip)).toEqual(Array.from({ length: 10 }, (_, j) => backendIpOf(12_345, j, 10)));
    expect(s.internalBackends.backends.every((b) => b.port === 8080 && !b.isLocal && b.ready)).toBe(true);
    expect(cluster.service(0).internalBackends.backends).toHaveLength(10);
  });

  it('keeps keys and addresses unique across 100,000 services', () => {
    const ips = new Set<string>();
    for (const i of [0, 1, 99_999]) ips.add(cluster.service(i).clusterIP);
    expect(ips.size).toBe(3);
    expect(backendIpOf(99_999, 9, 10)).toBe(ipv4Add('10.128.0.0', 1_000_000));
    expect(cluster.state(50).services.size).toBe(50);
  });

  it('spreads indices over the range', () => {
    const seen = new Set(Array.from({ length: 1000 }, (_, i) => spread(i, 100)));
    expect(seen.size).toBeGreaterThan(90);
    expect(spread(5, 1)).toBe(0);
  });
});
