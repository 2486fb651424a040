import { MAP_DEFAULT_SIZE } from '../dataplane/ebpf/abi.js';
import { loadDatapath } from '../dataplane/ebpf/loader.js';
import { ServiceWriter } from '../dataplane/ebpf/writer.js';
import type { NodeContext } from '../model/index.js';
import { createLogger } from '../observe/index.js';
import { SyncLoop, type SyncReport } from '../tracker/index.js';
import type { BenchSuite } from './index.js';
import { percentile, progress, round, scratchBpffs } from './scratch.js';
import { serviceObject, sliceObject } from './synthetic.js';

const UPDATES_AFTER_COLD = 100;
const SETTLE_MS = 1000;

const NODE: NodeContext = { nodeName: 'node-0', nodeAddresses: ['192.168.0.10'], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false };

interface Result {
  services: number;
  endpoints: number;
  full_sync_ms: number;
  /** The part of full_sync_ms spent writing the maps (the rest is the model). */
  full_sync_maps_ms: number;
  /** From the first change handed to the control plane to the maps written: ingest + model + maps. */
  cold_start_ms: number;
  update_p50_ms: number;
  update_p99_ms: number;
  updates: number;
  /**
   * The same, for the changes that come in right after the cold sync, with no idle time between:
   * they also pay for V8 collecting the cold sync's garbage (the daemon's default minSyncPeriod
   * of 1 s gives it that time; the bench runs with 0).
   */
  update_after_cold_p99_ms: number;
  update_after_cold_max_ms: number;
  updates_after_cold: number;
  /** Peak resident set of the whole process (the kernel's high-water mark, not a sample after a GC). */
  rss_mb: number;
  /** Resident set at the end, after the updates. */
  rss_end_mb: number;
  /** V8 heap in use at the end (live objects plus garbage not yet collected). */
  heap_mb: number;
}

/**
 * The control plane against real maps: the sync loop, the model and the map
 * writer in this process, the maps in the kernel (loaded, not attached).
 */
async function measure(services: number, endpointsPerService: number, updates: number): Promise<Result> {
  const fs = scratchBpffs();
  const log = createLogger({ format: 'json', verbosity: 0, write: () => {} });
  let loaded: Awaited<ReturnType<typeof loadDatapath>> | null = null;
  try {
    loaded = await loadDatapath({
      pinDir: `${fs.path}/cp`, config: { snatV4: '192.168.0.10' }, log,
      sizes: { svc: MAP_DEFAULT_SIZE.ekp_svc_v1, svcStat: MAP_DEFAULT_SIZE.ekp_svcstat_v1, backend: 1 << 18, slots: 1 << 22, ct: 65536, affinity: 65536, srcRange: 1024, sock: 1024, vip: 65536 },
    });
    const m = loaded.maps;
    const writer = new ServiceWriter({ svc: m.svc, backend: m.backend, slots: m.slots, srcRange: m.srcRange }, {
      algorithm: 'random', sizes: { svcIds: m.svcStat.maxEntries, backends: m.backend.maxEntries, slots: m.slots.maxEntries },
    });
    let onReport: ((r: SyncReport) => void) | null = null;
    let writeMs = 0;
    const loop = new SyncLoop({
      consumer: {
        apply: async (u) => {
          const t = performance.now();
          writer.apply(u);
          writeMs = performance.now() - t;
        },
      },
      nodeContext: () => NODE,
      minSyncPeriodMs: 0,
      syncPeriodMs: 3_600_000,
      observer: { synced: (r) => onReport?.(r) },
    });
    const nextReport = () => new Promise<SyncReport>((resolve) => { onReport = resolve; });

    progress(`controlplane: ${services} services, ${services * endpointsPerService} endpoints: cold sync`);
    const t0 = performance.now();
    for (let i = 0; i < services; i++) loop.changed({ kind: 'Service', key: `bench/svc-${i}`, previous: null, current: serviceObject(i) });
    const slices = Array.from({ length: services }, (_, i) => sliceObject(i, endpointsPerService));
    for (let i = 0; i < services; i++) loop.changed({ kind: 'EndpointSlice', key: `bench/svc-${i}-abc`, previous: null, current: slices[i] });
    const cold = nextReport();
    loop.synced('Service');
    loop.synced('EndpointSlice');
    loop.synced('Node');
    const first = await cold;
    const coldMs = performance.now() - t0;
    const fullWriteMs = writeMs;
    if (first.error) throw first.error;

    /** Changes one slice at a time, `n` of them, each awaited; returns the sorted latencies. */
    let u = 0;
    const change = async (n: number, what: string): Promise<number[]> => {
      const latencies: number[] = [];
      for (let k = 0; k < n; k++, u++) {
        if (k % 20 === 0) progress(`controlplane: ${services} services: ${what} ${k}/${n}`);
        const i = (u * 7919) % services;
        const next = sliceObject(i, endpointsPerService, (u % 5) + 1);
        const done = nextReport();
        const start = performance.now();
        loop.changed({ kind: 'EndpointSlice', key: `bench/svc-${i}-abc`, previous: slices[i]!, current: next });
        const r = await done;
        latencies.push(performance.now() - start);
        if (r.error) throw r.error;
        if (r.changedServicePorts !== 1) throw new Error(`an update changed ${r.changedServicePorts} service ports, expected 1`);
        slices[i] = next;
      }
      return latencies.sort((a, b) => a - b);
    };
    const afterCold = await change(UPDATES_AFTER_COLD, 'update right after the cold sync');
    // Then the steady state: the process idle for a moment, as it is between a cold start and
    // the next change, so that collecting the cold sync's garbage is not charged to the changes.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const latencies = await change(updates, 'update');
    await loop.stop();
    const mem = process.memoryUsage();
    // ru_maxrss is in KiB on Linux.
    const peakRss = process.resourceUsage().maxRSS / 1024;
    progress('');
    return {
      services, endpoints: services * endpointsPerService,
      full_sync_ms: round(first.durationMs), full_sync_maps_ms: round(fullWriteMs), cold_start_ms: round(coldMs),
      update_p50_ms: round(percentile(latencies, 50), 3), update_p99_ms: round(percentile(latencies, 99), 3), updates,
      update_after_cold_p99_ms: round(percentile(afterCold, 99), 3), update_after_cold_max_ms: round(afterCold.at(-1)!, 3),
      updates_after_cold: afterCold.length,
      rss_mb: round(peakRss, 1), rss_end_mb: round(mem.rss / 2 ** 20, 1), heap_mb: round(mem.heapUsed / 2 ** 20, 1),
    };
  } finally {
    loaded?.close();
    fs.dispose();
  }
}

export const suite: BenchSuite = {
  describe: 'control plane against real maps: cold full sync, one EndpointSlice change to map update, RSS',
  async run(args) {
    let json = false;
    let services = 10_000;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '--json') json = true;
      else if (a === '--services' && Number.isInteger(Number(args[i + 1])) && Number(args[i + 1]) > 0) services = Number(args[++i]);
      else {
        // --help too: a typo must not start a minute of measuring.
        process.stderr.write(`${a === '--help' || a === '-h' ? '' : `bench controlplane: bad argument ${JSON.stringify(a)}\n`}usage: ebpf-kube-proxy bench controlplane [--json] [--services N]\n`);
        return 2;
      }
    }
    const r = await measure(services, 10, 500);
    if (json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      process.stdout.write([
        `control plane, ${r.services} services / ${r.endpoints} endpoints, real BPF maps`,
        `  full sync (model + maps)        ${r.full_sync_ms} ms (maps ${r.full_sync_maps_ms} ms)      goal < 1000 ms`,
        `  cold start (ingest + full sync) ${r.cold_start_ms} ms`,
        `  one EndpointSlice change → maps p50 ${r.update_p50_ms} ms, p99 ${r.update_p99_ms} ms over ${r.updates} changes   goal p99 < 10 ms`,
        `    the ${r.updates_after_cold} changes right after the cold sync: p99 ${r.update_after_cold_p99_ms} ms, max ${r.update_after_cold_max_ms} ms`,
        `  RSS, peak                        ${r.rss_mb} MB     goal < 200 MB   (at the end ${r.rss_end_mb} MB, heap in use ${r.heap_mb} MB)`,
        '',
      ].join('\n'));
    }
    return 0;
  },
};
