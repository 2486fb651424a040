// `bench lab` on this machine: builds the bench lab (one node per mode),
// programs each scale into every mode, and measures them interleaved with
// wrk from the external client. Everything runs inside the lab's namespaces;
// the lab is taken down at the end, also after an error or Ctrl-C.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import {
  clientRouteVia, labDown, labUp, manifestsDir, metricValue, proxyMetrics, proxyPid, startProxy, stopProxy,
  type Lab, type NodeHost, type PodHost,
} from '../../lab/index.js';
import { execIn, ipBatch, sysctlIn, tryExecIn } from '../../lab/exec.js';
import { enableRunTimeStats, ifindexOf, packageRoot, progRunStats, queryTc, queryXdp, withNetns } from '../../native/index.js';
import type { LabBenchMode, LabBenchOptions } from './options.js';
import { Progress } from './progress.js';
import { summarize, type LabBenchResult, type Measurement, type PacketCost, type Programming } from './report.js';
import {
  ANYCAST_POD_SCRIPT, BENCH_HTTP_PORT, benchLabSpec, benchServiceObjects, ECMP_SYSCTLS, ecmpRouteScript, fillerList, nodeForMode,
  roundOrder, targetURL, ANYCAST_IP,
} from './topology.js';
import { errorCount, parseWrkOutput, requestsPerSecond, WRK_SCRIPT, wrkArgv, type WrkKind, type WrkRun } from './wrk.js';

const KINDS: WrkKind[] = ['new_conn', 'keepalive'];

export function httpdPath(): string {
  return join(packageRoot(), 'build', 'Release', 'ekp-httpd');
}

/** Starts ekp-httpd in a pod's namespace and waits for its `ready` line. */
function startHttpd(lab: Lab, pod: PodHost): Promise<void> {
  const log = openSync(join(lab.stateDir, 'logs', `httpd-${pod.name}.log`), 'a');
  const child = spawn('nsenter', [`--net=${pod.netnsPath}`, '--', httpdPath(), String(BENCH_HTTP_PORT), pod.name], { detached: true, stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  child.unref();
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`ekp-httpd in ${pod.name} did not start`)), 10_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(timer);
        child.stdout!.destroy();
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ekp-httpd in ${pod.name} exited with ${code}`));
    });
  });
}

/** Sysctls a load test needs and a real cluster's nodes have: room for the connection rate. */
const CLIENT_SYSCTLS = ['net.ipv4.ip_local_port_range=1024 65535', 'net.ipv4.tcp_tw_reuse=1', 'net.core.somaxconn=4096'];
const POD_SYSCTLS = ['net.core.somaxconn=4096', 'net.ipv4.tcp_max_syn_backlog=4096'];

async function prepareLab(lab: Lab, modes: readonly LabBenchMode[]): Promise<void> {
  mkdirSync(join(lab.stateDir, 'logs'), { recursive: true });
  await sysctlIn(lab.client, CLIENT_SYSCTLS);
  await Promise.all(lab.pods.map((p) => sysctlIn(p, POD_SYSCTLS)));
  await Promise.all(lab.pods.map((p) => startHttpd(lab, p)));
  if (modes.includes('direct')) {
    const node = nodeForMode(lab, modes, 'direct');
    for (const pod of lab.pods.filter((p) => p.node === node.name)) await ipBatch(pod.netns, ANYCAST_POD_SCRIPT);
    await sysctlIn(node, ECMP_SYSCTLS);
    await ipBatch(node.netns, ecmpRouteScript(lab, node));
    await clientRouteVia(lab, `${ANYCAST_IP}/32`, node);
  }
  writeFileSync(join(lab.stateDir, 'wrk.lua'), WRK_SCRIPT);
}

function writeScale(lab: Lab, scale: number, fillerEndpoints: number): void {
  const dir = manifestsDir(lab);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) unlinkSync(join(dir, f));
  // Written before the proxies start: each one's first sync programs the whole scale.
  writeFileSync(join(dir, 'bench.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: benchServiceObjects(lab) }));
  if (scale > 1) writeFileSync(join(dir, 'fillers.json'), JSON.stringify(fillerList(scale - 1, fillerEndpoints)));
}

/** Proxy start → healthy, and the first full sync's own duration from its metrics. */
async function program(lab: Lab, node: NodeHost, mode: LabBenchMode, scale: number, o: LabBenchOptions): Promise<Programming> {
  const maps = Math.max(65_536, 2 * scale * Math.max(o.fillerEndpoints, 3));
  const extraArgs = mode === 'ebpf' ? ['--bpf-max-services', String(Math.max(65_536, 4 * scale)), '--bpf-max-backends', String(maps), '--bpf-slots', String(Math.max(1 << 20, 32 * maps))] : [];
  try {
    const t = Date.now();
    await startProxy(lab, node, { mode, extraArgs, readyTimeoutMs: o.programTimeoutS * 1000 });
    const readyMs = Date.now() - t;
    const text = await proxyMetrics(node);
    const sum = metricValue(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_sum');
    const count = metricValue(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count');
    return { scale, mode, ms: sum !== null && count ? (sum / count) * 1000 : readyMs, ready_ms: readyMs };
  } catch (err) {
    await stopProxy(lab, node, 'SIGKILL');
    return { scale, mode, ms: null, error: (err as Error).message.split('\n')[0]! };
  }
}

async function wrk(lab: Lab, url: string, kind: WrkKind, durationS: number, o: LabBenchOptions): Promise<WrkRun> {
  const argv = wrkArgv({ url, kind, durationS, connections: o.connections, threads: o.threads, scriptPath: join(lab.stateDir, 'wrk.lua') });
  const r = await tryExecIn(lab.client, argv, { timeoutMs: (durationS + 30) * 1000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return parseWrkOutput(r.stdout);
}

/** Ids of the BPF programs attached to a node's devices (XDP and tc, both directions). */
async function nodeProgramIds(node: NodeHost): Promise<number[]> {
  // /sys/class/net shows the namespace that mounted /sys, not the node's: ask ip.
  const links = JSON.parse(await execIn(node, ['ip', '-j', 'link', 'show'])) as { ifname: string }[];
  return withNetns(node.netnsPath, () => {
    const ids = new Set<number>();
    for (const { ifname } of links) {
      if (ifname === 'lo') continue;
      const ifindex = ifindexOf(ifname);
      for (const dir of ['ingress', 'egress'] as const) {
        const id = queryTc(ifindex, dir);
        if (id > 0) ids.add(id);
      }
      const xdp = queryXdp(ifindex);
      if (xdp.progId > 0) ids.add(xdp.progId);
    }
    return [...ids];
  });
}

/** ns per program run on the ebpf node while wrk runs; stats are on only for this run. */
async function measurePacketCost(lab: Lab, node: NodeHost, url: string, kind: WrkKind, scale: number, o: LabBenchOptions): Promise<PacketCost> {
  const ids = await nodeProgramIds(node);
  if (!ids.length) throw new Error(`no BPF programs attached in ${node.name}`);
  const stop = enableRunTimeStats();
  try {
    const before = ids.map(progRunStats);
    const run = await wrk(lab, url, kind, Math.min(o.durationS, 3), o);
    const after = ids.map(progRunStats);
    const ns = after.reduce((a, s, i) => a + s.runTimeNs - before[i]!.runTimeNs, 0);
    const runs = after.reduce((a, s, i) => a + s.runCount - before[i]!.runCount, 0);
    return { scale, kind, ns: runs ? ns / runs : null, runs, ns_per_request: run.requests ? ns / run.requests : null };
  } finally {
    stop();
  }
}

/**
 * Before measuring: 24 fresh connections to the mode's target must be
 * answered only by the pods of the mode's own node, and by more than one of
 * them (the baseline's ECMP spreads, the Service balances). Otherwise the
 * numbers would describe some other path.
 */
async function checkTarget(lab: Lab, modes: readonly LabBenchMode[], mode: LabBenchMode): Promise<void> {
  const url = targetURL(lab, modes, mode);
  const node = nodeForMode(lab, modes, mode);
  const argv = ['curl', '-sS', '--max-time', '5', '-H', 'Connection: close', ...Array.from({ length: 24 }, () => url)];
  const r = await tryExecIn(lab.client, argv, { timeoutMs: 30_000 });
  const seen = r.stdout.split('\n').filter(Boolean);
  const own = new Set(lab.pods.filter((p) => p.node === node.name).map((p) => p.name));
  const distinct = new Set(seen);
  if (r.status !== 0 || seen.length !== 24 || [...distinct].some((p) => !own.has(p)) || distinct.size < 2) {
    throw new Error(`${mode}: ${url} from the client answered ${JSON.stringify([...distinct])} in ${seen.length}/24 requests (want ${[...own].join(', ')}, at least two of them)${r.stderr ? `: ${r.stderr.trim().split('\n')[0]}` : ''}`);
  }
}

/**
 * Runs `fn` with every proxy but `mode`'s stopped (SIGSTOP): their datapaths
 * stay in the kernel, but their resyncs, conntrack GC and directory polling
 * would otherwise take CPU from the mode being measured, more so at larger
 * scales. A node runs one proxy, and so does this measurement.
 */
async function alone<T>(lab: Lab, modes: readonly LabBenchMode[], mode: LabBenchMode | null, fn: () => Promise<T>): Promise<T> {
  const others = modes.filter((m) => m !== 'direct' && m !== mode).map((m) => proxyPid(lab, nodeForMode(lab, modes, m))).filter((p): p is number => p !== null);
  for (const pid of others) process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    for (const pid of others) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone meanwhile
      }
    }
  }
}

/** Drops the finished connections' conntrack entries, so no measurement inherits a fuller table from the one before. */
async function flushConntrack(lab: Lab): Promise<void> {
  await Promise.all(lab.nodes.map((n) => tryExecIn(n, ['conntrack', '-F'])));
}

export async function runLabBenchHere(o: LabBenchOptions, onProgress?: Progress): Promise<LabBenchResult> {
  if (!existsSync(httpdPath())) throw new Error(`${httpdPath()} is missing: build with \`npm run gyp -- build\` (or bash scripts/setup.sh)`);
  const proxyModes = o.modes.filter((m) => m !== 'direct');
  const perScale = proxyModes.length * 5 + o.rounds * KINDS.length * o.modes.length * o.durationS + (o.modes.includes('ebpf') ? 6 : 0);
  const progress = onProgress ?? new Progress(perScale * o.scales.length);
  const result: LabBenchResult = {
    version: 1,
    date: new Date().toISOString(),
    machine: { kernel: release(), cpus: availableParallelism(), vm: !!process.env.EKP_IN_VM },
    options: {
      modes: o.modes, scales: o.scales, fillerEndpoints: o.fillerEndpoints, durationS: o.durationS, rounds: o.rounds,
      connections: o.connections, threads: o.threads, vm: o.vm, programTimeoutS: o.programTimeoutS, labName: o.labName,
    },
    programming: [], measurements: [], packet_ns: [], summary: [],
  };
  progress.show('building the lab');
  const lab = await labUp(benchLabSpec(o.modes, o.labName));
  const onSignal = () => {
    void labDown(lab.spec.name).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await prepareLab(lab, o.modes);
    for (const scale of o.scales) {
      const label = `${scale.toLocaleString('en')} services`;
      for (const mode of proxyModes) await stopProxy(lab, nodeForMode(lab, o.modes, mode));
      writeScale(lab, scale, o.fillerEndpoints);
      const usable = new Set<LabBenchMode>(o.modes.includes('direct') ? ['direct'] : []);
      // One mode at a time, so no programming run competes with another for the CPUs.
      for (const mode of proxyModes) {
        progress.show(`${label}: programming ${mode}`);
        const p = await alone(lab, o.modes, mode, () => program(lab, nodeForMode(lab, o.modes, mode), mode, scale, o));
        result.programming.push(p);
        if (p.ms !== null) usable.add(mode);
        progress.advance(5);
      }
      const modes = o.modes.filter((m) => usable.has(m));
      for (const mode of modes) await checkTarget(lab, o.modes, mode);
      // A short warm-up per mode: caches, ARP/neighbour entries, the first CT entries.
      for (const mode of modes) await wrk(lab, targetURL(lab, o.modes, mode), 'keepalive', 1, o);
      for (let round = 0; round < o.rounds; round++) {
        for (const kind of KINDS) {
          for (const mode of roundOrder(modes, round)) {
            progress.show(`${label}: ${mode} ${kind === 'new_conn' ? 'new connections' : 'keep-alive'}, round ${round + 1}/${o.rounds}`);
            const run = await alone(lab, o.modes, mode, () => wrk(lab, targetURL(lab, o.modes, mode), kind, o.durationS, o));
            const m: Measurement = { scale, mode, kind, round, rps: requestsPerSecond(run), p50_us: run.p50_us, p99_us: run.p99_us, errors: errorCount(run) };
            if (m.errors) m.error_kinds = run.errors;
            result.measurements.push(m);
            if (kind === 'new_conn') await flushConntrack(lab);
            progress.advance(o.durationS);
          }
        }
      }
      if (usable.has('ebpf')) {
        const node = nodeForMode(lab, o.modes, 'ebpf');
        for (const kind of KINDS) {
          progress.show(`${label}: ebpf ns per packet (${kind})`);
          result.packet_ns.push(await alone(lab, o.modes, 'ebpf', () => measurePacketCost(lab, node, targetURL(lab, o.modes, 'ebpf'), kind, scale, o)));
          progress.advance(3);
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    progress.show('taking the lab down');
    await labDown(lab.spec.name);
    progress.finish();
  }
  result.summary = summarize(result.measurements);
  return result;
}
