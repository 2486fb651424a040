// Traffic from inside a lab namespace. A client process must live in the
// namespace (node cannot move a thread), and starting one costs ~50 ms of CPU
// here and ~0.5 s under the qemu VM's emulation, where a scenario asks dozens of
// times: so each namespace gets one long-lived agent (node -e AGENT_SCRIPT under
// nsenter) that takes requests as JSON lines on stdin and answers each with a
// JSON line. A probe inside a cgroup runs as a one-shot client instead: a live
// process would keep the cgroup from being removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { labEnv, netnsPathOf, tryExecIn } from './exec.js';
import type { Host, PodReply } from './types.js';

/**
 * Runs inside the namespace. CommonJS (node -e). `ask(o, done)` runs one request
 * and calls done(results). With an argument it runs that one request and exits
 * (the one-shot client); without, it serves {id, ...request} lines until stdin closes.
 */
const CLIENT_SCRIPT = String.raw`
const errOf = (e) => ({ ok: false, code: (e && e.code) || 'ERROR', message: String((e && e.message) || e) });
const ask = (o, done) => {
  const results = [];
  let ended = false;
  const end = () => { if (!ended) { ended = true; done(results); } };
  if (o.kind === 'http') {
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: !!o.keepAlive, maxSockets: 1 });
    let i = 0;
    const next = () => {
      if (i++ >= o.count) { agent.destroy(); return end(); }
      const t0 = process.hrtime.bigint();
      let settled = false;
      const finish = (r) => { if (settled) return; settled = true; clearTimeout(timer); r.ms = Number(process.hrtime.bigint() - t0) / 1e6; results.push(r); setImmediate(next); };
      const opts = { agent, headers: o.headers || {} };
      if (o.localPort) opts.localPort = o.localPort;
      if (o.localAddress) opts.localAddress = o.localAddress;
      let req, timer = null;
      try {
        req = http.get(o.url, opts, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { body += d; });
          res.on('end', () => finish({ ok: true, status: res.statusCode, body }));
          res.on('error', (e) => finish(errOf(e)));
        });
      } catch (e) {
        return finish(errOf(e)); // a bad URL or header
      }
      timer = setTimeout(() => { const e = new Error('no answer within ' + o.timeoutMs + ' ms'); e.code = 'ETIMEDOUT'; req.destroy(e); finish(errOf(e)); }, o.timeoutMs);
      req.on('error', (e) => finish(errOf(e)));
    };
    next();
  } else if (o.kind === 'udp') {
    // Connected by default: ICMP port-unreachable then shows as ECONNREFUSED at
    // once, and only answers from addr:port count (as a client of a VIP expects).
    const dgram = require('node:dgram');
    const sock = dgram.createSocket(o.addr.includes(':') ? 'udp6' : 'udp4');
    let i = 0, timer = null, t0 = 0n, waiting = false, closed = false, started = false;
    const settle = (r) => { if (!waiting) return; waiting = false; clearTimeout(timer); r.ms = Number(process.hrtime.bigint() - t0) / 1e6; results.push(r); setImmediate(next); };
    const next = () => {
      started = true;
      if (i++ >= o.count) { if (!closed) { closed = true; sock.close(); } return end(); }
      t0 = process.hrtime.bigint();
      waiting = true;
      timer = setTimeout(() => settle({ ok: false, code: 'ETIMEDOUT', message: 'no answer within ' + o.timeoutMs + ' ms' }), o.timeoutMs);
      const cb = (e) => { if (e) settle(errOf(e)); };
      try {
        if (o.connected) sock.send(o.payload, cb); else sock.send(o.payload, o.port, o.addr, cb);
      } catch (e) {
        settle(errOf(e)); // a bad port or address
      }
    };
    sock.on('message', (msg, rinfo) => settle({ ok: true, body: msg.toString('utf8'), from: rinfo.address + ' ' + rinfo.port }));
    sock.on('error', (e) => {
      // A bind or connect that fails ends the request, every ask failing with it; an error
      // between two asks (nothing waiting) belongs to none of them.
      if (!started) {
        for (let k = 0; k < o.count; k++) results.push(errOf(e));
        if (!closed) { closed = true; sock.close(); }
        return end();
      }
      settle(errOf(e));
    });
    // A TTL is set on a bound socket: an unconnected one without a port is bound first.
    const ready = () => {
      if (o.ttl) {
        try { sock.setTTL(o.ttl); } catch (e) { sock.emit('error', e); return; }
      }
      next();
    };
    const start = () => { if (o.connected) sock.connect(o.port, o.addr, ready); else ready(); };
    if (o.localPort || (o.ttl && !o.connected)) sock.bind(o.localPort || 0, start); else start();
  } else {
    done([{ ok: false, code: 'EBADREQUEST', message: 'unknown kind ' + o.kind }]);
  }
};
if (process.argv[1] !== undefined) {
  ask(JSON.parse(process.argv[1]), (results) => { process.stdout.write(JSON.stringify({ results }) + '\n'); process.exit(0); });
} else {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line) continue;
      let o = null;
      const answer = (results) => process.stdout.write(JSON.stringify({ id: o && o.id, results }) + '\n');
      // A request that throws (a bad URL, port or header) fails alone, not the agent and its other requests.
      try {
        o = JSON.parse(line);
        ask(o, answer);
      } catch (e) {
        answer([errOf(e)]);
      }
    }
  });
  // The test process that owns this agent is gone (or let it go).
  process.stdin.on('end', () => process.exit(0));
}
`;

export interface ProbeOptions {
  /** Per request/datagram (default 3000 ms). */
  timeoutMs?: number;
  /** Source port to use (a fixed 5-tuple, for affinity/conntrack tests). */
  localPort?: number;
  /**
   * Run the client inside this cgroup (v2 directory), as a process of the node
   * would be: then the node's socket-level load balancing applies to it.
   */
  cgroup?: string;
}

export interface HttpOptions extends ProbeOptions {
  /** Reuse one connection for all requests (httpGetMany; default false: a new connection each). */
  keepAlive?: boolean;
  headers?: Record<string, string>;
  localAddress?: string;
}

export interface UdpOptions extends ProbeOptions {
  /** Datagram payload (default "ping"). */
  payload?: string;
  /**
   * Connect the socket (default true): ICMP port-unreachable surfaces as
   * ECONNREFUSED, and only answers from addr:port are accepted. false: any answer.
   */
  connected?: boolean;
  /** The datagrams' TTL (IPv6: hop limit); the kernel's default when unset. */
  ttl?: number;
}

export type ProbeOutcome<T = PodReply> =
  | { ok: true; status?: number; reply: T; body: string; ms: number }
  | { ok: false; code: string; message: string; ms?: number };

/** A request from inside a lab namespace that failed; `code` is e.g. ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH. */
export class LabProbeError extends Error {
  readonly code: string;
  readonly from: string;
  readonly target: string;
  constructor(from: string, target: string, code: string, detail: string) {
    super(`from ${from} to ${target}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'LabProbeError';
    this.code = code;
    this.from = from;
    this.target = target;
  }
}

interface RawResult {
  ok: boolean;
  status?: number;
  body?: string;
  code?: string;
  message?: string;
  ms?: number;
}

/** One agent: a node process in a namespace, serving requests until stdin closes. */
interface Agent {
  child: ChildProcess;
  /** The namespace it entered (its nsfs inode): a namespace deleted and made again under the same name is another one. */
  netnsIno: number;
  pending: Map<number, { resolve(r: RawResult[]): void; reject(e: Error): void; timer: NodeJS.Timeout }>;
  nextId: number;
  stderr: string;
}

const agents = new Map<string, Agent>();

/** The agent of a namespace: the live one, or a new one if there is none or the namespace was made again. */
function agentFor(netnsPath: string): Agent {
  // The namespace not there: nsenter fails, and the request with it, as a one-shot client would.
  let ino = -1;
  try {
    ino = statSync(netnsPath).ino;
  } catch {
    // left to nsenter's message
  }
  const live = agents.get(netnsPath);
  if (live && live.netnsIno === ino && live.child.exitCode === null && live.child.signalCode === null) return live;
  if (live) stopAgent(netnsPath, live, 'its namespace was made again');
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', CLIENT_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env: labEnv() });
  const agent: Agent = { child, netnsIno: ino, pending: new Map(), nextId: 1, stderr: '' };
  agents.set(netnsPath, agent);
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: { id?: number; results?: RawResult[] };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        continue;
      }
      const p = msg.id === undefined ? undefined : agent.pending.get(msg.id);
      if (!p || !msg.results) continue;
      agent.pending.delete(msg.id!);
      clearTimeout(p.timer);
      idle(agent);
      p.resolve(msg.results);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (agent.stderr = (agent.stderr + d).slice(-2000)));
  child.stdin!.on('error', () => {}); // EPIPE: the agent is gone; its 'close' rejects what waits
  const gone = (why: string) => {
    if (agents.get(netnsPath) === agent) agents.delete(netnsPath);
    failPending(agent, agent.stderr.trim().slice(0, 1000) || why);
  };
  child.on('error', (e) => gone(String(e)));
  // 'close', not 'exit': its last answers and its stderr are read by then.
  child.on('close', (code, signal) => gone(`client exited (${code ?? signal})`));
  idle(agent);
  return agent;
}

/** An idle agent does not keep a CLI process (`lab curl`, `demo`) alive; one with a request does. */
function idle(agent: Agent): void {
  const streams = [agent.child.stdin, agent.child.stdout, agent.child.stderr] as unknown as ({ ref?(): void; unref?(): void } | null)[];
  if (agent.pending.size) {
    agent.child.ref();
    for (const s of streams) s?.ref?.();
  } else {
    agent.child.unref();
    for (const s of streams) s?.unref?.();
  }
}

function failPending(agent: Agent, why: string): void {
  for (const [id, p] of agent.pending) {
    agent.pending.delete(id);
    clearTimeout(p.timer);
    p.reject(new Error(why));
  }
}

function stopAgent(key: string, agent: Agent, why: string): void {
  if (agents.get(key) === agent) agents.delete(key);
  failPending(agent, why);
  agent.child.kill('SIGKILL');
}

/** Ends the agents in these namespaces (labDown, before it deletes them: a live agent would keep one). */
export function stopProbeAgents(netnsPaths: Iterable<string>): void {
  for (const path of netnsPaths) {
    const agent = agents.get(path);
    if (agent) stopAgent(path, agent, 'its namespace is being removed');
  }
}

function askAgent(netnsPath: string, params: Record<string, unknown>, timeoutMs: number): Promise<RawResult[]> {
  const agent = agentFor(netnsPath);
  const id = agent.nextId++;
  return new Promise((resolve, reject) => {
    // An agent that does not answer in time is stuck: it goes, and the next request starts another.
    const timer = setTimeout(() => stopAgent(netnsPath, agent, 'client process timed out'), timeoutMs);
    agent.pending.set(id, { resolve, reject, timer });
    idle(agent);
    agent.child.stdin!.write(`${JSON.stringify({ ...params, id })}\n`);
  });
}

async function runOneShot(from: Host | string, params: Record<string, unknown>, timeoutMs: number, cgroup: string): Promise<RawResult[]> {
  const client = [process.execPath, '-e', CLIENT_SCRIPT, JSON.stringify(params)];
  // The shell only moves itself into the cgroup and execs the client; no value is interpolated into it.
  const argv = ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...client];
  const r = await tryExecIn(from, argv, { env: labEnv(), timeoutMs });
  if (r.status !== 0) throw new Error(r.timedOut ? 'client process timed out' : (r.stderr.trim() || `exit ${r.status ?? r.signal}`).slice(0, 1000));
  try {
    return (JSON.parse(r.stdout) as { results: RawResult[] }).results;
  } catch {
    throw new Error(`unreadable client output: ${r.stdout.slice(0, 500)}`);
  }
}

async function runClient(from: Host | string, target: string, params: Record<string, unknown>, count: number, timeoutMs: number, cgroup?: string): Promise<RawResult[]> {
  const fromName = typeof from === 'string' ? from : from.netns;
  // every request timing out, with margin (and a one-shot client's start-up)
  const limit = 15_000 + count * timeoutMs;
  try {
    return cgroup ? await runOneShot(from, params, limit, cgroup) : await askAgent(netnsPathOf(from), params, limit);
  } catch (e) {
    throw new LabProbeError(fromName, target, 'ECLIENT', (e as Error).message);
  }
}

function toOutcome<T>(raw: RawResult, httpStatusMustBe200: boolean): ProbeOutcome<T> {
  if (!raw.ok) return { ok: false, code: raw.code ?? 'ERROR', message: raw.message ?? '', ms: raw.ms ?? 0 };
  const body = raw.body ?? '';
  if (httpStatusMustBe200 && raw.status !== 200) {
    return { ok: false, code: `HTTP_${raw.status}`, message: `status ${raw.status}: ${body.slice(0, 200)}`, ms: raw.ms ?? 0 };
  }
  try {
    const out: ProbeOutcome<T> = { ok: true, reply: JSON.parse(body) as T, body, ms: raw.ms ?? 0 };
    if (raw.status !== undefined) out.status = raw.status;
    return out;
  } catch {
    return { ok: false, code: 'EBADJSON', message: `answer is not JSON: ${body.slice(0, 200)}`, ms: raw.ms ?? 0 };
  }
}

/** `count` HTTP GETs of `url`, one after the other, from inside `from`'s namespace. Never throws for network errors. */
export async function httpGetMany<T = PodReply>(from: Host | string, url: string, count: number, opts: HttpOptions = {}): Promise<ProbeOutcome<T>[]> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const params = { kind: 'http', url, count, timeoutMs, keepAlive: !!opts.keepAlive, headers: opts.headers, localPort: opts.localPort, localAddress: opts.localAddress };
  return (await runClient(from, url, params, count, timeoutMs, opts.cgroup)).map((r) => toOutcome<T>(r, true));
}

/** One HTTP GET from inside `from`'s namespace, its body as text whatever the status (a /metrics page). Never throws for network errors. */
export async function httpText(from: Host | string, url: string, opts: HttpOptions = {}): Promise<{ ok: true; status: number; body: string } | { ok: false; code: string; message: string }> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const params = { kind: 'http', url, count: 1, timeoutMs, headers: opts.headers, localAddress: opts.localAddress };
  const [r] = await runClient(from, url, params, 1, timeoutMs, opts.cgroup);
  if (!r?.ok) return { ok: false, code: r?.code ?? 'ECLIENT', message: r?.message ?? 'no result' };
  return { ok: true, status: r.status ?? 0, body: r.body ?? '' };
}

/** One HTTP GET from inside `from`'s namespace: the parsed JSON answer, or a LabProbeError. */
export async function httpGet<T = PodReply>(from: Host | string, url: string, opts: HttpOptions = {}): Promise<T> {
  const [o] = await httpGetMany<T>(from, url, 1, opts);
  if (!o) throw new LabProbeError(typeof from === 'string' ? from : from.netns, url, 'ECLIENT', 'no result');
  if (!o.ok) throw new LabProbeError(typeof from === 'string' ? from : from.netns, url, o.code, o.message);
  return o.reply;
}

/** `count` datagrams from one socket, each waiting for its answer. Never throws for network errors. */
export async function udpAskMany<T = PodReply>(from: Host | string, addr: string, port: number, count: number, opts: UdpOptions = {}): Promise<ProbeOutcome<T>[]> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const target = addr.includes(':') ? `udp://[${addr}]:${port}` : `udp://${addr}:${port}`;
  const params = { kind: 'udp', addr, port, count, timeoutMs, payload: opts.payload ?? 'ping', localPort: opts.localPort, connected: opts.connected !== false, ttl: opts.ttl };
  return (await runClient(from, target, params, count, timeoutMs, opts.cgroup)).map((r) => toOutcome<T>(r, false));
}

/** One datagram to addr:port from inside `from`'s namespace: the parsed JSON answer, or a LabProbeError. */
export async function udpAsk<T = PodReply>(from: Host | string, addr: string, port: number, opts: UdpOptions = {}): Promise<T> {
  const [o] = await udpAskMany<T>(from, addr, port, 1, opts);
  const fromName = typeof from === 'string' ? from : from.netns;
  const target = addr.includes(':') ? `udp://[${addr}]:${port}` : `udp://${addr}:${port}`;
  if (!o) throw new LabProbeError(fromName, target, 'ECLIENT', 'no result');
  if (!o.ok) throw new LabProbeError(fromName, target, o.code, o.message);
  return o.reply;
}
