// `bench sync`: time to program N services × 10 endpoints from cold, and one
// endpoint change at that size, for every implemented mode, in one run. Each
// measurement runs in a child process inside a fresh network namespace
// (`unshare --net`), so modes never see each other's rules and the host's
// namespace is never touched.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readlinkSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS, type ProxyConfig } from '../config/index.js';
import { createDataplane, implementedModes } from '../dataplane/index.js';
import { buildDesiredState, type NodeContext } from '../model/index.js';
import { packageRoot } from '../native/paths.js';
import { createLogger } from '../observe/index.js';
import type { ProxyMode } from '../probe/index.js';
import type { BenchSuite } from './index.js';
import { cleanupScratch, progress, round, scratchBpffs } from './scratch.js';
import { serviceObject, sliceObject } from './synthetic.js';
import { cgroup2Root } from '../dataplane/ebpf/cgroup.js';

const NODE: NodeContext = { nodeName: 'node-0', nodeAddresses: ['192.168.0.10'], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false };
const SIZES = [1_000, 10_000];
const ENDPOINTS = 10;
/** A mode that takes longer than this at one size is reported as such, not waited for. */
const TIMEOUT_MS = 240_000;

interface WorkerResult {
  mode: string;
  services: number;
  cold_ms: number;
  update_ms: number;
  error?: string;
}

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

function runWorker(mode: ProxyMode, services: number): WorkerResult {
  const bin = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
  const parentNetns = readlinkSync('/proc/self/ns/net');
  const r = spawnSync('unshare', ['--net', '--', process.execPath, bin, 'bench', 'sync', '--worker', mode, String(services), parentNetns], { encoding: 'utf8', timeout: TIMEOUT_MS });
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
    const why = r.error ? (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `over ${TIMEOUT_MS / 1000} s` : r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`);
    return { mode, services, cold_ms: NaN, update_ms: NaN, error: why };
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WorkerResult;
}

export const suite: BenchSuite = {
  describe: 'every mode: program 1,000 and 10,000 services x 10 endpoints from cold, and one endpoint change',
  async run(args) {
    const w = args.indexOf('--worker');
    if (w >= 0) {
      const r = await worker(args[w + 1] as ProxyMode, Number(args[w + 2]), args[w + 3]);
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    const json = args.includes('--json');
    const modes = implementedModes();
    const results: WorkerResult[] = [];
    for (const n of SIZES) {
      // Alternate the order per size so no mode always runs on a warmer machine.
      const order = n === SIZES[0] ? modes : [...modes].reverse();
      for (const m of order) {
        progress(`sync: ${m} at ${n} services…`);
        results.push(runWorker(m, n));
      }
    }
    progress('');
    if (json) {
      process.stdout.write(`${JSON.stringify({ results })}\n`);
      return 0;
    }
    const lines = ['program N services x 10 endpoints from cold, then one endpoint change (ms; each in a fresh netns)', '', `mode        ${SIZES.map((n) => `${n.toLocaleString('en')} cold`.padStart(14) + '  update'.padStart(10)).join('  ')}`];
    for (const m of modes) {
      const cells = SIZES.map((n) => {
        const r = results.find((x) => x.mode === m && x.services === n)!;
        return r.error ? r.error.slice(0, 24).padStart(24) : `${String(r.cold_ms).padStart(14)}${String(r.update_ms).padStart(10)}`;
      });
      lines.push(`${m.padEnd(10)}  ${cells.join('  ')}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
