// Bringing a lab up and down, and reading back what exists.
//
// Everything a lab owns is found from its name alone: network namespaces
// `ekp-<name>-*` under /run/netns, and /run/ekp-lab/<name>/ (state.json, pid
// files, logs, the copy of the pod server that runs). So labDown works after
// the creating process crashed or was SIGKILLed, and labUp starts with labDown.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ipBatch, labEnv, run, sysctlIn, tryRun } from './exec.js';
import { stopProbeAgents } from './probe.js';
import { cleanupProxyState } from './proxy.js';
import {
  allHosts,
  clientScript,
  fabricScript,
  globalSysctls,
  labPrefix,
  labStateDir,
  LAB_ROOT,
  NETNS_DIR,
  netnsAddScript,
  nodeLinkSysctls,
  nodeScript,
  planLab,
  podScript,
  validateLabName,
} from './plan.js';
import type { Lab, LabSpec, NodeHost, PodHost } from './types.js';

const STATE_VERSION = 1;
/** Parallel `ip`/`sysctl` commands at a time. */
const CONCURRENCY = 16;

interface StateFile {
  version: number;
  /** false while labUp runs (or if it died): labState() then reports nothing. */
  complete: boolean;
  lab: Lab;
}

// ---------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs fn over items, at most `limit` at a time; waits for all, then throws the first error. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length) throw errors[0];
}

/** Alive = exists and is not a zombie (a killed child not yet reaped by its parent counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Network namespaces of the lab `name` that exist now (names under /run/netns). */
export function labNamespaces(name: string): string[] {
  validateLabName(name);
  const prefix = labPrefix(name);
  try {
    return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix)).sort();
  } catch {
    return [];
  }
}

/**
 * Processes of lab `name`: every process inside one of its namespaces (what
 * `ip netns pids` finds, e.g. a proxy started there too) and every process
 * whose argv runs this lab's copy of the pod server (also an nsenter that has
 * not entered its namespace yet). Value: why it belongs to the lab.
 */
export function labProcesses(name: string): Map<number, string> {
  validateLabName(name);
  const byIno = new Map<string, string>();
  for (const n of labNamespaces(name)) {
    try {
      byIno.set(`net:[${statSync(`${NETNS_DIR}/${n}`).ino}]`, `in netns ${n}`);
    } catch {
      // vanished meanwhile
    }
  }
  const script = `${labStateDir(name)}/pod-server.mjs`;
  const out = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || !pidAlive(pid)) continue;
    try {
      const ns = byIno.get(readlinkSync(`/proc/${entry}/ns/net`));
      if (ns) {
        out.set(pid, ns);
        continue;
      }
    } catch {
      // exited meanwhile, or a kernel thread
    }
    if (cmdline(pid).includes(script)) out.set(pid, `runs ${script}`);
  }
  return out;
}

async function killPids(pids: number[], graceMs: number): Promise<number[]> {
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const alive = pids.filter(pidAlive);
      if (!alive.length || Date.now() >= deadline) return alive;
      await sleep(10);
    }
  };
  signal('SIGTERM');
  let alive = await waitGone(graceMs);
  if (alive.length) {
    pids = alive;
    signal('SIGKILL');
    alive = await waitGone(3000);
  }
  return alive;
}

function readState(name: string): StateFile | null {
  try {
    const s = JSON.parse(readFileSync(`${labStateDir(name)}/state.json`, 'utf8')) as StateFile;
    return s && s.version === STATE_VERSION && s.lab ? s : null;
  } catch {
    return null;
  }
}

function writeState(lab: Lab, complete: boolean): void {
  const file = `${lab.stateDir}/state.json`;
  const body: StateFile = { version: STATE_VERSION, complete, lab };
  writeFileSync(`${file}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/**
 * The pod server script: next to this module (src/lab/ when run from the
 * TypeScript, dist/lab/ if the build copies it), else the source tree's copy.
 */
export function podServerScript(): string {
  const candidates = [new URL('./pod-server.mjs', import.meta.url), new URL('../../src/lab/pod-server.mjs', import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new Error(`pod-server.mjs not found (looked at ${candidates.map((c) => fileURLToPath(c)).join(', ')}); copy src/lab/pod-server.mjs next to the compiled lab module`);
}

// ---------------------------------------------------------------------------
// Pod servers

function startServer(lab: Lab, pod: PodHost, script: string): number {
  const log = openSync(`${lab.stateDir}/logs/${pod.name}.log`, 'w');
  let pid: number | undefined;
  try {
    const child = spawn('nsenter', [`--net=${pod.netnsPath}`, '--', process.execPath, script, pod.name, pod.node], {
      detached: true,
      stdio: ['ignore', log, log],
      env: labEnv(),
    });
    child.on('error', () => {}); // reported below: no pid, or the ready wait sees it dead
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(log);
  }
  if (!pid) throw new Error(`could not start the pod server of ${pod.name} (nsenter or node missing?)`);
  // nsenter --net execs node in place: this pid is the server's.
  writeFileSync(`${lab.stateDir}/pids/${pod.name}.pid`, `${pid}\n`);
  return pid;
}

function logOf(lab: Lab, pod: PodHost): string {
  try {
    return readFileSync(`${lab.stateDir}/logs/${pod.name}.log`, 'utf8');
  } catch {
    return '';
  }
}

async function waitServersReady(lab: Lab, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let waiting = lab.pods.slice();
  while (waiting.length) {
    const still: PodHost[] = [];
    for (const pod of waiting) {
      const log = logOf(lab, pod);
      if (/ ready pod=/.test(log)) continue;
      if (!pod.serverPid || !pidAlive(pod.serverPid)) {
        throw new Error(`pod server of ${pod.name} exited: ${log.trim().slice(-1500) || '(no output)'}`);
      }
      still.push(pod);
    }
    waiting = still;
    if (!waiting.length) break;
    if (Date.now() >= deadline) {
      throw new Error(`pod servers not ready after ${timeoutMs} ms: ${waiting.map((p) => p.name).join(', ')}`);
    }
    await sleep(15);
  }
}

// ---------------------------------------------------------------------------
// Public API

export interface LabUpOptions {
  /** How long to wait for every pod server to listen (default 20 s). */
  readyTimeoutMs?: number;
}

/**
 * Builds the lab described by `spec` and starts a server in every pod.
 * Idempotent: first removes whatever a lab of the same name left behind.
 * On failure, removes what it built and rethrows.
 */
export async function labUp(spec: LabSpec, opts: LabUpOptions = {}): Promise<Lab> {
  const lab = planLab(spec);
  // Else bridge-nf-call-iptables is silently missing, and a netfilter mode's bridged replies to
  // pods of the same bridge never meet their conntrack entry.
  if (spec.podBridge && !existsSync('/proc/sys/net/bridge')) await tryRun(['modprobe', 'br_netfilter'], { env: labEnv() });
  if (spec.podBridge && !existsSync('/proc/sys/net/bridge')) throw new Error('pods on a bridge need br_netfilter (modprobe br_netfilter), as a node with a bridge CNI has it');
  await labDown(lab.spec.name);
  mkdirSync(`${lab.stateDir}/pids`, { recursive: true });
  mkdirSync(`${lab.stateDir}/logs`, { recursive: true });
  const script = `${lab.stateDir}/pod-server.mjs`;
  copyFileSync(podServerScript(), script);
  writeState(lab, false);
  try {
    await ipBatch(null, netnsAddScript(lab));
    // Servers bind wildcard addresses: they can start while the links are built.
    for (const pod of lab.pods) pod.serverPid = startServer(lab, pod, script);
    writeState(lab, false);
    const hosts = allHosts(lab);
    await eachLimited(hosts, CONCURRENCY, (h) => sysctlIn(h, globalSysctls(h)));
    await eachLimited([null, ...lab.pods], CONCURRENCY, (p) => (p ? ipBatch(p.netns, podScript(lab, p)) : ipBatch(lab.fabric.netns, fabricScript(lab))));
    type Step = { kind: 'node'; node: NodeHost } | { kind: 'sysctl'; node: NodeHost } | { kind: 'client' };
    const steps: Step[] = [{ kind: 'client' }, ...lab.nodes.flatMap((node): Step[] => [{ kind: 'node', node }, { kind: 'sysctl', node }])];
    await eachLimited(steps, CONCURRENCY, (s) =>
      s.kind === 'client'
        ? ipBatch(lab.client.netns, clientScript(lab))
        : s.kind === 'node'
          ? ipBatch(s.node.netns, nodeScript(lab, s.node))
          : sysctlIn(s.node, nodeLinkSysctls(lab, s.node)),
    );
    await waitServersReady(lab, opts.readyTimeoutMs ?? 20_000);
    lab.createdAt = new Date().toISOString();
    writeState(lab, true);
    return lab;
  } catch (err) {
    await labDown(lab.spec.name).catch(() => {});
    throw err;
  }
}

export interface LabDownOptions {
  /** Where the lab's proxies pinned their maps (default /sys/fs/bpf/ekp-lab-<name>). */
  pinBase?: string;
  /** Time between SIGTERM and SIGKILL for the lab's processes (default 500 ms). */
  graceMs?: number;
}

/**
 * Removes every trace of lab `name`: kills its pod servers (found by their
 * script path, /run/ekp-lab/<name>/pod-server.mjs) and any other process inside
 * its namespaces (e.g. a proxy started there; like `ip netns pids`), deletes
 * every `ekp-<name>-*` namespace and /run/ekp-lab/<name>/. Needs no state: works
 * after a crash, a SIGKILL, or a half-built lab. A no-op when nothing exists.
 */
export async function labDown(name: string, opts: LabDownOptions = {}): Promise<void> {
  validateLabName(name);
  const stateDir = labStateDir(name);
  let survivors: number[] = [];
  for (let round = 0; round < 3; round++) {
    const namespaces = labNamespaces(name);
    // This process's probe clients there go at once (the scan below finds any other process).
    stopProbeAgents(namespaces.map((n) => `${NETNS_DIR}/${n}`));
    // Pod servers are found by their script path (pid files could name a
    // recycled pid), everything else by netns membership.
    const victims = new Set<number>(labProcesses(name).keys());
    survivors = victims.size ? await killPids([...victims], opts.graceMs ?? 500) : [];
    if (namespaces.length) {
      await tryRun(['ip', '-force', '-batch', '-'], { input: namespaces.map((n) => `netns del ${n}\n`).join(''), env: labEnv() });
    }
    if (!labNamespaces(name).length && !survivors.length && !labProcesses(name).size) break;
  }
  const left = [...labNamespaces(name), ...new Set([...survivors, ...labProcesses(name).keys()])].map(String);
  if (left.length) throw new Error(`lab ${name}: could not remove ${left.join(', ')}`);
  // The proxies' cgroups and pins live outside the namespaces.
  cleanupProxyState(name, opts.pinBase);
  rmSync(stateDir, { recursive: true, force: true });
}

/** The lab as labUp built it, or null if it is not (completely) up: no state, or a namespace is missing. */
export function labState(name: string): Lab | null {
  validateLabName(name);
  const s = readState(name);
  if (!s || !s.complete) return null;
  if (!allHosts(s.lab).every((h) => existsSync(h.netnsPath))) return null;
  return s.lab;
}

export interface LabStatus {
  name: string;
  /** up: complete and every namespace present; partial: some traces; absent: nothing. */
  state: 'up' | 'partial' | 'absent';
  lab: Lab | null;
  /** Namespaces of the lab present now. */
  namespaces: string[];
  /** Namespaces the state file lists that are gone. */
  missingNamespaces: string[];
  servers: { pod: string; pid: number | null; alive: boolean }[];
}

export function labStatus(name: string): LabStatus {
  validateLabName(name);
  const s = readState(name);
  const namespaces = labNamespaces(name);
  const lab = s?.lab ?? null;
  const missingNamespaces = lab ? allHosts(lab).map((h) => h.netns).filter((n) => !namespaces.includes(n)) : [];
  const servers = (lab?.pods ?? []).map((p) => {
    const pid = p.serverPid ?? null;
    return { pod: p.name, pid, alive: pid !== null && pidAlive(pid) && cmdline(pid).includes(`${lab!.stateDir}/pod-server.mjs`) };
  });
  const up = !!s?.complete && missingNamespaces.length === 0 && servers.every((x) => x.alive);
  const state = up ? 'up' : s || namespaces.length ? 'partial' : 'absent';
  return { name, state, lab, namespaces, missingNamespaces, servers };
}

/** Names of labs with any trace on this machine (state directory or namespaces). */
export function labList(): string[] {
  const names = new Set<string>();
  try {
    for (const d of readdirSync(LAB_ROOT)) if (/^[a-z0-9]{1,12}$/.test(d)) names.add(d);
  } catch {
    // none
  }
  try {
    for (const n of readdirSync(NETNS_DIR)) {
      const m = /^ekp-([a-z0-9]{1,12})-(?:fabric|client|node\d+|n\d+p\d+)$/.exec(n);
      if (m) names.add(m[1]!);
    }
  } catch {
    // none
  }
  return [...names].sort();
}

function nodeOf(lab: Lab, via: NodeHost | number | string): NodeHost {
  const node =
    typeof via === 'number' ? lab.nodes[via - 1] : typeof via === 'string' ? lab.nodes.find((n) => n.name === via || n.netns === via) : via;
  if (!node) throw new Error(`lab ${lab.spec.name} has no node ${typeof via === 'object' ? via.name : via}`);
  return node;
}

/**
 * Routes `prefix` (an external IP or LoadBalancer IP, e.g. 203.0.113.10 or
 * 203.0.113.0/24) from the client via a node's fabric address — what an
 * upstream router or an ECMP/BGP speaker does for a real cluster.
 */
export async function clientRouteVia(lab: Lab, prefix: string, via: NodeHost | number | string): Promise<void> {
  const node = nodeOf(lab, via);
  const v6 = prefix.includes(':');
  const gw = v6 ? node.ipv6 : node.ipv4;
  if (!gw) throw new Error(`node ${node.name} has no IPv6 address (lab not dual-stack)`);
  await run(['ip', '-n', lab.client.netns, ...(v6 ? ['-6'] : ['-4']), 'route', 'replace', prefix, 'via', gw, 'dev', 'eth0'], { env: labEnv() });
}

/** Removes a route added with clientRouteVia (no error if it is not there). */
export async function clientRouteDel(lab: Lab, prefix: string): Promise<void> {
  const v6 = prefix.includes(':');
  await tryRun(['ip', '-n', lab.client.netns, ...(v6 ? ['-6'] : ['-4']), 'route', 'del', prefix], { env: labEnv() });
}
