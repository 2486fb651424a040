// An in-process Kubernetes API server for Services, EndpointSlices, Nodes and ServiceCIDRs that speaks the
// real protocol over a real socket: LIST with label/field selectors and limit/continue,
// WATCH as a chunked stream of events (newline-delimited JSON, or length-prefixed protobuf
// frames) from a resourceVersion, 410
// Gone after compaction (as an HTTP status or, like the watch cache, as an ERROR event),
// bookmarks, and test controls for the failures a proxy must ride out (dropped
// connections, slow answers, error statuses).
//
// Encoding is negotiated per request from Accept (fake-apiserver/codec.ts: JSON or
// application/vnd.kubernetes.protobuf); the store (fake-apiserver/store.ts) knows nothing
// about the wire. Hooks send bytes of a test's choosing, for what a decoder must survive.

import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObjectKind } from '../../src/sources/types.js';
import { negotiate, type Codec, type WatchEventFrame } from './fake-apiserver/codec.js';
import { parseFieldSelector, parseLabelSelector, SelectorError, type Matcher, type Obj } from './fake-apiserver/selectors.js';
import { apiVersionOf, GoneError, keyOf, ObjectStore, type StoredEvent } from './fake-apiserver/store.js';

export type { Obj } from './fake-apiserver/selectors.js';

export interface RequestRecord {
  method: string;
  path: string;
  /** Query parameters, decoded. */
  query: Record<string, string>;
  kind: ObjectKind | undefined;
  watch: boolean;
  /** Status sent; undefined until the response headers go out. */
  status?: number;
  authorization: string | undefined;
  accept: string | undefined;
  /** The encoding the response was sent in (undefined when none was acceptable). */
  encoding?: 'json' | 'protobuf';
}

/** How a watch from a compacted resourceVersion is refused. */
export type GoneMode =
  /** 200, then an ERROR event carrying a 410 Status: what the watch cache does. */
  | 'event'
  /** An HTTP 410 with a Status body: what a watch served straight from etcd does. */
  | 'http';

export interface FailOptions {
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Only watch (true) or only list (false) requests; both when unset. */
  watch?: boolean;
  kind?: ObjectKind;
  message?: string;
}

export interface FakeApiServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: RequestRecord[];
  /** The last resourceVersion handed out. */
  readonly resourceVersion: string;
  create(kind: ObjectKind, obj: Obj): Obj;
  update(kind: ObjectKind, obj: Obj): Obj;
  /** By key (namespace/name, or name for a Node) or by an object with that name. */
  delete(kind: ObjectKind, keyOrObj: string | Obj): Obj;
  get(kind: ObjectKind, key: string): Obj | undefined;
  /** Forget history up to now: watches from an older resourceVersion get 410 Gone. */
  compact(): void;
  setGoneMode(mode: GoneMode): void;
  /** Sends a BOOKMARK at the current resourceVersion to every open watch that allows them. */
  bookmark(kind?: ObjectKind): void;
  /** Destroys open watch connections mid-stream, as a crashing server or a broken network would. */
  dropWatches(kind?: ObjectKind): number;
  /** Ends open watches cleanly, as the server does when their timeoutSeconds run out. */
  endWatches(kind?: ObjectKind): number;
  /** Sends an ERROR event with a Status of `code` on open watches, then ends them, as the server does. */
  watchError(code: number, kind?: ObjectKind): number;
  openWatches(kind?: ObjectKind): number;
  /** Client connections the server still holds, watches or not. */
  openConnections(): number;
  /** Delay before every response's headers, ms. */
  setLatency(ms: number): void;
  /** Whether `kind`'s path is served (default); unserved, it gets 404 NotFound, as from an API server without that API version. */
  setServed(kind: ObjectKind, served: boolean): void;
  /** The next matching request(s) get `status` with a Status body. */
  failNext(status: number, opts?: FailOptions): void;
  /**
   * The next matching request(s) get a 200 with exactly `body` (and `contentType`, by default
   * the negotiated one; for a watch, its stream type), then the response ends, unless
   * `keepOpen`. For what a decoder must survive: bad magic, truncated frames, wrong wire types.
   */
  respondRawNext(body: Buffer, opts?: RawOptions): void;
  /** Writes `bytes` as they are to open watches (after whatever they already sent). */
  writeRaw(bytes: Buffer, kind?: ObjectKind): number;
  /** Resolves with the first request (already logged or still to come) that matches. */
  waitForRequest(match: (r: RequestRecord) => boolean, timeoutMs?: number): Promise<RequestRecord>;
  /** Closes every connection and the listener; removes temp files written for this server. */
  close(): Promise<void>;
  /** Registers a temp directory to remove on close (kubeconfigFor uses this). */
  adoptTempDir(dir: string): void;
}

export interface RawOptions extends Omit<FailOptions, 'message'> {
  contentType?: string;
  /** Leave the response open after the body (a watch the server keeps streaming). */
  keepOpen?: boolean;
}

interface PendingRaw extends RawOptions {
  body: Buffer;
  remaining: number;
}

interface Route {
  kind: ObjectKind;
  listKind: string;
  pattern: RegExp;
}

const ROUTES: Route[] = [
  { kind: 'Service', listKind: 'ServiceList', pattern: /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?services$/ },
  {
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    pattern: /^\/apis\/discovery\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?endpointslices$/,
  },
  { kind: 'Node', listKind: 'NodeList', pattern: /^\/api\/v1\/nodes$/ },
  { kind: 'ServiceCIDR', listKind: 'ServiceCIDRList', pattern: /^\/apis\/networking\.k8s\.io\/v1\/servicecidrs$/ },
];

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function statusObject(code: number, message: string, reason = REASONS[code] ?? 'Unknown'): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

interface OpenWatch {
  kind: ObjectKind;
  res: http.ServerResponse;
  socket: Socket;
  allowBookmarks: boolean;
  codec: Codec;
  unsubscribe: () => void;
  timer: NodeJS.Timeout | undefined;
}

interface PendingFailure extends FailOptions {
  status: number;
  remaining: number;
}

/** The event a watcher with selector `m` sees for a stored event, if any (as the watch cache filters). */
function project(ev: StoredEvent, m: Matcher): WatchEventFrame | undefined {
  const prevPasses = ev.previous !== null && m(ev.previous);
  if (ev.type === 'DELETED') return prevPasses ? { type: 'DELETED', object: ev.object } : undefined;
  const curPasses = m(ev.object);
  if (curPasses) return { type: prevPasses ? 'MODIFIED' : 'ADDED', object: ev.object };
  if (prevPasses) {
    // Left the selection: a deletion carrying the old content at the new resourceVersion.
    const gone = structuredClone(ev.previous!);
    gone.metadata = { ...(gone.metadata as Obj), resourceVersion: String(ev.rv) };
    return { type: 'DELETED', object: gone };
  }
  return undefined;
}

/** List items carry no TypeMeta on the wire; the List does. */
function stripTypeMeta(obj: Obj): Obj {
  const { apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

function encodeContinue(rv: number, after: string): string {
  return Buffer.from(JSON.stringify({ rv, after })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; after: string } {
  const parsed = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv?: unknown; after?: unknown };
  if (typeof parsed.rv !== 'number' || typeof parsed.after !== 'string') throw new Error('bad continue token');
  return { rv: parsed.rv, after: parsed.after };
}

export async function startFakeApiServer(): Promise<FakeApiServer> {
  const store = new ObjectStore();
  const requests: RequestRecord[] = [];
  const requestEvents = new EventEmitter();
  const watches = new Set<OpenWatch>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const failures: PendingFailure[] = [];
  const raws: PendingRaw[] = [];
  const tempDirs: string[] = [];
  let goneMode: GoneMode = 'event';
  let latencyMs = 0;
  const unserved = new Set<ObjectKind>();

  function record(r: RequestRecord): void {
    requests.push(r);
    requestEvents.emit('request', r);
  }

  function takeFailure(r: RequestRecord): PendingFailure | undefined {
    const i = failures.findIndex((f) => (f.watch === undefined || f.watch === r.watch) && (f.kind === undefined || f.kind === r.kind));
    if (i < 0) return undefined;
    const f = failures[i]!;
    if (--f.remaining <= 0) failures.splice(i, 1);
    return f;
  }

  function takeRaw(r: RequestRecord): PendingRaw | undefined {
    const i = raws.findIndex((f) => (f.watch === undefined || f.watch === r.watch) && (f.kind === undefined || f.kind === r.kind));
    if (i < 0) return undefined;
    const f = raws[i]!;
    if (--f.remaining <= 0) raws.splice(i, 1);
    return f;
  }

  function send(res: http.ServerResponse, rec: RequestRecord, code: number, codec: Codec, body: unknown): void {
    rec.status = code;
    const data = codec.encode(body);
    res.writeHead(code, { 'Content-Type': codec.contentType, 'Content-Length': data.length });
    res.end(data);
  }

  function fail(res: http.ServerResponse, rec: RequestRecord, code: number, codec: Codec, message: string, reason?: string): void {
    send(res, rec, code, codec, statusObject(code, message, reason));
  }

  /** Waits `ms`; false if the client went away meanwhile. */
  function delay(ms: number, res: http.ServerResponse): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve(!res.destroyed);
      }, ms);
      timers.add(t);
      res.once('close', () => {
        clearTimeout(t);
        timers.delete(t);
        resolve(false);
      });
    });
  }

  function serveList(res: http.ServerResponse, rec: RequestRecord, route: Route, match: Matcher, q: URLSearchParams, codec: Codec): void {
    const limit = Number(q.get('limit') ?? '0') || 0;
    const token = q.get('continue');
    if (token && q.get('resourceVersion')) {
      return fail(res, rec, 400, codec, 'specifying resource version is not allowed when using continue');
    }
    let rv = store.rv;
    let after = '';
    let state: Map<string, Obj>;
    try {
      if (token) ({ rv, after } = decodeContinue(token));
      state = store.stateAt(route.kind, rv);
    } catch (err) {
      if (err instanceof GoneError) {
        return fail(res, rec, 410, codec, `The provided continue parameter is too old to display a consistent list result. ${err.message}`);
      }
      return fail(res, rec, 400, codec, `invalid continue token: ${(err as Error).message}`);
    }
    const all = [...state]
      .filter(([key, obj]) => key > after && match(obj))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const page = limit > 0 ? all.slice(0, limit) : all;
    const more = page.length < all.length;
    const metadata: Obj = { resourceVersion: String(rv) };
    if (more) {
      metadata.continue = encodeContinue(rv, page[page.length - 1]![0]);
      metadata.remainingItemCount = all.length - page.length;
    }
    send(res, rec, 200, codec, {
      kind: route.listKind,
      apiVersion: apiVersionOf(route.kind),
      metadata,
      items: page.map(([, obj]) => stripTypeMeta(obj)),
    });
  }

  /** A connection being torn down may still be in `watches` until its 'close'; writing to it would error. */
  function writeFrame(w: OpenWatch, frame: WatchEventFrame): void {
    if (w.res.destroyed || w.res.writableEnded) return;
    w.res.write(w.codec.encodeWatchEvent(frame));
  }

  function serveWatch(res: http.ServerResponse, rec: RequestRecord, route: Route, match: Matcher, q: URLSearchParams, codec: Codec): void {
    const rvParam = q.get('resourceVersion');
    let initial: WatchEventFrame[];
    if (!rvParam || rvParam === '0') {
      // "Start at most recent": the current state as synthetic ADDED events.
      initial = [...store.objects(route.kind).values()].filter(match).map((object) => ({ type: 'ADDED' as const, object }));
    } else {
      const from = Number(rvParam);
      if (!Number.isSafeInteger(from)) return fail(res, rec, 400, codec, `invalid resourceVersion ${JSON.stringify(rvParam)}`);
      try {
        initial = store
          .eventsSince(route.kind, from)
          .map((e) => project(e, match))
          .filter((e): e is WatchEventFrame => e !== undefined);
      } catch (err) {
        if (!(err instanceof GoneError)) throw err;
        if (goneMode === 'http') return fail(res, rec, 410, codec, err.message);
        rec.status = 200;
        res.writeHead(200, { 'Content-Type': codec.streamContentType });
        res.end(codec.encodeWatchEvent({ type: 'ERROR', object: statusObject(410, err.message) }));
        return;
      }
    }
    rec.status = 200;
    res.writeHead(200, { 'Content-Type': codec.streamContentType, 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    const watch: OpenWatch = {
      kind: route.kind,
      res,
      socket: res.socket!,
      allowBookmarks: q.get('allowWatchBookmarks') === 'true',
      codec,
      unsubscribe: () => {},
      timer: undefined,
    };
    for (const ev of initial) writeFrame(watch, ev);
    watch.unsubscribe = store.subscribe((ev) => {
      if (ev.kind !== route.kind) return;
      const frame = project(ev, match);
      if (frame) writeFrame(watch, frame);
    });
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      watch.timer = setTimeout(() => res.end(), timeoutSeconds * 1000);
    }
    watches.add(watch);
    res.once('close', () => {
      watch.unsubscribe();
      if (watch.timer) clearTimeout(watch.timer);
      watches.delete(watch);
    });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const q = url.searchParams;
    const route = ROUTES.find((r) => r.pattern.test(url.pathname));
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    const rec: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(q),
      kind: route?.kind,
      watch: isWatch,
      authorization: req.headers.authorization,
      accept: req.headers.accept,
    };
    record(rec);
    const codec = negotiate(req.headers.accept);
    if (!codec) {
      rec.status = 406;
      res.writeHead(406).end();
      return;
    }
    rec.encoding = codec.name;
    if (!route || unserved.has(route.kind)) return fail(res, rec, 404, codec, `the server could not find the requested resource (${url.pathname})`);
    if (rec.method !== 'GET') return fail(res, rec, 405, codec, `${rec.method} is not supported by the fake`);
    const injected = takeFailure(rec);
    const raw = injected ? undefined : takeRaw(rec);
    if (!(await delay(latencyMs, res))) return;
    if (injected) return fail(res, rec, injected.status, codec, injected.message ?? `injected failure ${injected.status}`);
    if (raw) {
      rec.status = 200;
      res.writeHead(200, { 'Content-Type': raw.contentType ?? (isWatch ? codec.streamContentType : codec.contentType) });
      if (raw.keepOpen) res.write(raw.body);
      else res.end(raw.body);
      return;
    }
    let match: Matcher;
    try {
      const labels = parseLabelSelector(q.get('labelSelector'));
      const fields = parseFieldSelector(q.get('fieldSelector'));
      const namespace = route.pattern.exec(url.pathname)![1];
      match = (o) => labels(o) && fields(o) && (namespace === undefined || (o.metadata as Obj).namespace === namespace);
    } catch (err) {
      if (err instanceof SelectorError) return fail(res, rec, 400, codec, err.message);
      throw err;
    }
    if (isWatch) serveWatch(res, rec, route, match, q, codec);
    else serveList(res, rec, route, match, q, codec);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(String(err));
      } else {
        res.destroy();
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };

  const selected = (kind?: ObjectKind): OpenWatch[] => [...watches].filter((w) => kind === undefined || w.kind === kind);

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get resourceVersion() {
      return String(store.rv);
    },
    create: (kind, obj) => store.create(kind, obj),
    update: (kind, obj) => store.update(kind, obj),
    delete: (kind, keyOrObj) => store.delete(kind, keyOrObj),
    get(kind, key) {
      const obj = store.objects(kind).get(key);
      return obj && structuredClone(obj);
    },
    compact: () => store.compact(),
    setGoneMode(mode) {
      goneMode = mode;
    },
    bookmark(kind) {
      for (const w of selected(kind)) {
        if (!w.allowBookmarks) continue;
        const object = { kind: w.kind, apiVersion: apiVersionOf(w.kind), metadata: { resourceVersion: String(store.rv) } };
        writeFrame(w, { type: 'BOOKMARK', object });
      }
    },
    dropWatches(kind) {
      const ws = selected(kind);
      for (const w of ws) w.socket.destroy();
      return ws.length;
    },
    endWatches(kind) {
      const ws = selected(kind);
      for (const w of ws) w.res.end();
      return ws.length;
    },
    watchError(code, kind) {
      const ws = selected(kind);
      for (const w of ws) {
        writeFrame(w, { type: 'ERROR', object: statusObject(code, `injected watch error ${code}`) });
        w.res.end();
      }
      return ws.length;
    },
    openWatches: (kind) => selected(kind).length,
    openConnections: () => sockets.size,
    setLatency(ms) {
      latencyMs = ms;
    },
    setServed(kind, served) {
      if (served) unserved.delete(kind);
      else unserved.add(kind);
    },
    failNext(status, opts = {}) {
      failures.push({ ...opts, status, remaining: opts.times ?? 1 });
    },
    respondRawNext(body, opts = {}) {
      raws.push({ ...opts, body, remaining: opts.times ?? 1 });
    },
    writeRaw(bytes, kind) {
      const ws = selected(kind).filter((w) => !w.res.destroyed && !w.res.writableEnded);
      for (const w of ws) w.res.write(bytes);
      return ws.length;
    },
    waitForRequest(match, timeoutMs = 5_000) {
      const seen = requests.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const onRequest = (r: RequestRecord): void => {
          if (!match(r)) return;
          cleanup();
          resolve(r);
        };
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching request within ${timeoutMs} ms; saw ${requests.length}: ${requests.map(describeRequest).join(', ')}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(t);
          requestEvents.off('request', onRequest);
        };
        requestEvents.on('request', onRequest);
      });
    },
    adoptTempDir(dir) {
      tempDirs.push(dir);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of watches) if (w.timer) clearTimeout(w.timer);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(tempDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

export function describeRequest(r: RequestRecord): string {
  const q = new URLSearchParams(r.query).toString();
  return `${r.method} ${r.path}${q ? `?${q}` : ''} → ${r.status ?? 'open'}`;
}

/** Writes a kubeconfig for `server` (plain http, so insecure-skip-tls-verify as client-node 1.x requires) and returns its path. */
export async function kubeconfigFor(server: FakeApiServer, token = 'fake-token'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-apiserver-'));
  server.adoptTempDir(dir);
  const path = join(dir, 'kubeconfig');
  // JSON is YAML; no need for a YAML writer.
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
    'current-context': 'fake',
  };
  await writeFile(path, JSON.stringify(config, null, 2));
  return path;
}

export { keyOf };
