// Pure parts of `bench lab`: flags, the bench lab's layout, wrk's report,
// medians and ratios, and the markdown/SVG renderings.
import { describe, expect, it } from 'vitest';
import { planLab } from '../../../src/lab/index.js';
import { UsageError } from '../../../src/bench/args.js';
import { LAB_BENCH_DEFAULTS, parseLabBenchArgs } from '../../../src/bench/lab/options.js';
import { formatSeconds, Progress } from '../../../src/bench/lab/progress.js';
import { markdownReport, median, summarize, svgChart, type LabBenchResult, type Measurement } from '../../../src/bench/lab/report.js';
import {
  ANYCAST_IP, BENCH_HTTP_PORT, BENCH_NODE_PORT, benchLabSpec, benchServiceObjects, ecmpRouteScript, fillerClusterIP, fillerList,
  nodeForMode, roundOrder, targetURL,
} from '../../../src/bench/lab/topology.js';
import { guestArgs, vmTimeoutMs } from '../../../src/bench/lab/vm.js';
import { errorCount, parseWrkOutput, requestsPerSecond, wrkArgv } from '../../../src/bench/lab/wrk.js';

describe('bench lab flags', () => {
  it('defaults to every host mode at 1, 1,000 and 10,000 services', () => {
    const o = parseLabBenchArgs([]);
    expect(o.modes).toEqual(['direct', 'ebpf', 'nftables', 'iptables', 'userspace']);
    expect(o.scales).toEqual([1, 1000, 10000]);
    expect(o.vm).toBe(false);
  });

  it('adds ipvs and takes the smaller scales under --vm unless told otherwise', () => {
    expect(parseLabBenchArgs(['--vm']).modes).toContain('ipvs');
    expect(parseLabBenchArgs(['--vm']).scales).toEqual([1, 1000]);
    expect(parseLabBenchArgs(['--vm', '--modes', 'direct,ebpf', '--scales', '10000']).modes).toEqual(['direct', 'ebpf']);
    expect(parseLabBenchArgs(['--vm', '--scales', '10000']).scales).toEqual([10000]);
  });

  it('hands the guest every option explicitly, and gives it time for the worst case', () => {
    const o = parseLabBenchArgs(['--vm', '--rounds', '2']);
    expect(parseLabBenchArgs(guestArgs(o))).toEqual({ ...o, vm: false });
    const slow = vmTimeoutMs({ ...o, programTimeoutS: 1000 });
    expect(slow - vmTimeoutMs(o)).toBe(2 * 5 * 700 * 1000);
  });

  it('reads every flag, in both spellings', () => {
    const o = parseLabBenchArgs(['--modes=ebpf,direct', '--scales', '1,10_000', '--duration', '3', '--rounds=5', '--connections', '64', '--threads', '1', '--filler-endpoints', '10', '--out', '/tmp/x', '--json', '--program-timeout', '60', '--lab-name', 'b7']);
    expect(o).toEqual({ ...LAB_BENCH_DEFAULTS, modes: ['ebpf', 'direct'], scales: [1, 10000], durationS: 3, rounds: 5, connections: 64, threads: 1, fillerEndpoints: 10, outDir: '/tmp/x', json: true, programTimeoutS: 60, labName: 'b7' });
  });

  it.each([
    [['--modes', 'ebpf,bogus'], /unknown mode "bogus"/],
    [['--modes', 'ebpf,ebpf'], /names a mode twice/],
    [['--scales', '1,0'], /--scales: expected integers/],
    [['--scales', 'ten'], /--scales/],
    [['--duration'], /--duration needs a value/],
    [['--rounds', '1.5'], /--rounds: expected an integer/],
    [['--filler-endpoints', '17'], /--filler-endpoints/],
    [['--threads', '8', '--connections', '4'], /--connections \(4\) must be at least --threads \(8\)/],
    [['--frobnicate'], /unknown argument "--frobnicate"/],
    [['--lab-name', 'Bench-1'], /--lab-name: 1-12 characters/],
  ])('rejects %j', (args, msg) => {
    expect(() => parseLabBenchArgs(args)).toThrow(UsageError);
    expect(() => parseLabBenchArgs(args)).toThrow(msg);
  });
});

describe('bench lab layout', () => {
  const modes = ['direct', 'ebpf', 'nftables'] as const;
  const lab = planLab(benchLabSpec(modes));

  it('gives every mode a node of its own with three pods', () => {
    expect(lab.nodes).toHaveLength(3);
    expect(lab.pods).toHaveLength(9);
    expect(nodeForMode(lab, modes, 'nftables').name).toBe('node3');
    expect(() => nodeForMode(lab, modes, 'iptables')).toThrow(/no node/);
  });

  it('sends the baseline to the anycast address and every mode to its own node port', () => {
    expect(targetURL(lab, modes, 'direct')).toBe(`http://${ANYCAST_IP}:${BENCH_HTTP_PORT}/`);
    expect(targetURL(lab, modes, 'ebpf')).toBe(`http://${lab.nodes[1]!.ipv4}:${BENCH_NODE_PORT}/`);
  });

  it('routes the anycast address over exactly the direct node\'s pods', () => {
    const node = lab.nodes[0]!;
    expect(ecmpRouteScript(lab, node)).toBe(
      `route replace ${ANYCAST_IP}/32 nexthop via 10.244.1.11 dev lxc1p1 nexthop via 10.244.1.12 dev lxc1p2 nexthop via 10.244.1.13 dev lxc1p3\n`,
    );
  });

  it('backs the NodePort service with every pod, each on its own node, with externalTrafficPolicy Local', () => {
    const [svc, slice] = benchServiceObjects(lab) as [{ spec: Record<string, unknown> }, { endpoints: { addresses: string[]; nodeName: string }[] }];
    expect(svc.spec.externalTrafficPolicy).toBe('Local');
    expect(slice.endpoints).toHaveLength(9);
    expect(slice.endpoints.filter((e) => e.nodeName === 'node2').map((e) => e.addresses[0])).toEqual(['10.244.2.11', '10.244.2.12', '10.244.2.13']);
  });

  it('makes filler services with distinct cluster IPs and the requested endpoints', () => {
    const list = fillerList(70_000, 3) as { kind: string; items: { kind: string; spec?: { clusterIP: string }; endpoints?: { addresses: string[] }[] }[] };
    expect(list.kind).toBe('List');
    expect(list.items).toHaveLength(140_000);
    const ips = list.items.filter((i) => i.kind === 'Service').map((i) => i.spec!.clusterIP);
    expect(new Set(ips).size).toBe(70_000);
    expect(ips[0]).toBe('10.100.0.0');
    expect(fillerClusterIP(65_536)).toBe('10.101.0.0');
    const eps = list.items.filter((i) => i.kind === 'EndpointSlice').flatMap((i) => i.endpoints!.map((e) => e.addresses[0]));
    expect(new Set(eps).size).toBe(210_000);
    expect(() => fillerList(1, 17)).toThrow(RangeError);
  });

  it('rotates the order every round', () => {
    expect(roundOrder(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(roundOrder(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(roundOrder(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
    expect(roundOrder([], 3)).toEqual([]);
  });
});

describe('wrk', () => {
  it('asks for a fresh connection per request only in the new-connection test', () => {
    const base = { url: 'http://10.0.0.1:80/', durationS: 5, connections: 32, threads: 2, scriptPath: '/tmp/w.lua' };
    expect(wrkArgv({ ...base, kind: 'new_conn' })).toEqual(['wrk', '--latency', '-t', '2', '-c', '32', '-d', '5s', '--timeout', '2s', '-s', '/tmp/w.lua', '-H', 'Connection: close', 'http://10.0.0.1:80/']);
    expect(wrkArgv({ ...base, kind: 'keepalive' })).not.toContain('Connection: close');
  });

  it('reads the report line of the Lua hook among wrk\'s text', () => {
    const out = 'Running 5s test @ http://x/\n  2 threads\nRequests/sec: 1\nEKP-WRK {"requests":50000,"duration_us":5000000,"bytes":10,"p50_us":120,"p99_us":900,"mean_us":150.5,"errors":{"connect":1,"read":2,"write":0,"status":3,"timeout":4}}\n';
    const r = parseWrkOutput(out);
    expect(requestsPerSecond(r)).toBe(10_000);
    expect(r.p99_us).toBe(900);
    expect(errorCount(r)).toBe(10);
    expect(() => parseWrkOutput('Requests/sec: 5\n')).toThrow(/no report/);
    expect(() => parseWrkOutput('EKP-WRK {"requests":1,"duration_us":0}')).toThrow(/without a duration/);
  });
});

function result(measurements: Measurement[]): LabBenchResult {
  return {
    version: 1, date: '2026-11-22T10:00:00.000Z', machine: { kernel: '6.18', cpus: 2, vm: false },
    options: { modes: ['direct', 'ebpf', 'iptables'], scales: [1, 1000], fillerEndpoints: 3, durationS: 5, rounds: 3, connections: 32, threads: 2, vm: false, programTimeoutS: 300, labName: 'bench' },
    programming: [{ scale: 1, mode: 'ebpf', ms: 40 }, { scale: 1000, mode: 'iptables', ms: null, error: 'not healthy after 300000 ms' }, { scale: 1000, mode: 'ebpf', ms: 12_345 }],
    measurements,
    packet_ns: [{ scale: 1, kind: 'new_conn', ns: 321.4, runs: 1000, ns_per_request: 1285.6 }],
    summary: summarize(measurements),
  };
}

const m = (scale: number, mode: Measurement['mode'], kind: Measurement['kind'], round: number, rps: number, errors = 0): Measurement =>
  ({ scale, mode, kind, round, rps, p50_us: rps / 100, p99_us: rps / 10, errors });

describe('bench lab results', () => {
  const ms = [
    m(1, 'direct', 'new_conn', 0, 1000), m(1, 'direct', 'new_conn', 1, 3000), m(1, 'direct', 'new_conn', 2, 2000),
    m(1, 'ebpf', 'new_conn', 0, 1900), m(1, 'ebpf', 'new_conn', 1, 1800, 2), m(1, 'ebpf', 'new_conn', 2, 5000),
    m(1, 'direct', 'keepalive', 0, 10_000), m(1, 'ebpf', 'keepalive', 0, 9_500),
    m(1000, 'ebpf', 'keepalive', 0, 9_000),
  ];

  it('takes medians per scale, mode and kind, and the ratio to direct at the same scale', () => {
    expect(median([3, 1, 2, 10])).toBe(2.5);
    const s = summarize(ms);
    const ebpf = s.find((x) => x.scale === 1 && x.mode === 'ebpf' && x.kind === 'new_conn')!;
    expect(ebpf.rps).toBe(1900);
    expect(ebpf.vs_direct).toBeCloseTo(0.95);
    expect(ebpf.errors).toBe(2);
    expect(s.find((x) => x.scale === 1000 && x.mode === 'ebpf')!.vs_direct).toBeNull();
  });

  it('renders one markdown table per scale with ratios, errors, programming time and packet cost', () => {
    const md = markdownReport(result(ms));
    expect(md).toContain('**1 service**');
    expect(md).toContain('**1,000 services**');
    expect(md).toContain('| ebpf (2 errors) | 1,900 | 0.95× |');
    expect(md).toContain('| direct | 2,000 | 1.00× |');
    expect(md).toMatch(/\| iptables \| — \| — \| — \| — \| — \| — \| — \| — \| failed: not healthy after 300000 ms \|/);
    expect(md).toContain('12.3 s |');
    expect(md).toContain('321 ns per run, 1286 ns per request during new connections');
  });

  it('draws a bar per mode and scale in both panels, escaping what it prints', () => {
    const svg = svgChart(result(ms));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(2 * 2 * 3);
    expect(svg).toContain('ebpf at 1 service: 1,900/s, 0.95× direct');
    expect(svg).not.toMatch(/NaN/);
  });
});

describe('progress', () => {
  it('redraws one line on a terminal and estimates what is left from the pace', () => {
    const out: string[] = [];
    const p = new Progress(10, (s) => out.push(s), true);
    p.show('first');
    p.advance(5);
    p.show('second');
    p.finish();
    expect(out[0]).toMatch(/^\r\x1b\[K\[\.{24}\]   0% .* first$/);
    expect(out[1]).toMatch(/\[#{12}\.{12}\]  50% .*left {2}second$/);
    expect(out[2]).toBe('\r\x1b[K');
  });

  it('prints a line per step without a terminal', () => {
    const out: string[] = [];
    const p = new Progress(2, (s) => out.push(s), false);
    p.show('a');
    p.finish();
    expect(out).toEqual([expect.stringMatching(/a\n$/)]);
  });

  it('formats durations', () => {
    expect(formatSeconds(5.4)).toBe('5s');
    expect(formatSeconds(125)).toBe('2m05s');
    expect(formatSeconds(7260)).toBe('2h01m');
  });
});
