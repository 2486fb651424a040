// How long the nftables mode takes to program N services × E endpoints from cold, to resync them
// (the periodic sync every syncPeriod, partial over every service port; and the hourly full sync
// over the existing table), and to apply one endpoint change at that size.
// Runs in a network namespace of its own (`ip netns add ekpt-bench-…`), never the caller's.
//
//   node dist/bench/sync-nftables.js [services…]      e.g. 1000 10000 (endpoints: EKP_BENCH_ENDPOINTS, default 10)
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { FULL_SYNC_PERIOD_MS } from '../dataplane/full-sync.js';
import { NftablesDataplane } from '../dataplane/nftables/index.js';
import type { DataplaneContext } from '../dataplane/types.js';
import { buildDesiredState, type DesiredState } from '../model/index.js';
import { memoryLogger } from '../observe/index.js';
import { serviceObject, sliceObject } from './synthetic.js';

export interface NftSyncBench {
  services: number;
  endpoints: number;
  /** Milliseconds, each including the nft process and JS generation. */
  coldMs: number;
  /** syncPeriod's sync between full ones: every service port compared, nothing written. */
  periodicResyncMs: number;
  /** The full sync once per FULL_SYNC_PERIOD_MS: the table listed and rewritten. */
  fullResyncMs: number;
  endpointChangeMs: number;
  transactionBytes: number;
}

function state(services: number, endpoints: number, generation0 = 0): DesiredState {
  const svcs = Array.from({ length: services }, (_, i) => serviceObject(i));
  const slices = Array.from({ length: services }, (_, i) => sliceObject(i, endpoints, i === 0 ? generation0 : 0));
  return buildDesiredState({ services: svcs, endpointSlices: slices, node: { nodeName: 'node-0', nodeAddresses: ['192.168.0.1'], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false } }).state;
}

function sh(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
}

/** One measurement in a fresh namespace (removed afterwards). */
export async function benchNftablesSync(services: number, endpoints = 10): Promise<NftSyncBench> {
  const ns = `ekpt-bench-${process.pid}-${services}`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    let bytes = 0;
    const log = memoryLogger();
    const ctx = { config: { masqueradeBit: 14 } as DataplaneContext['config'], log, nodeAddresses: () => [] } as DataplaneContext;
    let clock = 0;
    const dp = new NftablesDataplane(ctx, { nftPrefix: ['nsenter', `--net=/run/netns/${ns}`, '--'], now: () => clock });
    await dp.start();
    const s0 = state(services, endpoints);
    const s1 = state(services, endpoints, 1);
    const time = async (f: () => Promise<void>) => {
      const t0 = performance.now();
      await f();
      return Math.round(performance.now() - t0);
    };
    const coldMs = await time(() => dp.apply({ state: s0, changed: 'all' }));
    bytes = Number(log.lines.find((l) => l.msg === 'nftables transaction applied')?.bytes ?? 0);
    clock += 30_000;
    const periodicResyncMs = await time(() => dp.apply({ state: s0, changed: 'all' }));
    clock += FULL_SYNC_PERIOD_MS;
    const fullResyncMs = await time(() => dp.apply({ state: s0, changed: 'all' }));
    const key = [...s1.services.keys()].find((k) => k.endsWith('/svc-0:http'))!;
    const endpointChangeMs = await time(() => dp.apply({ state: s1, changed: new Set([key]) }));
    return { services, endpoints, coldMs, periodicResyncMs, fullResyncMs, endpointChangeMs, transactionBytes: bytes };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  const endpoints = Number(process.env.EKP_BENCH_ENDPOINTS ?? 10);
  for (const n of sizes.length ? sizes : [1000, 10000]) {
    const r = await benchNftablesSync(n, endpoints);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
