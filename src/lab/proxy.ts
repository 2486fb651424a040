// The proxy on each lab node: one `ebpf-kube-proxy run` per node namespace,
// in manifest mode, with its own pin directory and its own cgroup (which the
// node's pod processes join, so socket-level load balancing sees them and
// nothing else on the machine).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Root } from '../dataplane/ebpf/cgroup.js';
import { packageRoot } from '../native/paths.js';
import { pidAlive } from './lab.js';
import { httpGet, httpText } from './probe.js';
import type { Lab, NodeHost } from './types.js';

export interface ProxyOptions {
  /** --proxy-mode. */
  mode: string;
  /** bpffs directory holding one pin directory per node. */
  pinBase?: string;
  /** More flags for every node's `run`. */
  extraArgs?: string[];
  /**
   * How long to wait for /healthz to say 200 (default 60 s). A start is ~1–3 s here, but ebpf
   * mode verifies six objects first, and on a CI machine sharing its two cores with the qemu VM
   * that alone once took 17 s.
   */
  readyTimeoutMs?: number;
}

export function manifestsDir(lab: Lab): string {
  return join(lab.stateDir, 'manifests');
}

/** The lab's cgroup: one child per node. Named so no user's cgroup can collide. */
export function labCgroup(labName: string): string {
  return join(cgroup2Root(), `ekp-lab-${labName}`);
}

export function nodeCgroup(labName: string, node: NodeHost): string {
  return join(labCgroup(labName), node.name);
}

export function defaultPinBase(labName: string): string {
  return `/sys/fs/bpf/ekp-lab-${labName}`;
}

function pidFile(lab: Lab, node: NodeHost): string {
  return join(lab.stateDir, 'pids', `proxy-${node.name}.pid`);
}

export function proxyPid(lab: Lab, node: NodeHost): number | null {
  try {
    const pid = Number(readFileSync(pidFile(lab, node), 'utf8').trim());
    return pid > 0 && pidAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

export function proxyLog(lab: Lab, node: NodeHost): string {
  try {
    return readFileSync(join(lab.stateDir, 'logs', `proxy-${node.name}.log`), 'utf8');
  } catch {
    return '';
  }
}

/** Moves the node's pod servers into the node's cgroup (a pod's processes belong to its node). */
function adoptPods(lab: Lab, node: NodeHost, cgroup: string): void {
  for (const pod of lab.pods) {
    if (pod.node !== node.name || !pod.serverPid || !pidAlive(pod.serverPid)) continue;
    writeFileSync(join(cgroup, 'cgroup.procs'), `${pod.serverPid}\n`);
  }
}

/** Starts (or restarts) the proxy of one node and waits until it reports healthy. */
export async function startProxy(lab: Lab, node: NodeHost, opts: ProxyOptions): Promise<number> {
  const cgroup = nodeCgroup(lab.spec.name, node);
  mkdirSync(cgroup, { recursive: true });
  adoptPods(lab, node, cgroup);
  const pinBase = opts.pinBase ?? defaultPinBase(lab.spec.name);
  const args = [
    join(packageRoot(), 'bin', 'ebpf-kube-proxy.js'), 'run',
    '--proxy-mode', opts.mode,
    '--manifests', manifestsDir(lab),
    '--hostname-override', node.name,
    '--cluster-cidr', [lab.addressing.clusterCIDR, lab.addressing.clusterCIDRv6].filter(Boolean).join(','),
    '--bpf-pin-dir', join(pinBase, node.name),
    '--cgroup-root', cgroup,
    '--healthz-bind-address', '0.0.0.0:10256',
    '--metrics-bind-address', '127.0.0.1:10249',
    ...(opts.extraArgs ?? []),
  ];
  mkdirSync(join(lab.stateDir, 'logs'), { recursive: true });
  mkdirSync(join(lab.stateDir, 'pids'), { recursive: true });
  const log = openSync(join(lab.stateDir, 'logs', `proxy-${node.name}.log`), 'a');
  // nsenter keeps the host's /sys mounts (bpffs pins, cgroup2), which `ip netns exec` would hide.
  const child = spawn('nsenter', [`--net=${node.netnsPath}`, '--', process.execPath, ...args], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const pid = child.pid!;
  writeFileSync(pidFile(lab, node), `${pid}\n`);
  await waitHealthy(lab, node, pid, opts.readyTimeoutMs ?? 60_000);
  return pid;
}

async function waitHealthy(lab: Lab, node: NodeHost, pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!pidAlive(pid)) throw new Error(`proxy on ${node.name} exited:\n${proxyLog(lab, node).slice(-2000)}`);
    try {
      await httpGet(node, `http://127.0.0.1:10256/healthz`, { timeoutMs: 1000 });
      return;
    } catch {
      // 503 until the first sync is in the kernel, or not listening yet
    }
    if (Date.now() > deadline) throw new Error(`proxy on ${node.name} not healthy after ${timeoutMs} ms:\n${proxyLog(lab, node).slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startProxies(lab: Lab, opts: ProxyOptions): Promise<void> {
  await Promise.all(lab.nodes.map((n) => startProxy(lab, n, opts)));
}

/** This node's proxy's /metrics text ('' when it does not answer). */
export async function proxyMetrics(node: NodeHost): Promise<string> {
  try {
    const r = await httpText(node, 'http://127.0.0.1:10249/metrics', { timeoutMs: 5000 });
    return r.ok && r.status === 200 ? r.body : '';
  } catch {
    return ''; // the namespace's client failed; the next ask starts another
  }
}

/** A sample's value in a /metrics text, or null. */
export function metricValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Whether a proxy whose /metrics text this is has every change queued since `sinceMs` (epoch) in
 * its kernel: it queued one since (last_queued_timestamp), and nothing is pending. Not the last
 * sync's end time: a sync that was writing when the change came ends after it without it.
 */
export function syncedSince(text: string, sinceMs: number): boolean {
  const queued = metricValue(text, 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds');
  const pending = ['service', 'endpoint'].map((k) => metricValue(text, `kubeproxy_sync_proxy_rules_${k}_changes_pending`));
  return queued !== null && queued * 1000 >= sinceMs && pending.every((n) => n === 0);
}

/**
 * Waits until every node's running proxy has a manifest change made at `sinceMs` (epoch, taken
 * before writing) in its kernel.
 */
export async function waitSynced(lab: Lab, sinceMs: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const node of lab.nodes) {
    if (proxyPid(lab, node) === null) continue;
    while (!syncedSince(await proxyMetrics(node), sinceMs)) {
      if (Date.now() > deadline) throw new Error(`proxy on ${node.name} has not synced a change made ${Date.now() - sinceMs} ms ago`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Stops one node's proxy: SIGTERM (leaves the datapath serving) or SIGKILL (a crash). */
export async function stopProxy(lab: Lab, node: NodeHost, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  const pid = proxyPid(lab, node);
  if (pid === null) return;
  process.kill(pid, signal);
  const deadline = Date.now() + 10_000;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Removes what the proxies left outside the lab's namespaces: the lab's
 * cgroups (once their processes are gone) and pin directories. Safe to run
 * after a crash; labDown runs it.
 */
export function cleanupProxyState(labName: string, pinBase = defaultPinBase(labName)): void {
  let root: string | null = null;
  try {
    root = labCgroup(labName);
  } catch {
    root = null;
  }
  if (root && existsSync(root)) {
    for (const child of readdirSync(root, { withFileTypes: true })) if (child.isDirectory()) tryRmdir(join(root, child.name));
    tryRmdir(root);
  }
  if (existsSync(pinBase)) {
    // Only the per-node directories are ours (a bpffs root also holds maps.debug and the like).
    for (const dir of readdirSync(pinBase, { withFileTypes: true })) {
      if (!dir.isDirectory() || !/^node\d+$/.test(dir.name)) continue;
      const d = join(pinBase, dir.name);
      for (const f of readdirSync(d)) unlinkSync(join(d, f));
      tryRmdir(d);
    }
    tryRmdir(pinBase);
  }
}

function tryRmdir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // a cgroup with a live process stays; the next cleanup gets it
  }
}

