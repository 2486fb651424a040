// `ebpf-kube-proxy bench datapath [--json]`: ns/packet of the eBPF datapath through
// BPF_PROG_TEST_RUN, against a floor program measured in the same run. See METHOD.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native/index.js';
import { MAP_DEFAULT_SIZE, MAP, SLOTS_PER_ENTRY, slotEntries } from '../dataplane/ebpf/abi.js';
import { maglevTableSize } from '../dataplane/ebpf/maglev.js';
import type { BenchSuite } from './index.js';
import { DatapathRig, FEED_FLOWS, RUN_REPEAT, type NewFlowKind } from './datapath/measure.js';
import {
  CASES, buildDoc, deriveSmallTable, deriveScale, establishedByLoad, formatReport, median, type SmallTableSample, type RoundSample, type ScaleResult,
} from './datapath/report.js';
import { currentNetns, setUpRoutedNetns } from './datapath/netns.js';
import { PrivateBpffs, datapathMapBytes, mapMemlock, type Sizes } from './datapath/rig.js';
import { SyntheticCluster } from './datapath/services.js';

/** Runs of each new-flow kind per round (DatapathRig.newFlowRun, FEED_FLOWS flows each). */
const FEED_RUNS = 3;

/** At most this many loads of tc_lb and tc_floor per scale; rounds cycle over them (see METHOD). */
const MAX_LOADS = 7;

/**
 * Entries of each conntrack map of the small-table rig: a feed run's 2 x FEED_FLOWS and
 * room to spare. A common LRU keeps up to 128 free elements on each CPU's own list and
 * evicts once the shared list runs short, so there must be room for those too: an
 * eviction would make the run throw (DatapathRig.forgetFlows).
 */
const smallConntrackEntries = () => pow2(2 * FEED_FLOWS + 2 * 128 * availableParallelism() + 64);

export const METHOD = [
  'Programs: tc_ingress of tc_lb loaded as on a node device (role wire: external origin, SNAT to the node address),',
  'xdp_nodeport of xdp_lb with the same config, and the floor (parse + one service-map lookup, bpf/lib/floor.h) on the',
  'established packet at both hooks: tc_floor and xdp_floor. Each program is held to the floor at its own hook (a tc',
  'test run of a program that only returns costs ~10 ns more than an XDP one here).',
  'Services: N ClusterIP services x 10 remote backends (unique pod IPs), written by the real ServiceWriter (random',
  'selection, the default) into maps sized for 100,000 services. Each scale has its own maps and program instances,',
  'all loaded at once; every round measures every scale, and within a scale the floor and every case, in an order',
  'rotated per round; the figures are medians over rounds. Clients are external, so a new flow is DNATed and SNATed.',
  `Each scale loads tc_lb and tc_floor once per round (at most ${MAX_LOADS} times) over its maps, and round i uses load`,
  `i mod ${MAX_LOADS}; every load is warmed before the first round. Where the JIT puts a program moves an established`,
  'packet (most loads within a few ns of each other, some 10-20 ns slower, how often depending on the code; reply and',
  'the floor do not move), which one load per scale turned into differences between scales. tc_established_by_load:',
  'each load\'s figures.',
  'The benchmark runs in a network namespace of its own set up as a node (forwarding on, a device, routes to every',
  'address used, the node\'s own too, via a resolved gateway), so after a rewrite tc looks the new destination up in the FIB',
  'and redirects, as on a node (see "verdicts"); an established or reply packet takes the next hop its conntrack entry',
  'keeps for the current ~1 s epoch (the first repetition looks it up).',
  'BPF_PROG_TEST_RUN repeats a program on ONE packet buffer without restoring it: after the first run an',
  'established/reply packet is already rewritten (the other N-1 runs would measure a miss), and a SYN has',
  'already created its flow. So:',
  '- tc established, reply: repeat=N on a flow with a mirror conntrack entry that maps the rewritten tuple back',
  '  (same entry type and flags), so every repetition is a real FWD (REV) hit with a full DNAT+SNAT rewrite;',
  '  the counters must show N hits and the packet must come back as it was after each (even) run but for its TTL,',
  '  one hop lower per repetition: tc takes a hop off a packet it sends on, as the stack forwarding it would.',
  `- miss (no service, no flow) and the floor do not rewrite: plain repeat=N means.`,
  `- Every repeat=N mean is made of runs of ${RUN_REPEAT} repetitions (the established and reply frames start with TTL`,
  `  255, and one with no hop left is not sent on), the floors' and the bare loop's too, so that what starting a`,
  '  run costs weighs on every case alike.',
  `- tc syn_vip: the mean over ${FEED_FLOWS.toLocaleString('en-US')} different new flows back to back, in one repeat=${FEED_FLOWS} run of tc_syn_feed`,
  `  (bpf/syn_feed.bpf.c; per round the median of ${FEED_RUNS} such runs, interleaved with the kinds below): before each`,
  '  repetition it writes the next SYN (a new client:port, to the VIP of one prepared flow) over the packet and',
  '  tail-calls the unchanged tc_ingress, so each repetition really creates its FWD and REV entries (checked: every',
  '  frame fed, one creation per flow, no drop or failed insert, the last packet DNATed and SNATed to a backend;',
  '  every entry is deleted after the run). The same feed tail-calling a program that only returns gives what the',
  '  feed adds ("feed adds"); syn_vip = fed tc_ingress - fed return + that program run bare (the loop\'s own cost,',
  '  which the floor\'s figure holds too). The mean includes what the conntrack LRU does every 128 inserts (moving',
  '  free elements to this CPU\'s list), which a median of single calls leaves out.',
  '  "spread VIPs": the same with SYNs to VIPs spread over all N services (cold service/backend entries).',
  '  "no inserts": the same SYNs to tc_ingress of tc_lb_noinsert (bpf/tc_lb_noinsert.bpf.c: tc_lb built with the',
  '  conntrack inserts of a new flow taken out, entries and keys still built, no SNAT port retried): everything else',
  '  a new flow does (checked: rewritten, conntrack no fuller than before).',
  '  "conntrack alone": the feed into ct_floor (bpf/ct_floor.bpf.c): parse, a conntrack miss and the datapath\'s',
  '  own ct_create() of a SNAT flow (REV entry on a random port, FWD entry) to one of 10 backends, nothing else.',
  '  "flow floor": the feed into ct_floor\'s tc_flow_floor: parse, a conntrack miss and ONE insert (a FWD entry),',
  '  the least per-flow state a load balancer that remembers its flows keeps (Katran: one LRU entry per flow).',
  '  conntrack_small_table: both, fed the same way, once per round, by one more instance whose conntrack maps hold',
  '  a few times the feed\'s flows (16,384 entries on 2 CPUs, a few MiB): how much of their cost the table\'s size makes.',
  '  snat_retries counts the SNAT port collisions of all new flows (~5 % of the flows to one service).',
  '- "single SYN": repeat=1 calls, each a new flow, interleaved with that flow\'s established and miss packets and',
  '  the tc floor: single = median SYN - "its overhead" (median established per call - established repeat=N), one',
  '  new flow right after a syscall; "via miss" and "via floor" correct it with the miss packet\'s or the floor\'s',
  '  per-call overhead instead.',
  '- xdp_nodeport hands SNAT flows and every reply to tc untouched (xdp_to_stack), so for these packets it',
  '  rewrites nothing: all four cases are repeat=N means of what XDP costs before tc (checked: one',
  '  xdp_to_stack per run, packet unchanged).',
  'map_bytes: memlock from /proc/self/fdinfo of each map of an instance holding 10,000 services x 10 backends',
  'with --lb-algorithm maglev (1021-slot tables), sized to fit (map_sizes_maglev).',
].join('\n');

const SCALES = [1, 10_000, 100_000];
const BACKENDS = 10;
const FLOWS = 256;

interface Options {
  json: boolean;
  scales: number[];
  rounds: number;
  calls: number;
  repeat: number;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = { json: false, scales: SCALES, rounds: 15, calls: 1000, repeat: 200_000 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const num = (name: string) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
      return v;
    };
    try {
      if (a === '--json') o.json = true;
      else if (a === '--rounds') o.rounds = num(a);
      else if (a === '--calls') o.calls = num(a);
      else if (a === '--repeat') o.repeat = num(a);
      else if (a === '--scales') {
        o.scales = (args[++i] ?? '').split(',').map(Number);
        if (!o.scales.length || o.scales.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) return '--scales needs a comma-separated list of 1..100000';
      } else return `unknown argument ${a}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  return o;
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
/** Entries of each conntrack map as the daemon sizes them here: kube-proxy's max(min, maxPerCore x CPUs) connections, two entries each. */
const conntrackEntries = () => 2 * Math.min(Math.max(131_072, 32_768 * availableParallelism()), 1 << 24);

/** Maps for `services` x BACKENDS: defaults, raised where the synthetic cluster would not fit. */
export function sizesFor(services: number, slotsNeeded: number): Sizes {
  const ids = Math.max(MAP_DEFAULT_SIZE.ekp_svc_v1, pow2(services + 1));
  const backends = Math.max(MAP_DEFAULT_SIZE.ekp_backend_v1, pow2(services * BACKENDS + 1));
  return {
    [MAP.svc]: ids,
    [MAP.svcStat]: ids,
    // One ClusterIP a service here, as the daemon sizes it by --bpf-max-services.
    [MAP.vip]: ids,
    [MAP.extVip]: ids,
    [MAP.backend]: backends,
    [MAP.backendNh]: backends,
    [MAP.slots]: Math.max(MAP_DEFAULT_SIZE[MAP.slots], Math.ceil(slotEntries(slotsNeeded) / 2 ** 16) * 2 ** 16),
    [MAP.ct4]: conntrackEntries(),
    [MAP.ct]: conntrackEntries(),
  };
}

const VERDICT: Record<number, string> = { 0: 'TC_ACT_OK', 7: 'TC_ACT_REDIRECT (FIB lookup + redirect_neigh)', 2: 'XDP_PASS' };

function verdictNames(rigs: DatapathRig[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rig of rigs) {
    for (const [k, vs] of Object.entries(rig.verdicts)) {
      const names = new Set([...(out[k] ?? []), ...vs.map((v) => VERDICT[v] ?? String(v))]);
      out[k] = [...names];
    }
  }
  return out;
}

function progress(msg: string): void {
  process.stderr.write(`bench datapath: ${msg}\n`);
}

interface Scale {
  services: number;
  rig: DatapathRig;
  rounds: RoundSample[];
}

/** One round at one scale: the floor and every case, in an order rotated by `order`. */
async function oneRound(rig: DatapathRig, o: Options, order: number): Promise<RoundSample> {
  const r = { load: rig.useLoad(order), repeat: { tc: {}, xdp: {} } } as RoundSample;
  const steps: (() => Promise<void> | void)[] = [
    async () => { r.floorRepeat = await rig.repeatRun('floor', o.repeat); },
    async () => { r.tcFloorRepeat = await rig.repeatRun('tc-floor', o.repeat); },
    ...(['established', 'reply', 'miss'] as const).map((c) => async () => { r.repeat.tc[c] = await rig.repeatRun(`tc:${c}`, o.repeat); }),
    ...CASES.map((c) => async () => { r.repeat.xdp[c] = await rig.repeatRun(`xdp:${c}`, o.repeat); }),
    () => { r.perCall = rig.perCallBatch(o.calls); },
    async () => {
      // The feed runs and the bare loop back to back, so what is subtracted is measured next to what it is subtracted from.
      // Noisier than the other cases (each run inserts thousands of entries): FEED_RUNS of each per round, their median kept.
      const m = await newFlowMedians(rig, ['syn', 'spread', 'noinsert', 'ct', 'insert', 'feed'], order);
      r.newFlow = { ...m, bare: await rig.bareReturnRun(o.repeat) };
    },
  ];
  for (let i = 0; i < steps.length; i++) await steps[(i + order) % steps.length]!();
  return r;
}

/** FEED_RUNS runs of each kind, in an order rotated by `order`; the median of each kind's runs. */
async function newFlowMedians<K extends NewFlowKind>(rig: DatapathRig, kinds: readonly K[], order: number): Promise<Record<K, number>> {
  const runs = new Map<K, number[]>(kinds.map((k) => [k, []]));
  for (let i = 0; i < FEED_RUNS; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(k + order + i) % kinds.length]!;
      runs.get(kind)!.push(await rig.newFlowRun(kind));
    }
  }
  return Object.fromEntries(kinds.map((k) => [k, median(runs.get(k)!)])) as Record<K, number>;
}

/** One round of the small-table rig: ct_floor's two programs and the feed alone. */
async function smallTableRound(rig: DatapathRig, o: Options, order: number): Promise<SmallTableSample> {
  const m = await newFlowMedians(rig, ['ct', 'insert', 'feed'] as const, order);
  return { ...m, bare: await rig.bareReturnRun(o.repeat) };
}

/**
 * Every scale has its own maps and program instances, all loaded at once, so rounds
 * interleave the scales as well as the cases: slow phases of this shared machine hit
 * every scale alike instead of whichever was measured at the time.
 */
async function measureAll(scales: Scale[], small: DatapathRig, o: Options): Promise<{ results: ScaleResult[]; small: SmallTableSample[] }> {
  for (const s of scales) {
    await oneRound(s.rig, o, 0); // warm-up, discarded
    for (let l = 1; l < s.rig.loads; l++) await s.rig.warmLoad(l, o.repeat);
  }
  await smallTableRound(small, o, 0);
  const smallRounds: SmallTableSample[] = [];
  const t0 = performance.now();
  for (let i = 0; i < o.rounds; i++) {
    // The small-table rig takes its turn among the scales, in the same rotation.
    for (let j = 0; j <= scales.length; j++) {
      const k = (i + j) % (scales.length + 1);
      if (k === scales.length) {
        smallRounds.push(await smallTableRound(small, o, i));
        continue;
      }
      const s = scales[k]!;
      s.rounds.push(await oneRound(s.rig, o, i));
    }
    if (i === 0 || (i + 1) % 5 === 0) progress(`round ${i + 1}/${o.rounds} (${Math.round((performance.now() - t0) / 100) / 10} s)`);
  }
  return { results: scales.map((s) => deriveScale({ services: s.services, rounds: s.rounds })), small: smallRounds };
}

async function mapBytes(fs: PrivateBpffs, cluster: SyntheticCluster): Promise<{ bytes: Record<string, number>; sizes: Sizes }> {
  const services = 10_000;
  // Each table starts at an even slot: an odd (prime) table takes one slot of padding.
  const sizes = sizesFor(services, services * slotEntries(maglevTableSize(BACKENDS)) * SLOTS_PER_ENTRY);
  const rig = new DatapathRig({ pinRoot: fs.dir('maglev'), sizes, algorithm: 'maglev', cluster, withXdp: false });
  try {
    const t0 = performance.now();
    rig.growTo(services);
    const u = rig.writer.usage();
    progress(`map memory: 10,000 services with Maglev programmed (${u.slots.toLocaleString('en-US')} slots, ${u.backends.toLocaleString('en-US')} backends, ${Math.round(performance.now() - t0)} ms)`);
    return { bytes: datapathMapBytes(rig.objects), sizes };
  } finally {
    rig.close();
  }
}

/**
 * Runs the benchmark again under `unshare --net`, where it sets its namespace up as a node
 * (datapath/netns.ts) before measuring; stdout and stderr are this process's.
 */
function runInRoutedNetns(args: string[]): number {
  const bin = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
  const r = spawnSync('unshare', ['--net', '--', process.execPath, bin, 'bench', 'datapath', '--routed-netns', currentNetns(), ...args], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`bench datapath: unshare --net: ${r.error.message}\n`);
    return 1;
  }
  return r.status ?? 1;
}

async function run(args: string[]): Promise<number> {
  if (args[0] !== '--routed-netns') {
    if (typeof parseArgs(args) === 'string' || process.getuid?.() !== 0) return measure(args); // its usage or root message
    return runInRoutedNetns(args);
  }
  setUpRoutedNetns(args[1] ?? '');
  return measure(args.slice(2));
}

async function measure(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') {
    process.stderr.write(`bench datapath: ${parsed}\nusage: ebpf-kube-proxy bench datapath [--json] [--rounds N] [--calls N] [--repeat N] [--scales 1,10000,100000]\n`);
    return 2;
  }
  const o = parsed;
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench datapath: needs root (BPF programs, a private bpffs)\n');
    return 1;
  }
  const fs = PrivateBpffs.mount();
  const onSignal = (sig: NodeJS.Signals) => {
    fs.dispose();
    process.stderr.write(`bench datapath: ${sig}, bpffs unmounted\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = performance.now();
  const scales: Scale[] = [];
  let small: DatapathRig | null = null;
  const closeAll = () => {
    while (scales.length) scales.pop()!.rig.close();
    small?.close();
    small = null;
  };
  const maxScale = Math.max(...o.scales);
  const sizes = sizesFor(maxScale, maxScale * BACKENDS);
  try {
    const cluster = new SyntheticCluster({ backends: BACKENDS });
    progress(`private bpffs ${fs.path}; maps sized for ${maxScale.toLocaleString('en-US')} services x ${BACKENDS} backends`);
    for (const n of o.scales) {
      const t0 = performance.now();
      const rig = new DatapathRig({ pinRoot: fs.dir(`s${n}`), sizes, algorithm: 'random', cluster, withXdp: true, loads: Math.min(o.rounds, MAX_LOADS) });
      scales.push({ services: n, rig, rounds: [] });
      rig.growTo(n);
      rig.prepareFlows(FLOWS);
      progress(`${n.toLocaleString('en-US')} services: tc_lb and tc_floor (${rig.loads} loads each), xdp_lb, xdp_floor, ct_floor, syn_feed, tc_lb_noinsert loaded, services written, ${FLOWS} flows established (${Math.round(performance.now() - t0)} ms)`);
    }
    const smallEntries = smallConntrackEntries();
    small = new DatapathRig({
      pinRoot: fs.dir('small-ct'), sizes: { ...sizesFor(1, BACKENDS), [MAP.ct4]: smallEntries, [MAP.ct]: smallEntries },
      algorithm: 'random', cluster, withXdp: true,
    });
    small.growTo(1);
    small.prepareFlows(1); // bareReturnRun times its loop on a prepared flow's packet
    const smallBytes = mapMemlock(small.map(MAP.ct4).fd);
    progress(`small-table conntrack: maps of ${smallEntries.toLocaleString('en-US')} entries (IPv4: ${smallBytes.toLocaleString('en-US')} bytes)`);
    const { results, small: smallRounds } = await measureAll(scales, small, o);
    const byLoad = establishedByLoad(scales);
    const rigs = [...scales.map((s) => s.rig), small];
    const snatRetries = rigs.reduce((a, rig) => a + Number(rig.snatRetries), 0);
    const verdicts = verdictNames(rigs);
    closeAll();
    const mb = await mapBytes(fs, cluster);
    const doc = buildDoc({
      scales: results,
      mapBytes: mb.bytes,
      extra: {
        conntrack_small_table: deriveSmallTable(smallEntries, smallBytes, smallRounds),
        tc_established_by_load: byLoad,
        feed_flows: FEED_FLOWS,
        feed_runs_per_round: FEED_RUNS,
        method: METHOD,
        map_sizes_latency: sizes,
        map_sizes_maglev: mb.sizes,
        rounds: o.rounds,
        calls_per_batch: o.calls,
        repeat: o.repeat,
        backends_per_service: BACKENDS,
        snat_retries: snatRetries,
        verdicts,
        cpus: availableParallelism(),
        seconds: Math.round((performance.now() - started) / 100) / 10,
      },
    });
    process.stdout.write(o.json ? `${JSON.stringify(doc, null, 2)}\n` : `${formatReport(doc, results)}\n\nMethod:\n${METHOD}\n`);
    return 0;
  } finally {
    closeAll();
    fs.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export const suite: BenchSuite = {
  describe: 'ns/packet of the tc/XDP datapath (new flow, established, reply, miss) at 1-100,000 services vs. a floor; map memory',
  run,
};
