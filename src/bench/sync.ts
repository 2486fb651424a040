// `bench sync`: time to program N services × 10 endpoints from cold, and one
// endpoint change at that size, for every implemented mode, in one run. Each
// measurement runs in a child process inside a fresh network namespace
// (`unshare --net`), so modes never see each other's rules and the host's
// namespace is never touched. ipvs needs IP_VS, which this machine's kernel
// lacks: --vm runs the same benchmark, every mode, inside the qemu VM (sync-vm.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readlinkSync, rmdirSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, type ProxyConfig } from '../config/index.js';
import { createDataplane } from '../dataplane/index.js';
import { buildDesiredState, type NodeContext } from '../model/index.js';
import { packageRoot } from '../native/paths.js';
import { createLogger } from '../observe/index.js';
import type { ProxyMode } from '../probe/index.js';
import type { BenchSuite } from './index.js';
import { cleanupScratch, progress, round, scratchBpffs } from './scratch.js';
import { serviceObject, sliceObject } from './synthetic.js';
import { cgroup2Root } from '../dataplane/ebpf/cgroup.js';
import { UsageError } from './args.js';
import { parseSyncBenchArgs, runOrder, SYNC_BENCH_USAGE, WARMUP_SERVICES, type SyncBenchOptions } from './sync-options.js';
import { syncTable, type SyncBenchReport, type SyncResult } from './sync-report.js';

const NODE: NodeContext = { nodeName: 'node-0', nodeAddresses: ['192.168.0.10'], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false };
const ENDPOINTS = 10;

type WorkerResult = SyncResult;

/**
 * A dataplane's start() attaches to every device of its namespace: the
 * worker must never run in the host's. runWorker starts it under
 * `unshare --net`; run by hand it refuses.
 */
function assertScratchNetns(parentNetns: string | undefined): void {
  if (!parentNetns || readlinkSync('/proc/self/ns/net') === parentNetns) {
    throw new Error('bench sync workers run only inside a scratch network namespace (bench sync starts them with unshare --net)');
  }
}

/** Runs in the scratch namespace: program N services cold, then change one endpoint. */
async function worker(mode: ProxyMode, services: number, parentNetns: string | undefined): Promise<WorkerResult> {
  assertScratchNetns(parentNetns);
  const fs = scratchBpffs();
  const cgroup = join(cgroup2Root(), `ekp-bench-${process.pid}`);
  mkdirSync(cgroup);
  const config: ProxyConfig = {
    ...DEFAULTS, mode, bpfPinDir: join(fs.path, 'pins'), cgroupRoot: cgroup,
    bpfMaxServices: Math.max(DEFAULTS.bpfMaxServices, services * 2), bpfMaxBackends: Math.max(DEFAULTS.bpfMaxBackends, services * ENDPOINTS * 2),
    bpfSlots: Math.max(DEFAULTS.bpfSlots, services * ENDPOINTS * 2),
  };
  const log = createLogger({ format: 'json', verbosity: 0, write: () => {} });
  const dp = await createDataplane(mode, { config, log, nodeAddresses: () => NODE.nodeAddresses as string[] });
  try {
    await dp.start();
    const svcs = Array.from({ length: services }, (_, i) => serviceObject(i));
    const slices = Array.from({ length: services }, (_, i) => sliceObject(i, ENDPOINTS));
    const state = buildDesiredState({ services: svcs, endpointSlices: slices, node: NODE }).state;
    let t = performance.now();
    await dp.apply({ state, changed: 'all' });
    const cold = performance.now() - t;
    const i = Math.floor(services / 2);
    slices[i] = sliceObject(i, ENDPOINTS, 1);
    const one = buildDesiredState({ services: [svcs[i]], endpointSlices: [slices[i]], node: NODE }).state;
    const next = new Map(state.services);
    for (const [k, v] of one.services) next.set(k, v);
    t = performance.now();
    await dp.apply({ state: { services: next }, changed: new Set(one.services.keys()) });
    const update = performance.now() - t;
    return { mode, services, cold_ms: round(cold, 1), update_ms: round(update, 2) };
  } finally {
    await dp.close();
    fs.dispose();
    try {
      rmdirSync(cgroup);
    } catch {
      // programs keep it busy until they are gone with the namespace
    }
  }
}

/** What a failed worker said: the error's message, not the last line of its stack. */
export function failure(stderr: string, status: number | null): string {
  const lines = stderr.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.map((l) => /(?:^|: )([A-Za-z]*Error\b.*)$/.exec(l)?.[1]).find((m) => m !== undefined);
  return error ?? lines.filter((l) => !l.startsWith('at ')).pop() ?? `exit ${status}`;
}

/** A mode that takes longer than timeoutMs at one size is reported as such, not waited for. */
function runWorker(mode: ProxyMode, services: number, timeoutMs: number): WorkerResult {
  const bin = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
  const parentNetns = readlinkSync('/proc/self/ns/net');
  const r = spawnSync('unshare', ['--net', '--', process.execPath, bin, 'bench', 'sync', '--worker', mode, String(services), parentNetns], { encoding: 'utf8', timeout: timeoutMs });
  // A worker killed at the timeout ran no finally blocks: remove its cgroup and mounts here.
  if (r.pid) {
    cleanupScratch(r.pid);
    try {
      rmdirSync(join(cgroup2Root(), `ekp-bench-${r.pid}`));
    } catch {
      // absent (the worker cleaned up) or still busy
    }
  }
  if (r.error || r.status !== 0) {
    const why = r.error ? (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `over ${timeoutMs / 1000} s` : r.error.message : failure(r.stderr, r.status);
    return { mode, services, cold_ms: NaN, update_ms: NaN, error: why };
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WorkerResult;
}

/** ipvs needs IP_VS in the kernel; why this one cannot run it, or null. */
async function ipvsMissing(): Promise<string | null> {
  const { probeFeatures, realProbeEnv } = await import('../probe/index.js');
  const ipvs = probeFeatures(realProbeEnv).ip_vs;
  return ipvs.available ? null : ipvs.detail;
}

/** Every mode at every size on this kernel, interleaved. */
export async function runSyncBenchHere(o: SyncBenchOptions, modesGiven: boolean): Promise<SyncBenchReport> {
  const notes: string[] = [];
  let modes = o.modes;
  if (modes.includes('ipvs')) {
    const why = await ipvsMissing();
    if (why && modesGiven) throw new UsageError(`ipvs: ${why}; run it with --vm, where Debian's kernel has IP_VS`);
    if (why) {
      modes = modes.filter((m) => m !== 'ipvs');
      notes.push(`ipvs not measured: this kernel has no IP_VS (${why}); \`bench sync --vm\` measures every mode, ipvs included, in the qemu VM`);
    }
  }
  if (process.env.EKP_IN_VM === '1') notes.push(`measured inside the qemu VM (kernel ${release()}, TCG emulation): compare the modes with each other, not with a host run`);
  if (o.warmup) {
    for (const m of modes) {
      progress(`sync: warm-up, ${m} at ${WARMUP_SERVICES} services…`);
      const w = runWorker(m, WARMUP_SERVICES, o.timeoutS * 1000);
      if (w.error) notes.push(`${m} failed its warm-up: ${w.error}`);
    }
    notes.push(`every mode ran once at ${WARMUP_SERVICES} services first (warm-up, not reported): a fresh kernel loads each mode's modules on first use`);
  }
  const results: SyncResult[] = [];
  for (const [i, n] of o.sizes.entries()) {
    for (const m of runOrder(modes, i)) {
      progress(`sync: ${m} at ${n} services…`);
      results.push(runWorker(m, n, o.timeoutS * 1000));
    }
  }
  progress('');
  return { results, notes };
}

export const suite: BenchSuite = {
  describe: 'every mode: program 1,000 and 10,000 services x 10 endpoints from cold, and one endpoint change (--vm: ipvs too, in the qemu VM)',
  async run(args) {
    const w = args.indexOf('--worker');
    if (w >= 0) {
      const r = await worker(args[w + 1] as ProxyMode, Number(args[w + 2]), args[w + 3]);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    if (args.includes('--help') || args.includes('-h')) {
      process.stdout.write(SYNC_BENCH_USAGE);
      return 0;
    }
    let o: ReturnType<typeof parseSyncBenchArgs>;
    try {
      o = parseSyncBenchArgs(args);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`bench sync: ${err.message}\n\n${SYNC_BENCH_USAGE}`);
      return 2;
    }
    let r: SyncBenchReport;
    try {
      r = o.vm ? await (await import('./sync-vm.js')).runSyncBenchInVm(o) : await runSyncBenchHere(o, o.modesGiven);
    } catch (err) {
      process.stderr.write(`bench sync: ${(err as Error).message}\n`);
      return err instanceof UsageError ? 2 : 1;
    }
    const ran = o.modes.filter((m) => r.results.some((x) => x.mode === m));
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : syncTable(r, ran, o.sizes));
    return 0;
  },
};
