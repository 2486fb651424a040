// `ebpf-kube-proxy bench wire [--json]`: JSON vs protobuf on the API server wire — bytes,
// CPU time to decode and turn into our model, and peak RSS. See METHOD.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEndpointSlice, parseService } from '../model/index.js';
import { decodeJsonList, JsonLineDecoder } from '../sources/kubernetes/json-transport.js';
import { decodeList, decodeWatchFrame, encodeObject, encodeWatchFrame, FrameReader, warmUp } from '../sources/kubernetes/proto/codec.js';
import type { WatchDecoder } from '../sources/kubernetes/http-transport.js';
import type { WatchEvent } from '../sources/kubernetes/types.js';
import type { BenchSuite } from './index.js';
import { buildDataset, DATASET_SHAPES, type DatasetShape } from './wire/dataset.js';
import { upstreamTypes } from './wire/upstream-schema.js';

export const METHOD = [
  'Data: 10,000 ClusterIP Services (2 ports, labels, selector) and 100,000 endpoints in EndpointSlices of 100',
  '(address, conditions, nodeName, zone); then 10,000 watch updates, half Service (a port changes), half EndpointSlice',
  '(one endpoint flips readiness). Two shapes of the same objects: "schema", only fields our schemas carry, so both',
  'encodings hold the same information; "apiserver", as an API server sends them: also metadata.managedFields on every',
  'object, kubectl\'s last-applied-configuration annotation on Services, the EndpointSlice controller\'s generateName,',
  'ownerReferences, annotation and mirrored labels, and every endpoint\'s targetRef (src/bench/wire/dataset.ts).',
  'Bytes: pre-encoded response bodies exactly as the fake API server sends them (JSON: List bodies and one event per',
  'line; protobuf: "k8s\\0"+Unknown envelopes and length-prefixed WatchEvent frames), lists unpaged; HTTP headers and',
  'chunked framing not counted. Decode-to-model: one child process per encoding and round (interleaved, order',
  'alternating per round) reads its bodies, then decodes with the transports\' own decoders (list: decodeJsonList /',
  'decodeList + TypeMeta filled in; watch: the stream fed in 64 KiB chunks to JsonLineDecoder / FrameReader +',
  'decodeWatchFrame) and runs parseService/parseEndpointSlice on every object; CPU = process.cpuUsage (user+sys) around',
  'that. setup_cpu_ms: before that, once per process, outside cpu_ms: protobuf loads its .proto schemas and compiles',
  'its field tables (JSON has nothing to load). decode_only_cpu_ms: the same decoding again in the same child, without',
  'the model (warm JIT). CPU counts all the child\'s threads (JIT compilation and GC helpers too); main_thread_cpu_ms',
  'is the main thread\'s share (/proc/thread-self/stat, 10 ms ticks), other_threads_cpu_ms the rest (median of cpu_ms',
  'minus median of main). Peak RSS:',
  'the child\'s maxRSS (getrusage) after the decode-to-model pass; rss_before: RSS once its bodies are read (includes',
  'them). Medians over rounds (both shapes in every round); ratios are protobuf / json.',
].join('\n');

const CHUNK = 64 * 1024;
type Encoding = 'json' | 'protobuf';

interface ChildResult {
  encoding: Encoding;
  setup_cpu_ms: number;
  list_cpu_ms: number;
  watch_cpu_ms: number;
  cpu_ms: number;
  /** Of cpu_ms, the main thread's: the rest is V8's helper threads (optimising compiler, concurrent GC). */
  main_thread_cpu_ms: number;
  wall_ms: number;
  decode_only_cpu_ms: number;
  rss_before_mib: number;
  peak_rss_mib: number;
  objects: number;
  ok: number;
}

interface Options {
  json: boolean;
  rounds: number;
  services: number;
  endpoints: number;
  updates: number;
}

function parseArgs(args: string[]): Options {
  const o: Options = { json: false, rounds: 3, services: 10_000, endpoints: 100_000, updates: 10_000 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const num = (): number => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--services') o.services = num();
    else if (a === '--endpoints') o.endpoints = num();
    else if (a === '--updates') o.updates = num();
    else throw new Error(`unknown argument ${a} (want --json, --rounds N, --services N, --endpoints N, --updates N)`);
  }
  return o;
}

/**
 * The calling thread's CPU time (user + system) in ms, from /proc/thread-self/stat (utime and
 * stime, in USER_HZ = 100 ticks a second on Linux, so to 10 ms); NaN without procfs.
 */
function threadCpuMs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function decodeListBody(enc: Encoding, body: Buffer): unknown[] {
  return enc === 'json' ? decodeJsonList(body).items : decodeList(body).items;
}

function watchDecoder(enc: Encoding): WatchDecoder {
  if (enc === 'json') return new JsonLineDecoder();
  const frames = new FrameReader();
  return {
    push: (c) => frames.push(c),
    end: () => frames.end(),
    next(): WatchEvent | undefined {
      const f = frames.next();
      return f && decodeWatchFrame(f);
    },
  };
}

function streamEvents(enc: Encoding, body: Buffer, each: (ev: WatchEvent) => void): void {
  const d = watchDecoder(enc);
  for (let off = 0; off < body.length; off += CHUNK) {
    d.push(body.subarray(off, off + CHUNK));
    let ev: WatchEvent | undefined;
    while ((ev = d.next())) each(ev);
  }
  d.end();
  let ev: WatchEvent | undefined;
  while ((ev = d.next())) each(ev);
}

/**
 * Waits, the main thread asleep, until the process uses no CPU for a while: V8 compiles hot
 * functions on helper threads, so code that ran before (module loading, protobufjs parsing our
 * .proto files) would otherwise go on costing CPU inside the measured window. Up to 2 s.
 */
function settle(): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 2000; waited += 20) {
    const c = process.cpuUsage();
    Atomics.wait(cell, 0, 0, 20);
    if (cpuMs(c) < 0.5) return;
  }
}

/** One encoding, in this process: decode to model, then decode only. */
function runChild(enc: Encoding, dir: string): ChildResult {
  const services = readFileSync(join(dir, `${enc}.services`));
  const slices = readFileSync(join(dir, `${enc}.slices`));
  const watch = readFileSync(join(dir, `${enc}.watch`));
  const cs = process.cpuUsage();
  if (enc === 'protobuf') warmUp();
  settle();
  const setupCpu = cpuMs(cs);
  (globalThis as { gc?: () => void }).gc?.();
  settle(); // the collector sweeps on helper threads after gc() returns
  const rssBefore = process.memoryUsage().rss;
  let objects = 0;
  let ok = 0;
  const model = (obj: unknown, kind: string): void => {
    objects++;
    if ((kind === 'Service' ? parseService(obj) : parseEndpointSlice(obj)).ok) ok++;
  };
  const t0 = performance.now();
  const m0 = threadCpuMs();
  const c0 = process.cpuUsage();
  const kept: unknown[] = [];
  for (const [body, apiVersion, kind] of [
    [services, 'v1', 'Service'],
    [slices, 'discovery.k8s.io/v1', 'EndpointSlice'],
  ] as const) {
    for (const item of decodeListBody(enc, body)) {
      const obj = { apiVersion, kind, ...(item as object) };
      kept.push(obj);
      model(obj, kind);
    }
  }
  const listCpu = cpuMs(c0);
  const c1 = process.cpuUsage();
  streamEvents(enc, watch, (ev) => model(ev.object, (ev.object as { kind: string }).kind));
  const watchCpu = cpuMs(c1);
  const mainCpu = threadCpuMs() - m0;
  const wall = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024;
  kept.length = 0;

  const c2 = process.cpuUsage();
  let n = 0;
  n += decodeListBody(enc, services).length;
  n += decodeListBody(enc, slices).length;
  streamEvents(enc, watch, () => n++);
  const decodeOnly = cpuMs(c2);
  if (n !== objects) throw new Error(`decode-only pass saw ${n} objects, the first ${objects}`);
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  return {
    encoding: enc,
    setup_cpu_ms: Math.round(setupCpu),
    list_cpu_ms: Math.round(listCpu),
    watch_cpu_ms: Math.round(watchCpu),
    cpu_ms: Math.round(listCpu + watchCpu),
    main_thread_cpu_ms: mainCpu,
    wall_ms: Math.round(wall),
    decode_only_cpu_ms: Math.round(decodeOnly),
    rss_before_mib: mib(rssBefore),
    peak_rss_mib: mib(peak),
    objects,
    ok,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function encodeAll(o: Options, dir: string, shape: DatasetShape): Record<Encoding, { list: number; watch: number }> {
  const data = buildDataset(o.services, o.endpoints, 100, o.updates, shape);
  // Our schemas leave out what the proxy never reads; the API server's bytes carry it all the same.
  const types = shape === 'apiserver' ? upstreamTypes() : undefined;
  const sizes = {} as Record<Encoding, { list: number; watch: number }>;
  const json = {
    services: Buffer.from(JSON.stringify(data.serviceList)),
    slices: Buffer.from(JSON.stringify(data.sliceList)),
    watch: Buffer.from(data.events.map((e) => JSON.stringify(e) + '\n').join('')),
  };
  const protobuf = {
    services: encodeObject(data.serviceList, types),
    slices: encodeObject(data.sliceList, types),
    watch: Buffer.concat(data.events.map((e) => encodeWatchFrame(e, types))),
  };
  for (const [enc, bodies] of [
    ['json', json],
    ['protobuf', protobuf],
  ] as const) {
    for (const [name, body] of Object.entries(bodies)) writeFileSync(join(dir, `${enc}.${name}`), body);
    sizes[enc] = { list: bodies.services.length + bodies.slices.length, watch: bodies.watch.length };
  }
  return sizes;
}

/** Runs `bench wire ARGS…` in a child process and returns the last line it prints, parsed. */
function spawnBench<T>(what: string, args: string[]): T {
  const cli = process.argv[1];
  if (!cli) throw new Error('cannot find the CLI entry point to run the child processes');
  const r = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', cli, 'bench', 'wire', ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`${what} child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

function spawnChild(enc: Encoding, dir: string): ChildResult {
  return spawnBench(enc, ['--child', enc, dir]);
}

/**
 * The dataset is built and encoded in a child process of its own: a child's peak RSS counts what
 * its parent had mapped when it forked, so the parent must never hold the datasets.
 */
function spawnEncode(o: Options, dir: string, shape: DatasetShape): Record<Encoding, { list: number; watch: number }> {
  return spawnBench(`encoding (${shape})`, ['--encode', shape, dir, '--services', String(o.services), '--endpoints', String(o.endpoints), '--updates', String(o.updates)]);
}

async function run(args: string[]): Promise<number> {
  if (args[0] === '--child') {
    process.stdout.write(JSON.stringify(runChild(args[1] as Encoding, args[2]!)) + '\n');
    return 0;
  }
  if (args[0] === '--encode') {
    process.stdout.write(JSON.stringify(encodeAll(parseArgs(args.slice(3)), args[2]!, args[1] as DatasetShape)) + '\n');
    return 0;
  }
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (err) {
    process.stderr.write(`bench wire: ${(err as Error).message}\n`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-wire-'));
  try {
    const sizes = {} as Record<DatasetShape, Record<Encoding, { list: number; watch: number }>>;
    for (const shape of DATASET_SHAPES) {
      if (!o.json) process.stderr.write(`encoding ${o.services} Services, ${o.endpoints} endpoints, ${o.updates} updates (${shape})…\n`);
      mkdirSync(join(dir, shape));
      sizes[shape] = spawnEncode(o, join(dir, shape), shape);
    }
    const samples: Record<DatasetShape, Record<Encoding, ChildResult[]>> = { schema: { json: [], protobuf: [] }, apiserver: { json: [], protobuf: [] } };
    for (let round = 0; round < o.rounds; round++) {
      const order: Encoding[] = round % 2 === 0 ? ['json', 'protobuf'] : ['protobuf', 'json'];
      for (const shape of DATASET_SHAPES) {
        for (const enc of order) {
          const r = spawnChild(enc, join(dir, shape));
          samples[shape][enc].push(r);
          if (!o.json) process.stderr.write(`round ${round + 1}/${o.rounds} ${shape.padEnd(9)} ${enc.padEnd(8)} cpu ${r.cpu_ms} ms, peak RSS ${r.peak_rss_mib} MiB\n`);
        }
      }
    }
    const results = {} as Record<DatasetShape, ShapeResult>;
    for (const shape of DATASET_SHAPES) results[shape] = summarizeShape(samples[shape], sizes[shape]);
    if (o.json) {
      // The schema-only shape at the top level, as before; the API server's shape beside it.
      const { schema, apiserver } = results;
      process.stdout.write(JSON.stringify({ ...schema, apiserver, rounds: o.rounds, method: METHOD }, null, 2) + '\n');
    } else {
      const tables = DATASET_SHAPES.map((shape) => markdownTable(shape, results[shape]));
      process.stdout.write([`wire: ${o.rounds} rounds, medians`, '', ...tables, METHOD, ''].join('\n'));
    }
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ShapeResult {
  json: Record<string, number>;
  protobuf: Record<string, number>;
  ratios: Record<string, number>;
  goals: { bytes_under_half: boolean; decode_to_model_not_slower: boolean };
}

function summarizeShape(samples: Record<Encoding, ChildResult[]>, sizes: Record<Encoding, { list: number; watch: number }>): ShapeResult {
  const summarize = (enc: Encoding): Record<string, number> => {
    const s = samples[enc];
    const med = (k: keyof ChildResult): number => Math.round(median(s.map((x) => x[k] as number)) * 10) / 10;
    return {
      list_bytes: sizes[enc].list,
      watch_bytes: sizes[enc].watch,
      total_bytes: sizes[enc].list + sizes[enc].watch,
      setup_cpu_ms: med('setup_cpu_ms'),
      list_cpu_ms: med('list_cpu_ms'),
      watch_cpu_ms: med('watch_cpu_ms'),
      cpu_ms: med('cpu_ms'),
      main_thread_cpu_ms: med('main_thread_cpu_ms'),
      other_threads_cpu_ms: med('cpu_ms') - med('main_thread_cpu_ms'),
      wall_ms: med('wall_ms'),
      decode_only_cpu_ms: med('decode_only_cpu_ms'),
      rss_before_mib: med('rss_before_mib'),
      peak_rss_mib: med('peak_rss_mib'),
      objects: s[0]!.objects,
      model_ok: s[0]!.ok,
    };
  };
  const json = summarize('json');
  const protobuf = summarize('protobuf');
  if (json.objects !== protobuf.objects || json.model_ok !== protobuf.model_ok) {
    throw new Error(`encodings disagree: json ${json.model_ok}/${json.objects} objects valid, protobuf ${protobuf.model_ok}/${protobuf.objects}`);
  }
  const ratio = (k: string): number => Math.round((protobuf[k]! / json[k]!) * 1000) / 1000;
  const ratios = {
    total_bytes: ratio('total_bytes'),
    list_bytes: ratio('list_bytes'),
    watch_bytes: ratio('watch_bytes'),
    cpu_ms: ratio('cpu_ms'),
    main_thread_cpu_ms: ratio('main_thread_cpu_ms'),
    other_threads_cpu_ms: ratio('other_threads_cpu_ms'),
    list_cpu_ms: ratio('list_cpu_ms'),
    watch_cpu_ms: ratio('watch_cpu_ms'),
    decode_only_cpu_ms: ratio('decode_only_cpu_ms'),
    peak_rss_mib: ratio('peak_rss_mib'),
  };
  const goals = { bytes_under_half: ratios.total_bytes < 0.5, decode_to_model_not_slower: ratios.cpu_ms <= 1 };
  return { json, protobuf, ratios, goals };
}

function markdownTable(shape: DatasetShape, r: ShapeResult): string {
  const title = shape === 'schema' ? 'only fields our schemas carry' : 'as the API server sends it (managedFields, annotations, targetRef …)';
  const rows = Object.keys(r.json).map((k) => `| ${k} | ${r.json[k]} | ${r.protobuf[k]} | ${k in r.ratios ? r.ratios[k] : ''} |`);
  return [`### ${shape}: ${title}`, '', '| | json | protobuf | ratio |', '| --- | ---: | ---: | ---: |', ...rows, '', `goals: ${JSON.stringify(r.goals)}`, ''].join('\n');
}

export const suite: BenchSuite = {
  describe: 'API server wire: JSON vs protobuf bytes, decode-to-model CPU, peak RSS',
  run,
};
