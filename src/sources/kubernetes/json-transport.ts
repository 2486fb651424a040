// The HTTP/JSON wire: every detail of how a list or a watch looks on the wire lives here,
// so a protobuf transport (Accept: application/vnd.kubernetes.protobuf) can sit beside it.
//
// Authentication, TLS and proxies come from @kubernetes/client-node's KubeConfig
// (applyToHTTPSOptions: tokens, exec plugins, client certificates, CA, proxy agents). The
// requests themselves are plain node:http(s) rather than client-node's Watch and typed list
// calls, because:
//   - Watch.watch() hands back its AbortController only once response headers arrive, so a
//     stop() during a slow response would leave a socket open until the server answers;
//   - Watch reports a stream the server ended and one that broke mid-way alike, and skips
//     lines it cannot parse, which silently loses an event;
//   - the typed list calls run objects through ObjectSerializer, which drops fields the
//     generated models do not know and turns timestamps into Dates; the model wants raw JSON.

import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  ApiStatusError,
  ProtocolError,
  type ListRequest,
  type ListResult,
  type ResourceDescriptor,
  type Transport,
  type WatchEnd,
  type WatchEvent,
  type WatchEventType,
  type WatchRequest,
} from './types.js';

export interface JsonTransportOptions {
  /** Items per list page (the API server's `limit`); 0 asks for everything at once. */
  pageSize?: number;
  /** A list response that sends nothing for this long (ms) is abandoned. */
  listIdleTimeoutMs?: number;
  /**
   * Added to a watch's timeoutSeconds: a watch silent for longer than the server promised to
   * keep it open is presumed dead (a vanished peer sends no RST), ms.
   */
  watchIdleGraceMs?: number;
}

const WATCH_EVENT_TYPES: ReadonlySet<string> = new Set<WatchEventType>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

interface OpenResponse {
  res: http.IncomingMessage;
  /** Releases the per-request agent (its sockets); safe to call twice. */
  release(): void;
}

export function createJsonTransport(kc: KubeConfig, options: JsonTransportOptions = {}): Transport {
  const pageSize = options.pageSize ?? 500;
  const listIdleTimeoutMs = options.listIdleTimeoutMs ?? 60_000;
  const watchIdleGraceMs = options.watchIdleGraceMs ?? 30_000;
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/+$/, '');

  function urlFor(resource: ResourceDescriptor, params: Record<string, string>): URL {
    // Concatenated, not resolved: a server URL may carry a path prefix (API proxies do).
    const url = new URL(server + resource.path);
    if (resource.labelSelector) url.searchParams.set('labelSelector', resource.labelSelector);
    if (resource.fieldSelector) url.searchParams.set('fieldSelector', resource.fieldSelector);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url;
  }

  async function open(url: URL, signal: AbortSignal, idleTimeoutMs: number): Promise<OpenResponse> {
    const opts: https.RequestOptions = {};
    // A fresh agent per request (client-node builds one each call); destroying it after the
    // request guarantees no socket outlives the request.
    await kc.applyToHTTPSOptions(opts);
    const agent = typeof opts.agent === 'object' ? opts.agent : undefined;
    const release = (): void => agent?.destroy();
    if (signal.aborted) {
      release();
      throw signal.reason;
    }
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        ...opts,
        method: 'GET',
        // JSON only for now; a protobuf transport asks for application/vnd.kubernetes.protobuf.
        headers: { ...opts.headers, Accept: 'application/json' },
        signal,
      });
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data from the API server for ${idleTimeoutMs} ms`)));
      // Stays attached for the request's lifetime: errors after the response arrived
      // surface on the response's 'close' instead, and must not go unhandled here.
      req.on('error', (err) => {
        release();
        reject(err);
      });
      req.on('response', (res) => resolve({ res, release }));
      req.end();
    });
  }

  async function refusal(method: string, url: URL, res: http.IncomingMessage): Promise<ApiStatusError> {
    const status = res.statusCode ?? 0;
    let reason: string | undefined;
    let message = http.STATUS_CODES[status] ?? 'unexpected status';
    try {
      const body = JSON.parse(await readBody(res)) as { reason?: unknown; message?: unknown };
      if (typeof body.reason === 'string') reason = body.reason;
      if (typeof body.message === 'string') message = body.message;
    } catch {
      // Not a Status body (a proxy's HTML page, say); the status code says enough.
    }
    return new ApiStatusError(status, reason, `${method} ${url.pathname}: ${status}${reason ? ` ${reason}` : ''}: ${message}`);
  }

  async function listPage(url: URL, signal: AbortSignal): Promise<{ rv: string; cont: string; items: unknown[] }> {
    const { res, release } = await open(url, signal, listIdleTimeoutMs);
    try {
      if (res.statusCode !== 200) throw await refusal('list', url, res);
      const text = await readBody(res);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ProtocolError(`list ${url.pathname}: response is not JSON`);
      }
      const list = body as { metadata?: { resourceVersion?: unknown; continue?: unknown }; items?: unknown };
      if (typeof list !== 'object' || list === null || !Array.isArray(list.items)) {
        throw new ProtocolError(`list ${url.pathname}: response has no items`);
      }
      const rv = list.metadata?.resourceVersion;
      const cont = list.metadata?.continue;
      return { rv: typeof rv === 'string' ? rv : '', cont: typeof cont === 'string' ? cont : '', items: list.items };
    } finally {
      release();
    }
  }

  return {
    async list({ resource, signal }: ListRequest): Promise<ListResult> {
      const items: unknown[] = [];
      let resourceVersion = '';
      let cont = '';
      do {
        const params: Record<string, string> = {};
        if (pageSize > 0) params.limit = String(pageSize);
        if (cont) params.continue = cont;
        const page = await listPage(urlFor(resource, params), signal);
        // Every page of a paginated list is a view of the first page's snapshot.
        if (!resourceVersion) resourceVersion = page.rv;
        for (const item of page.items) {
          // List items come without TypeMeta; watch objects have it. Filled in so that
          // `previous` and `current` look alike whichever path delivered them.
          items.push(typeof item === 'object' && item !== null ? { apiVersion: resource.apiVersion, kind: resource.kind, ...item } : item);
        }
        cont = page.cont;
      } while (cont);
      if (!resourceVersion) throw new ProtocolError(`list ${resource.path}: response has no resourceVersion`);
      return { resourceVersion, items };
    },

    async watch(req: WatchRequest): Promise<WatchEnd> {
      const { resource, signal, onEvent } = req;
      const url = urlFor(resource, {
        watch: 'true',
        resourceVersion: req.resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(req.timeoutSeconds),
      });
      const { res, release } = await open(url, signal, req.timeoutSeconds * 1000 + watchIdleGraceMs);
      if (res.statusCode !== 200) {
        try {
          throw await refusal('watch', url, res);
        } finally {
          release();
        }
      }
      return new Promise<WatchEnd>((resolve, reject) => {
        let pending = '';
        let failure: Error | undefined;
        const fail = (err: Error): void => {
          failure ??= err;
          res.destroy(err);
        };
        const deliver = (line: string): void => {
          if (line.trim() === '') return;
          let event: WatchEvent;
          try {
            event = decodeWatchEvent(line);
          } catch (err) {
            // Skipping a line would lose an event without trace; ending the stream makes the
            // watcher resume from the last resourceVersion it really processed.
            fail(err as Error);
            return;
          }
          onEvent(event);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          let nl: number;
          while (failure === undefined && !signal.aborted && (nl = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            try {
              deliver(line);
            } catch (err) {
              fail(err as Error);
            }
          }
        });
        res.on('error', () => {
          // Reported once, on 'close'.
        });
        res.on('close', () => {
          release();
          if (failure) return reject(failure);
          if (signal.aborted) return reject(signal.reason);
          if (!res.complete) {
            return resolve({ kind: 'dropped', error: res.errored ?? new Error('connection closed in the middle of the watch stream') });
          }
          try {
            deliver(pending);
          } catch (err) {
            return reject(err);
          }
          return failure ? reject(failure) : resolve({ kind: 'closed' });
        });
      });
    },
  };
}

function decodeWatchEvent(line: string): WatchEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ProtocolError(`watch event is not JSON: ${line.slice(0, 120)}`);
  }
  const ev = parsed as { type?: unknown; object?: unknown };
  if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string' || !WATCH_EVENT_TYPES.has(ev.type)) {
    throw new ProtocolError(`not a watch event: ${line.slice(0, 120)}`);
  }
  if (typeof ev.object !== 'object' || ev.object === null) {
    throw new ProtocolError(`watch event ${ev.type} has no object`);
  }
  return { type: ev.type as WatchEventType, object: ev.object };
}

async function readBody(res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return text;
}
