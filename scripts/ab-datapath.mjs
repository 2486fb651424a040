// Interleaved A/B of datapath builds (see ab-datapath.sh): for each NAME=ROOT, a package
// root with dist/ and build/Release/bpf of one build. Each round measures every build, in
// rotated order, with the cases and derivations of `bench datapath`: both floors and tc
// established/reply/miss as repeat=N means; new flows (syn_vip; spread: to VIPs spread over
// every service), the conntrack part alone and a new flow without its conntrack inserts
// (tc_lb_noinsert) as means over flows fed back to back (bpf/syn_feed.bpf.c), one feed run each per round
// where the bench takes the median of three. Prints medians and ratios to the first.
// Both builds need the feed (since 165fb3a), the tc floor (since 911d382) and tc_lb_noinsert.
import { pathToFileURL } from 'node:url';

const [rounds, services, ...specs] = process.argv.slice(2);
const R = Number(rounds), N = Number(services);
if (!R || !N || specs.length < 2) {
  process.stderr.write('usage: node scripts/ab-datapath.mjs ROUNDS SERVICES NAME=ROOT NAME=ROOT...\n');
  process.exit(2);
}
// tc_lb and tc_floor are loaded up to MAX_LOADS times per build and the rounds cycle over the
// loads, as in `bench datapath`: where the JIT put a load has moved an established packet
// (some loads 10-20 ns slower than the rest). A build older than c910b5f cannot: it is refused, since one
// load against several would not be a fair comparison.
const REPEAT = 200_000, FLOWS = 256, MAX_LOADS = 7;
const load = async (root, path) => import(pathToFileURL(`${root}/dist/${path}`).href);
if (process.env.AB_PARENT_NETNS) (await load(process.cwd(), 'bench/datapath/netns.js')).setUpRoutedNetns(process.env.AB_PARENT_NETNS);

const builds = [];
for (const s of specs) {
  const i = s.lastIndexOf('=');
  const root = s.slice(i + 1);
  builds.push({
    name: s.slice(0, i), root,
    rig: await load(root, 'bench/datapath/measure.js'),
    services: await load(root, 'bench/datapath/services.js'),
    bench: await load(root, 'bench/datapath.js'),
    fs: await load(root, 'bench/datapath/rig.js'),
    samples: {},
  });
}
const { median } = await load(builds[0].root, 'bench/datapath/report.js');
const bpffs = builds[0].fs.PrivateBpffs.mount();
try {
  for (const b of builds) {
    const t0 = performance.now();
    b.dp = new b.rig.DatapathRig({
      pinRoot: bpffs.dir(`b${builds.indexOf(b)}`), sizes: b.bench.sizesFor(100_000, 100_000 * 10), algorithm: 'random',
      cluster: new b.services.SyntheticCluster({ backends: 10 }), withXdp: true, loads: Math.min(R, MAX_LOADS),
    });
    if (typeof b.dp.useLoad !== 'function') throw new Error(`ab: ${b.name} cannot load its programs more than once (older than c910b5f)`);
    b.dp.growTo(N);
    b.dp.prepareFlows(FLOWS);
    process.stderr.write(`ab: ${b.name}: ${N} services, ${FLOWS} flows (${Math.round(performance.now() - t0)} ms)\n`);
  }
  // The same cases and derivations as `bench datapath` (src/bench/datapath.ts): repeat=N
  // means, and new flows fed back to back (syn_feed), less the feed, plus the bare loop.
  const round = async (b, keep, i) => {
    b.dp.useLoad(i);
    const r = {
      tc_floor: await b.dp.repeatRun('tc-floor', REPEAT), xdp_floor: await b.dp.repeatRun('floor', REPEAT),
      established: await b.dp.repeatRun('tc:established', REPEAT),
      reply: await b.dp.repeatRun('tc:reply', REPEAT), miss: await b.dp.repeatRun('tc:miss', REPEAT),
    };
    const feed = await b.dp.newFlowRun('feed');
    const bare = await b.dp.bareReturnRun(REPEAT);
    r.syn_vip = (await b.dp.newFlowRun('syn')) - feed + bare;
    r.ct_alone = (await b.dp.newFlowRun('ct')) - feed + bare;
    r.no_inserts = (await b.dp.newFlowRun('noinsert')) - feed + bare;
    r.spread = (await b.dp.newFlowRun('spread')) - feed + bare;
    if (keep) for (const k of Object.keys(r)) (b.samples[k] ??= []).push(r[k]);
  };
  for (const b of builds) for (let l = 0; l < b.dp.loads; l++) await round(b, false, l); // warm-up of every load
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < builds.length; j++) await round(builds[(i + j) % builds.length], true, i);
    process.stderr.write(`ab: round ${i + 1}/${R}\n`);
  }
  const cols = Object.keys(builds[0].samples);
  const w = Math.max(...builds.map((b) => b.name.length), 5);
  const lines = [`${'build'.padEnd(w)}  ${cols.map((c) => c.padStart(14)).join('')}`];
  for (const b of builds) {
    lines.push(`${b.name.padEnd(w)}  ${cols.map((c) => {
      const v = median(b.samples[c]), base = median(builds[0].samples[c]);
      return `${v.toFixed(0)} (${(v / base).toFixed(2)})`.padStart(14);
    }).join('')}`);
  }
  process.stdout.write(`ns/packet at ${N} services, medians of ${R} interleaved rounds (ratio to ${builds[0].name}):\n${lines.join('\n')}\n`);
  for (const b of builds) {
    const f = median(b.samples.tc_floor);
    process.stdout.write(`${b.name}: to its tc floor, established ${(median(b.samples.established) / f).toFixed(2)}x, reply ${(median(b.samples.reply) / f).toFixed(2)}x, miss ${(median(b.samples.miss) / f).toFixed(2)}x, syn_vip ${(median(b.samples.syn_vip) / f).toFixed(2)}x\n`);
  }
} finally {
  for (const b of builds) b.dp?.close();
  bpffs.dispose();
}
