// wrk (Debian's package) as the load generator. Its report goes through a
// Lua `done` hook as one JSON line, so nothing depends on wrk's text layout.

/** Appended to wrk's stdout; latencies in microseconds, duration in microseconds. */
export const WRK_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'EKP-WRK {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

export type WrkKind = 'new_conn' | 'keepalive';

export interface WrkRun {
  requests: number;
  duration_us: number;
  bytes: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
}

export interface WrkArgs {
  url: string;
  kind: WrkKind;
  durationS: number;
  connections: number;
  threads: number;
  scriptPath: string;
}

/**
 * new_conn: the request asks `Connection: close`, the server closes after
 * its answer and wrk opens a fresh connection for every request, so every
 * request is a new flow through the proxy (SYN, conntrack or BPF CT insert).
 */
export function wrkArgv(a: WrkArgs): string[] {
  return [
    'wrk', '--latency', '-t', String(a.threads), '-c', String(a.connections), '-d', `${a.durationS}s`, '--timeout', '2s',
    '-s', a.scriptPath,
    ...(a.kind === 'new_conn' ? ['-H', 'Connection: close'] : []),
    a.url,
  ];
}

export function parseWrkOutput(stdout: string): WrkRun {
  const line = stdout.split('\n').find((l) => l.startsWith('EKP-WRK '));
  if (!line) throw new Error(`wrk printed no report:\n${stdout.slice(-1000)}`);
  const r = JSON.parse(line.slice('EKP-WRK '.length)) as WrkRun;
  if (!(r.duration_us > 0)) throw new Error(`wrk report without a duration: ${line}`);
  return r;
}

export function requestsPerSecond(r: WrkRun): number {
  return r.requests / (r.duration_us / 1e6);
}

export function errorCount(r: WrkRun): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}
