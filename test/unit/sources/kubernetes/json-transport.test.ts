// The HTTP wire on its own: how streams end and what a refusal carries (both encodings), and
// for JSON what happens to bytes it cannot decode, and kubeconfig details that decide
// whether it can connect at all. protobuf-transport.test.ts has the protobuf bad-bytes cases.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiStatusError,
  createJsonTransport,
  createProtobufTransport,
  isGone,
  type JsonTransportOptions,
  loadKubeConfig,
  ProtocolError,
  resourcesFor,
  type Transport,
  type WatchEvent,
} from '../../../../src/sources/kubernetes/index.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver.js';
import { service, waitUntil } from './helpers.js';

const services = resourcesFor('node-1').Service;

let server: FakeApiServer;
let transport: Transport;
let abort: AbortController;

beforeEach(async () => {
  server = await startFakeApiServer();
  transport = createJsonTransport(loadKubeConfig(await kubeconfigFor(server)));
  abort = new AbortController();
});

async function useEncoding(encoding: 'json' | 'protobuf'): Promise<void> {
  const kc = loadKubeConfig(await kubeconfigFor(server));
  transport = encoding === 'json' ? createJsonTransport(kc) : createProtobufTransport(kc);
}

afterEach(async () => {
  abort.abort();
  await server.close();
});

function watchFrom(rv: string, events: WatchEvent[], t = transport): ReturnType<Transport['watch']> {
  return t.watch({ resource: services, resourceVersion: rv, timeoutSeconds: 300, signal: abort.signal, onEvent: (e) => events.push(e) });
}

describe.each(['json', 'protobuf'] as const)('watch streams over %s', (encoding) => {
  beforeEach(() => useEncoding(encoding));

  it('end as "closed" when the server finishes the response and "dropped" when the connection breaks', async () => {
    const rv = server.resourceVersion;
    const events: WatchEvent[] = [];
    let done = watchFrom(rv, events);
    await waitUntil(() => server.openWatches() === 1, 'watch open');
    server.create('Service', service('web'));
    await waitUntil(() => events.length === 1, 'event');
    server.endWatches();
    await expect(done).resolves.toEqual({ kind: 'closed' });

    done = watchFrom(rv, events);
    await waitUntil(() => server.openWatches() === 1, 'watch open');
    server.dropWatches();
    await expect(done).resolves.toMatchObject({ kind: 'dropped', error: expect.any(Error) });
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ADDED']);
    expect(server.requests.every((r) => r.encoding === encoding)).toBe(true);
  });

  it('rejects with 410 when the server refuses an expired resourceVersion over HTTP', async () => {
    server.create('Service', service('web'));
    server.compact();
    server.setGoneMode('http');
    const err = await watchFrom('100', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(isGone(err)).toBe(true);
    expect(err).toMatchObject({ status: 410, reason: 'Expired', message: expect.stringMatching(/too old resource version: 100 \(101\)/) });
  });

  it('hands an in-stream ERROR event to the caller like any other event', async () => {
    server.create('Service', service('web'));
    server.compact();
    const events: WatchEvent[] = [];
    await expect(watchFrom('100', events)).resolves.toEqual({ kind: 'closed' });
    expect(events).toEqual([{ type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
  });

  it('rejects promptly when aborted during a slow response, closing the connection', async () => {
    server.setLatency(10_000);
    const done = watchFrom(server.resourceVersion, []);
    await server.waitForRequest((r) => r.watch);
    const t0 = Date.now();
    abort.abort();
    await expect(done).rejects.toThrow(/abort/i);
    // Well under the server's 10 s latency, with room for a loaded machine.
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitUntil(() => server.openConnections() === 0, 'connection closed');
  });
});

describe('against a raw server', () => {
  let raw: http.Server;
  let rawUrl: string;
  let dir: string;
  let respond: (req: http.IncomingMessage, res: http.ServerResponse) => void;

  beforeEach(async () => {
    raw = http.createServer((req, res) => respond(req, res));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'json-transport-'));
  });

  afterEach(async () => {
    raw.closeAllConnections();
    await new Promise((r) => raw.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  async function transportFor(server: string, skipTLSVerify = true, options: JsonTransportOptions = {}): Promise<Transport> {
    const path = join(dir, 'kubeconfig');
    await writeFile(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server, ...(skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}) } }],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    return createJsonTransport(loadKubeConfig(path), options);
  }

  it('gives up on a watch that hears nothing, not even a bookmark, long before its timeoutSeconds', async () => {
    // Headers, then silence: what a connection whose peer vanished looks like.
    respond = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
    };
    const t = await transportFor(rawUrl, true, { watchIdleTimeoutMs: 300 });
    const started = Date.now();
    const end = await watchFrom('1', [], t);
    expect(end).toMatchObject({ kind: 'dropped', error: expect.objectContaining({ message: expect.stringMatching(/no data from the API server for 300 ms/) }) });
    expect(Date.now() - started).toBeLessThan(10_000); // timeoutSeconds is 300
  });

  it('ends the stream with a ProtocolError at a line it cannot decode, after delivering the lines before it', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } }) + '\n');
      res.write('{"type":"MODIFIED","object":{"metadata":\n');
      // Left open: the transport must end it, not wait.
    };
    const events: WatchEvent[] = [];
    const err = await watchFrom('1', events, await transportFor(rawUrl)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(events).toHaveLength(1);
  });

  it('reassembles events split across chunks and takes a last line without a newline', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const a = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '5' } } });
      const b = JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } });
      res.write(a.slice(0, 10));
      setTimeout(() => {
        res.write(a.slice(10) + '\n' + b);
        res.end();
      }, 5);
    };
    const events: WatchEvent[] = [];
    await expect(watchFrom('1', events, await transportFor(rawUrl))).resolves.toEqual({ kind: 'closed' });
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
  });

  it('keeps a path prefix in the server URL', async () => {
    const paths: string[] = [];
    respond = (req, res) => {
      paths.push(req.url!);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }));
    };
    const t = await transportFor(`${rawUrl}/k8s/clusters/c-1/`);
    await expect(t.list({ resource: services, signal: abort.signal })).resolves.toEqual({ resourceVersion: '7', items: [] });
    expect(paths[0]).toMatch(/^\/k8s\/clusters\/c-1\/api\/v1\/services\?/);
  });

  it('rejects a list without a resourceVersion, which could not be watched from', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ServiceList', metadata: {}, items: [] }));
    };
    await expect((await transportFor(rawUrl)).list({ resource: services, signal: abort.signal })).rejects.toBeInstanceOf(ProtocolError);
  });

  it('carries the status of a refusal that has no Status body', async () => {
    respond = (_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>bad gateway</html>');
    };
    const err = await (await transportFor(rawUrl)).list({ resource: services, signal: abort.signal }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, reason: undefined, message: 'list /api/v1/services: 502: Bad Gateway' });
  });

  it('cannot use a plain-http server unless the kubeconfig says insecure-skip-tls-verify (client-node 1.x)', async () => {
    respond = () => {};
    const t = await transportFor(rawUrl, false);
    await expect(t.list({ resource: services, signal: abort.signal })).rejects.toThrow(/HTTP protocol is not allowed/);
  });
});
