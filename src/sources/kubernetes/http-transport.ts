// The HTTP part shared by the JSON and protobuf wires: URLs with selectors, authentication
// and TLS from the kubeconfig, per-request agents that never outlive their request, idle
// timeouts, the request rate limit, paging through a list, streaming a watch, and turning a
// refusal into an ApiStatusError. What the bytes mean is the `Wire`'s business.
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
import { rateLimiterFor, type RateLimiter } from './rate-limit.js';
import {
  ApiStatusError,
  ProtocolError,
  type ListRequest,
  type ListResult,
  type ResourceDescriptor,
  type Transport,
  type WatchEnd,
  type WatchEvent,
  type WatchRequest,
} from './types.js';

export interface HttpTransportOptions {
  /** Items per list page (the API server's `limit`); 0 asks for everything at once. */
  pageSize?: number;
  /** A list response that sends nothing for this long (ms) is abandoned. */
  listIdleTimeoutMs?: number;
  /**
   * Added to a watch's timeoutSeconds: a watch silent for longer than the server promised to
   * keep it open is presumed dead (a vanished peer sends no RST), ms.
   */
  watchIdleGraceMs?: number;
  /**
   * And silent for this long, whatever its timeoutSeconds (ms, default 90 s). The API server
   * sends a bookmark on every watch about once a minute, so a watch that hears nothing for longer
   * is on a connection that died without a word (a powered-off control plane, a middlebox that
   * forgot the flow). client-go finds those in ~45 s by HTTP/2 pings; over HTTP/1.1 this is it.
   * A server that sends no bookmarks costs a resumed watch (no relist) every so often.
   */
  watchIdleTimeoutMs?: number;
  /** Requests per second (token bucket refill rate); unset, ≤ 0 or Infinity: no limit. */
  qps?: number;
  /** Requests allowed at once before `qps` applies; defaults to ceil(qps). */
  burst?: number;
  /** Or a limiter of one's own (shared between transports, say); takes precedence over qps/burst. */
  rateLimiter?: RateLimiter;
}

/** One page of a list, decoded. */
export interface ListBody {
  resourceVersion: string;
  continue: string;
  /** As on the wire: without TypeMeta. */
  items: unknown[];
}

/** Turns a watch response's bytes into events, one complete event at a time. */
export interface WatchDecoder {
  push(chunk: Buffer): void;
  /** No more bytes will come; what is buffered must be complete events. */
  end(): void;
  /** The next complete event, or undefined until more bytes arrive; throws ProtocolError on bytes it cannot decode. */
  next(): WatchEvent | undefined;
}

/** An encoding, as the HTTP layer needs it; decoders are picked per response from its Content-Type. */
export interface Wire {
  /** Accept header of lists (and so of their refusals). */
  listAccept: string;
  /** Accept header of watches. */
  watchAccept: string;
  /** Throws ProtocolError (without the request in its message; the caller adds it). */
  decodeList(body: Buffer, contentType: string | undefined): ListBody;
  watchDecoder(contentType: string | undefined): WatchDecoder;
  /** reason and message of a Status body, or undefined if the body is not one. Never throws. */
  decodeStatus(body: Buffer, contentType: string | undefined): { reason?: string; message?: string } | undefined;
}

interface OpenResponse {
  res: http.IncomingMessage;
  /** Releases the per-request agent (its sockets); safe to call twice. */
  release(): void;
  /** Why the request was cut for silence, if it was (the response itself only says "aborted"). */
  idle(): Error | undefined;
}

export function createHttpTransport(kc: KubeConfig, wire: Wire, options: HttpTransportOptions = {}): Transport {
  const pageSize = options.pageSize ?? 500;
  const listIdleTimeoutMs = options.listIdleTimeoutMs ?? 60_000;
  const watchIdleGraceMs = options.watchIdleGraceMs ?? 30_000;
  const watchIdleTimeoutMs = options.watchIdleTimeoutMs ?? 90_000;
  const limiter = options.rateLimiter ?? rateLimiterFor(options.qps, options.burst);
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

  async function open(url: URL, accept: string, signal: AbortSignal, idleTimeoutMs: number): Promise<OpenResponse> {
    if (limiter) await limiter.take(signal);
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
        headers: { ...opts.headers, Accept: accept },
        signal,
      });
      let idle: Error | undefined;
      req.setTimeout(idleTimeoutMs, () => req.destroy((idle = new Error(`no data from the API server for ${idleTimeoutMs} ms`))));
      // Stays attached for the request's lifetime: errors after the response arrived
      // surface on the response's 'close' instead, and must not go unhandled here.
      req.on('error', (err) => {
        release();
        reject(err);
      });
      req.on('response', (res) => resolve({ res, release, idle: () => idle }));
      req.end();
    });
  }

  async function refusal(method: string, url: URL, res: http.IncomingMessage): Promise<ApiStatusError> {
    const status = res.statusCode ?? 0;
    let reason: string | undefined;
    let message = http.STATUS_CODES[status] ?? 'unexpected status';
    try {
      const body = wire.decodeStatus(await readBody(res), res.headers['content-type']);
      if (body?.reason) reason = body.reason;
      if (body?.message) message = body.message;
    } catch {
      // The body did not arrive whole; the status code says enough.
    }
    return new ApiStatusError(status, reason, `${method} ${url.pathname}: ${status}${reason ? ` ${reason}` : ''}: ${message}`);
  }

  async function listPage(url: URL, signal: AbortSignal): Promise<ListBody> {
    const { res, release } = await open(url, wire.listAccept, signal, listIdleTimeoutMs);
    try {
      if (res.statusCode !== 200) throw await refusal('list', url, res);
      const body = await readBody(res);
      try {
        return wire.decodeList(body, res.headers['content-type']);
      } catch (err) {
        if (err instanceof ProtocolError) throw new ProtocolError(`list ${url.pathname}: ${err.message}`);
        throw err;
      }
    } finally {
      release();
    }
  }

  return {
    async list({ resource, signal, resourceVersion: from }: ListRequest): Promise<ListResult> {
      const items: unknown[] = [];
      let resourceVersion = '';
      let cont = '';
      do {
        const params: Record<string, string> = {};
        if (pageSize > 0) params.limit = String(pageSize);
        if (cont) params.continue = cont;
        // The first page only: the API server refuses a resourceVersion along with a continue token.
        else if (from !== undefined) params.resourceVersion = from;
        const page = await listPage(urlFor(resource, params), signal);
        // Every page of a paginated list is a view of the first page's snapshot.
        if (!resourceVersion) resourceVersion = page.resourceVersion;
        for (const item of page.items) {
          // List items come without TypeMeta; watch objects have it. Filled in so that
          // `previous` and `current` look alike whichever path delivered them.
          items.push(typeof item === 'object' && item !== null ? { apiVersion: resource.apiVersion, kind: resource.kind, ...item } : item);
        }
        cont = page.continue;
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
      const idleMs = Math.min(req.timeoutSeconds * 1000 + watchIdleGraceMs, watchIdleTimeoutMs);
      const { res, release, idle } = await open(url, wire.watchAccept, signal, idleMs);
      if (res.statusCode !== 200) {
        try {
          throw await refusal('watch', url, res);
        } finally {
          release();
        }
      }
      let decoder: WatchDecoder;
      try {
        decoder = wire.watchDecoder(res.headers['content-type']);
      } catch (err) {
        res.destroy();
        release();
        throw err;
      }
      return new Promise<WatchEnd>((resolve, reject) => {
        let failure: Error | undefined;
        const fail = (err: Error): void => {
          failure ??= err;
          res.destroy(err);
        };
        // Events are handed over only once wholly decoded. At bytes it cannot decode the
        // stream ends: skipping would lose an event without trace, while ending makes the
        // watcher resume from the last resourceVersion it really processed.
        const drain = (): void => {
          while (failure === undefined && !signal.aborted) {
            let event: WatchEvent | undefined;
            try {
              event = decoder.next();
            } catch (err) {
              fail(err as Error);
              return;
            }
            if (event === undefined) return;
            try {
              onEvent(event);
            } catch (err) {
              fail(err as Error);
              return;
            }
          }
        };
        res.on('data', (chunk: Buffer) => {
          if (failure !== undefined || signal.aborted) return;
          decoder.push(chunk);
          drain();
        });
        res.on('error', () => {
          // Reported once, on 'close'.
        });
        res.on('close', () => {
          release();
          if (failure) return reject(failure);
          if (signal.aborted) return reject(signal.reason);
          if (!res.complete) {
            return resolve({ kind: 'dropped', error: idle() ?? res.errored ?? new Error('connection closed in the middle of the watch stream') });
          }
          decoder.end();
          drain();
          return failure ? reject(failure) : resolve({ kind: 'closed' });
        });
      });
    },
  };
}

export async function readBody(res: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
