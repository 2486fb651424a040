// Interleaved A/B of datapath builds (see ab-datapath.sh): for each NAME=ROOT, a package
// root with dist/ and build/Release/bpf of one build. Each round measures every build, in
// rotated order, the way `bench datapath` measures one: tc established/reply/miss and the
// floor as repeat=N means, syn_vip per call with the per-call overhead subtracted (same
// derivation), and SYNs spread over all services. Prints medians and ratios to the first.
import { pathToFileURL } from 'node:url';

const [rounds, services, ...specs] = process.argv.slice(2);
const R = Number(rounds), N = Number(services);
if (!R || !N || specs.length < 2) {
  process.stderr.write('usage: node scripts/ab-datapath.mjs ROUNDS SERVICES NAME=ROOT NAME=ROOT...\n');
  process.exit(2);
}
const REPEAT = 200_000, CALLS = 1000, FLOWS = 256;
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
    samples: { floor: [], established: [], reply: [], miss: [], syn_vip: [], spread: [] },
  });
}
const { median } = await load(builds[0].root, 'bench/datapath/report.js');
const bpffs = builds[0].fs.PrivateBpffs.mount();
try {
  for (const b of builds) {
    const t0 = performance.now();
    b.dp = new b.rig.DatapathRig({
      pinRoot: bpffs.dir(`b${builds.indexOf(b)}`), sizes: b.bench.sizesFor(100_000, 100_000 * 10), algorithm: 'random',
      cluster: new b.services.SyntheticCluster({ backends: 10 }), withXdp: true,
    });
    b.dp.growTo(N);
    b.dp.prepareFlows(FLOWS);
    process.stderr.write(`ab: ${b.name}: ${N} services, ${FLOWS} flows (${Math.round(performance.now() - t0)} ms)\n`);
  }
  const round = async (b, keep) => {
    const est = await b.dp.repeatRun('tc:established', REPEAT);
    const r = {
      floor: await b.dp.repeatRun('floor', REPEAT), established: est,
      reply: await b.dp.repeatRun('tc:reply', REPEAT), miss: await b.dp.repeatRun('tc:miss', REPEAT),
    };
    const pc = b.dp.perCallBatch(CALLS, false);
    const ps = b.dp.perCallBatch(CALLS, true);
    r.syn_vip = pc.syn_vip - (pc.established - est);
    r.spread = ps.syn_vip - (ps.established - est);
    if (keep) for (const k of Object.keys(r)) b.samples[k].push(r[k]);
  };
  for (const b of builds) await round(b, false); // warm-up
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < builds.length; j++) await round(builds[(i + j) % builds.length], true);
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
} finally {
  for (const b of builds) b.dp?.close();
  bpffs.dispose();
}
