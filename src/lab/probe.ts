// Traffic from inside a lab namespace: a one-shot node client started with
// `nsenter --net=<netns> -- node -e <script> <json>`, which prints one JSON line.
import { labEnv, tryExecIn } from './exec.js';
import type { Host, PodReply } from './types.js';

/** Runs inside the namespace. CommonJS (node -e). Prints {results:[…]}. */
const CLIENT_SCRIPT = String.raw`
const o = JSON.parse(process.argv[1]);
const results = [];
const done = () => { process.stdout.write(JSON.stringify({ results }) + '\n'); process.exit(0); };
const errOf = (e) => ({ ok: false, code: (e && e.code) || 'ERROR', message: String((e && e.message) || e) });
if (o.kind === 'http') {
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: !!o.keepAlive, maxSockets: 1 });
  let i = 0;
  const next = () => {
    if (i++ >= o.count) { agent.destroy(); return done(); }
    const t0 = process.hrtime.bigint();
    let settled = false;
    const finish = (r) => { if (settled) return; settled = true; clearTimeout(timer); r.ms = Number(process.hrtime.bigint() - t0) / 1e6; results.push(r); setImmediate(next); };
    const opts = { agent, headers: o.headers || {} };
    if (o.localPort) opts.localPort = o.localPort;
    if (o.localAddress) opts.localAddress = o.localAddress;
    const req = http.get(o.url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => finish({ ok: true, status: res.statusCode, body }));
      res.on('error', (e) => finish(errOf(e)));
    });
    const timer = setTimeout(() => { const e = new Error('no answer within ' + o.timeoutMs + ' ms'); e.code = 'ETIMEDOUT'; req.destroy(e); finish(errOf(e)); }, o.timeoutMs);
    req.on('error', (e) => finish(errOf(e)));
  };
  next();
} else if (o.kind === 'udp') {
  // Connected by default: ICMP port-unreachable then shows as ECONNREFUSED at
  // once, and only answers from addr:port count (as a client of a VIP expects).
  const dgram = require('node:dgram');
  const sock = dgram.createSocket(o.addr.includes(':') ? 'udp6' : 'udp4');
  let i = 0, timer = null, t0 = 0n, waiting = false;
  const settle = (r) => { if (!waiting) return; waiting = false; clearTimeout(timer); r.ms = Number(process.hrtime.bigint() - t0) / 1e6; results.push(r); setImmediate(next); };
  const next = () => {
    if (i++ >= o.count) { sock.close(); return done(); }
    t0 = process.hrtime.bigint();
    waiting = true;
    timer = setTimeout(() => settle({ ok: false, code: 'ETIMEDOUT', message: 'no answer within ' + o.timeoutMs + ' ms' }), o.timeoutMs);
    const cb = (e) => { if (e) settle(errOf(e)); };
    if (o.connected) sock.send(o.payload, cb); else sock.send(o.payload, o.port, o.addr, cb);
  };
  sock.on('message', (msg, rinfo) => settle({ ok: true, body: msg.toString('utf8'), from: rinfo.address + ' ' + rinfo.port }));
  sock.on('error', (e) => settle(errOf(e)));
  const start = () => { if (o.connected) sock.connect(o.port, o.addr, next); else next(); };
  if (o.localPort) sock.bind(o.localPort, start); else start();
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

async function runClient(from: Host | string, target: string, params: Record<string, unknown>, count: number, timeoutMs: number, cgroup?: string): Promise<RawResult[]> {
  const fromName = typeof from === 'string' ? from : from.netns;
  const client = [process.execPath, '-e', CLIENT_SCRIPT, JSON.stringify(params)];
  // The shell only moves itself into the cgroup and execs the client; no value is interpolated into it.
  const argv = cgroup ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...client] : client;
  const r = await tryExecIn(from, argv, {
    env: labEnv(),
    // node start-up plus every request timing out, with margin
    timeoutMs: 15_000 + count * timeoutMs,
  });
  if (r.status !== 0) {
    const why = r.timedOut ? 'client process timed out' : (r.stderr.trim() || `exit ${r.status ?? r.signal}`).slice(0, 1000);
    throw new LabProbeError(fromName, target, 'ECLIENT', why);
  }
  try {
    const parsed = JSON.parse(r.stdout) as { results: RawResult[] };
    return parsed.results;
  } catch {
    throw new LabProbeError(fromName, target, 'ECLIENT', `unreadable client output: ${r.stdout.slice(0, 500)}`);
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
  const params = { kind: 'udp', addr, port, count, timeoutMs, payload: opts.payload ?? 'ping', localPort: opts.localPort, connected: opts.connected !== false };
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
