// How long the iptables mode takes to program N services × M endpoints from cold, one endpoint
// change at that size (a partial sync), a periodic resync (canaries intact: compared, nothing
// written) and the full resync of a restarted proxy over the existing rules, in a throwaway
// network namespace (never the root namespace's rules). kube-proxy's structure is the comparison
// baseline: one restore of every chain, and a first packet that walks KUBE-SERVICES linearly.
// Not registered in bench/index.ts; call benchIptablesSync() or suite.run(['--services', …]).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ProxyConfig } from '../config/index.js';
import { IptablesDataplane, type SyncStats } from '../dataplane/iptables/index.js';
import type { Backend } from '../dataplane/iptables/exec.js';
import { buildDesiredState, type DesiredState, type NodeContext } from '../model/index.js';
import { createLogger } from '../observe/index.js';
import type { BenchSuite } from './index.js';
import { round } from './scratch.js';
import { serviceObject, sliceObject } from './synthetic.js';

const NODE: NodeContext = { nodeName: 'node-0', nodeAddresses: ['192.168.0.10'], clusterCIDRs: ['10.128.0.0/9'], masqueradeAll: false };

export interface IptablesSyncBenchOptions {
  services: number;
  endpointsPerService?: number;
  backend?: Backend;
}

export interface SyncTiming {
  /** Wall time of apply(): rules generated, (full syncs) iptables-save read, iptables-restore run. */
  total_ms: number;
  generate_ms: number;
  save_ms: number;
  restore_ms: number;
  restore_bytes: number;
  rules: number;
  chains: number;
}

export interface IptablesSyncBenchResult {
  backend: Backend;
  services: number;
  endpoints: number;
  cold: SyncTiming;
  one_endpoint_change: SyncTiming;
  /** The tracker's periodic 'all' with the canaries in place. */
  periodic_resync: SyncTiming;
  /** A new instance's first (full) sync over the rules the previous one left. */
  restart_full_resync: SyncTiming;
  /** Rules in the nat table afterwards (iptables-save). */
  nat_rules: number;
}

function timing(totalMs: number, s: readonly SyncStats[]): SyncTiming {
  const sum = (f: (x: SyncStats) => number) => round(s.reduce((a, x) => a + f(x), 0));
  return {
    total_ms: round(totalMs), generate_ms: sum((x) => x.generateMs), save_ms: sum((x) => x.saveMs), restore_ms: sum((x) => x.restoreMs),
    restore_bytes: sum((x) => x.bytes), rules: sum((x) => x.rules), chains: sum((x) => x.chains),
  };
}

function state(services: number, eps: number, generationOfFirst: number): DesiredState {
  const r = buildDesiredState({
    services: Array.from({ length: services }, (_, i) => serviceObject(i)),
    endpointSlices: Array.from({ length: services }, (_, i) => sliceObject(i, eps, i === 0 ? generationOfFirst : 0)),
    node: NODE,
  });
  return r.state;
}

let counter = 0;

export async function benchIptablesSync(opts: IptablesSyncBenchOptions): Promise<IptablesSyncBenchResult> {
  const eps = opts.endpointsPerService ?? 10;
  const backend = opts.backend ?? 'nft';
  const name = `ekpt-bench-ipt-${process.pid}-${counter++}`;
  const must = (argv: string[]) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr || r.error?.message}`);
    return r.stdout;
  };
  must(['ip', 'netns', 'add', name]);
  try {
    const log = createLogger({ format: 'json', verbosity: 0, write: () => {} });
    const ctx = { config: { masqueradeBit: 14 } as ProxyConfig, log, nodeAddresses: () => [...NODE.nodeAddresses] };
    const dp = new IptablesDataplane(ctx, { backend, netns: `/run/netns/${name}` });
    await dp.start();
    const s0 = state(opts.services, eps, 0);
    let t = performance.now();
    await dp.apply({ state: s0, changed: 'all' });
    const cold = timing(performance.now() - t, dp.lastSync);

    const s1 = state(opts.services, eps, 1);
    t = performance.now();
    await dp.apply({ state: s1, changed: new Set([[...s1.services.keys()].find((k) => k.startsWith('bench/svc-0:'))!]) });
    const change = timing(performance.now() - t, dp.lastSync);

    t = performance.now();
    await dp.apply({ state: s1, changed: 'all' });
    const periodic = timing(performance.now() - t, dp.lastSync);

    const next = new IptablesDataplane(ctx, { backend, netns: `/run/netns/${name}` });
    await next.start();
    t = performance.now();
    await next.apply({ state: s1, changed: 'all' });
    const restart = timing(performance.now() - t, next.lastSync);

    const nat = must(['nsenter', `--net=/run/netns/${name}`, '--', `iptables-${backend}-save`, '-t', 'nat']);
    return {
      backend, services: opts.services, endpoints: eps, cold, one_endpoint_change: change, periodic_resync: periodic, restart_full_resync: restart,
      nat_rules: nat.split('\n').filter((l) => l.startsWith('-A ')).length,
    };
  } finally {
    if (existsSync(`/run/netns/${name}`)) spawnSync('ip', ['netns', 'del', name]);
  }
}

export const suite: BenchSuite = {
  describe: 'iptables mode: program N services × 10 endpoints from cold, one endpoint change, periodic and restart resyncs (both backends)',
  async run(args: string[]): Promise<number> {
    const json = args.includes('--json');
    const i = args.indexOf('--services');
    const sizes = i >= 0 ? args[i + 1]!.split(',').map(Number) : [1000, 10_000];
    const backends: Backend[] = args.includes('--legacy-only') ? ['legacy'] : args.includes('--nft-only') ? ['nft'] : ['nft', 'legacy'];
    for (const services of sizes) {
      for (const backend of backends) {
        const r = await benchIptablesSync({ services, backend });
        if (json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
        } else {
          const f = (x: SyncTiming) => `${x.total_ms} ms (restore ${x.restore_ms}, save ${x.save_ms}, generate ${x.generate_ms}; ${x.rules} rules, ${round(x.restore_bytes / 1e6)} MB)`;
          process.stdout.write([
            `${services} services × ${r.endpoints} endpoints, ${backend} backend (${r.nat_rules} nat rules):`,
            `  cold               ${f(r.cold)}`,
            `  one endpoint       ${f(r.one_endpoint_change)}`,
            `  periodic resync    ${f(r.periodic_resync)}`,
            `  restart, full      ${f(r.restart_full_resync)}`,
            '',
          ].join('\n'));
        }
      }
    }
    return 0;
  },
};
