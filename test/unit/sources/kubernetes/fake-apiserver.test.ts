// The fake API server against the protocol as the real one speaks it, with a plain HTTP
// client, so the source tests rest on a fake that is right.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeList, decodeObject, FrameReader, decodeWatchFrame } from '../../../../src/sources/kubernetes/index.js';
import { startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver.js';
import { node, service, slice } from './helpers.js';

let server: FakeApiServer;

beforeEach(async () => {
  server = await startFakeApiServer();
});

afterEach(async () => {
  await server.close();
});

async function get(path: string, accept = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.url + path, { headers: { accept } });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Reads a watch until `n` events arrived or the server ended it. */
async function watch(path: string, n: number, onOpen: () => void = () => {}): Promise<{ status: number; events: Array<{ type: string; object: any }> }> {
  const ac = new AbortController();
  const res = await fetch(server.url + path, { signal: ac.signal });
  const events: Array<{ type: string; object: any }> = [];
  if (res.status !== 200) return { status: res.status, events };
  onOpen();
  if (n === 0) {
    ac.abort();
    return { status: 200, events };
  }
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body!) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      events.push(JSON.parse(pending.slice(0, nl)));
      pending = pending.slice(nl + 1);
    }
    if (events.length >= n) break;
  }
  ac.abort();
  return { status: 200, events };
}

const names = (items: unknown): string[] => (items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name);

describe('fake API server: list', () => {
  it('answers a List with its resourceVersion and items without TypeMeta', async () => {
    server.create('Service', service('web'));
    const { status, body } = await get('/api/v1/services');
    expect(status).toBe(200);
    expect(body).toMatchObject({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '101' } });
    const [item] = body.items as Array<Record<string, any>>;
    expect(item!.kind).toBeUndefined();
    expect(item!.metadata).toMatchObject({ name: 'web', namespace: 'default', resourceVersion: '101', uid: expect.any(String) });
  });

  it('filters by label selector (!k, k=v, k!=v, k in (…)) and namespace', async () => {
    server.create('EndpointSlice', slice('a', { labels: { tier: 'web' } }));
    server.create('EndpointSlice', slice('b', { labels: { tier: 'db', 'service.kubernetes.io/headless': '' } }));
    server.create('EndpointSlice', slice('c', { ns: 'other', labels: { tier: 'cache' } }));
    const list = async (q: string) => names((await get(`/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${encodeURIComponent(q)}`)).body.items);
    expect(await list('!service.kubernetes.io/headless')).toEqual(['a', 'c']);
    expect(await list('tier=db')).toEqual(['b']);
    expect(await list('tier!=db')).toEqual(['a', 'c']);
    expect(await list('tier in (web,cache),!service.kubernetes.io/headless')).toEqual(['a', 'c']);
    expect(names((await get('/apis/discovery.k8s.io/v1/namespaces/other/endpointslices')).body.items)).toEqual(['c']);
    expect((await get('/apis/discovery.k8s.io/v1/endpointslices?labelSelector=%3D%3D')).status).toBe(400);
  });

  it('filters by field selector metadata.name and refuses fields it does not index', async () => {
    server.create('Node', node('n1'));
    server.create('Node', node('n2'));
    expect(names((await get('/api/v1/nodes?fieldSelector=metadata.name%3Dn2')).body.items)).toEqual(['n2']);
    const bad = await get('/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue');
    expect(bad).toMatchObject({ status: 400, body: { kind: 'Status', code: 400, reason: 'BadRequest' } });
  });

  it('pages with limit and continue from one snapshot, and expires continue tokens on compaction', async () => {
    for (const n of ['a', 'b', 'c']) server.create('Service', service(n));
    const first = await get('/api/v1/services?limit=2');
    expect(names(first.body.items)).toEqual(['a', 'b']);
    const meta = first.body.metadata as { continue: string; remainingItemCount: number; resourceVersion: string };
    expect(meta.remainingItemCount).toBe(1);
    server.create('Service', service('d')); // not in the snapshot
    const second = await get(`/api/v1/services?limit=2&continue=${meta.continue}`);
    expect(names(second.body.items)).toEqual(['c']);
    expect(second.body.metadata).toEqual({ resourceVersion: meta.resourceVersion });
    server.create('Service', service('e'));
    server.compact();
    expect(await get(`/api/v1/services?limit=2&continue=${meta.continue}`)).toMatchObject({ status: 410, body: { code: 410, reason: 'Expired' } });
  });

  it('negotiates the encoding from Accept', async () => {
    expect((await get('/api/v1/services', 'application/json, */*')).status).toBe(200);
    expect((await get('/api/v1/services', 'application/yaml')).status).toBe(406);
    const res = await fetch(server.url + '/api/v1/services', { headers: { accept: 'application/vnd.kubernetes.protobuf, application/json' } });
    expect(res.headers.get('content-type')).toBe('application/vnd.kubernetes.protobuf');
    expect(server.requests.map((r) => r.encoding)).toEqual(['json', undefined, 'protobuf']);
  });

  it('answers protobuf with the same content as JSON: a "k8s\\0" envelope around the List', async () => {
    server.create('Service', service('web'));
    const json = (await get('/api/v1/services')).body;
    const res = await fetch(server.url + '/api/v1/services', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect([...bytes.subarray(0, 4)]).toEqual([0x6b, 0x38, 0x73, 0x00]);
    expect(decodeObject(bytes)).toEqual(json);
    expect(decodeList(bytes).items).toEqual(json.items);
  });

  it('sends a Status in protobuf to a client that asked for it', async () => {
    const res = await fetch(server.url + '/api/v1/pods', { headers: { accept: 'application/vnd.kubernetes.protobuf' } });
    expect(res.status).toBe(404);
    expect(decodeObject(new Uint8Array(await res.arrayBuffer()))).toMatchObject({ kind: 'Status', apiVersion: 'v1', code: 404, reason: 'NotFound' });
  });
});

describe('fake API server: watch', () => {
  it('replays history after the resourceVersion, then streams live changes', async () => {
    server.create('Service', service('a'));
    const rv = server.resourceVersion;
    server.update('Service', service('a', { port: 81 }));
    const done = watch(`/api/v1/services?watch=true&resourceVersion=${rv}`, 3, () => {
      server.create('Service', service('b'));
      server.delete('Service', 'default/a');
    });
    const { events } = await done;
    expect(events.map((e) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion])).toEqual([
      ['MODIFIED', 'a', '102'],
      ['ADDED', 'b', '103'],
      ['DELETED', 'a', '104'],
    ]);
    expect(events[0]!.object).toMatchObject({ kind: 'Service', apiVersion: 'v1' });
  });

  it('sends the current state as ADDED when no resourceVersion is given', async () => {
    server.create('Service', service('a'));
    const { events } = await watch('/api/v1/services?watch=1', 1);
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
  });

  it('turns selector transitions into ADDED and DELETED, as the watch cache does', async () => {
    server.create('Service', service('a'));
    const rv = server.resourceVersion;
    server.update('Service', service('a', { labels: { 'service.kubernetes.io/service-proxy-name': 'x' } }));
    server.update('Service', service('a'));
    const { events } = await watch(`/api/v1/services?watch=true&resourceVersion=${rv}&labelSelector=!service.kubernetes.io/service-proxy-name`, 2);
    expect(events.map((e) => [e.type, e.object.metadata.resourceVersion, e.object.metadata.labels])).toEqual([
      ['DELETED', '102', undefined],
      ['ADDED', '103', undefined],
    ]);
  });

  it('refuses a compacted resourceVersion with an ERROR event or an HTTP 410', async () => {
    server.create('Service', service('a'));
    server.compact();
    const { events } = await watch('/api/v1/services?watch=true&resourceVersion=100', 1);
    expect(events).toEqual([
      { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 100 (101)', reason: 'Expired', code: 410 } },
    ]);
    server.setGoneMode('http');
    expect(await get('/api/v1/services?watch=true&resourceVersion=100')).toMatchObject({ status: 410, body: { reason: 'Expired' } });
    // From the compaction point on, history is there.
    expect((await watch('/api/v1/services?watch=true&resourceVersion=101', 0)).status).toBe(200);
  });

  it('streams protobuf watch events as length-prefixed frames', async () => {
    server.create('Service', service('a'));
    const ac = new AbortController();
    const res = await fetch(server.url + '/api/v1/services?watch=true&resourceVersion=100', {
      headers: { accept: 'application/vnd.kubernetes.protobuf;stream=watch' },
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toBe('application/vnd.kubernetes.protobuf;stream=watch');
    server.update('Service', service('a', { port: 81 }));
    const frames = new FrameReader();
    const events: Array<{ type: string; object: any }> = [];
    for await (const chunk of res.body!) {
      frames.push(Buffer.from(chunk as Uint8Array));
      let f: Buffer | undefined;
      while ((f = frames.next())) events.push(decodeWatchFrame(f));
      if (events.length >= 2) break;
    }
    ac.abort();
    expect(events.map((e) => [e.type, e.object.kind, e.object.metadata.resourceVersion, e.object.spec.ports[0].port])).toEqual([
      ['ADDED', 'Service', '101', 80],
      ['MODIFIED', 'Service', '102', 81],
    ]);
  });

  it('sends bookmarks only to watches that allow them', async () => {
    const done = watch('/api/v1/services?watch=true&resourceVersion=100&allowWatchBookmarks=true', 1, () => {
      server.create('Node', node('n1'));
      server.bookmark();
    });
    expect((await done).events).toEqual([{ type: 'BOOKMARK', object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: '101' } } }]);
  });
});

describe('fake API server: controls', () => {
  it('fails the next matching requests and logs every request', async () => {
    server.failNext(503, { watch: false, times: 2 });
    expect((await get('/api/v1/services')).body).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
    expect((await get('/api/v1/nodes')).status).toBe(503);
    expect((await get('/api/v1/nodes')).status).toBe(200);
    expect(server.requests.map((r) => [r.kind, r.watch, r.status])).toEqual([
      ['Service', false, 503],
      ['Node', false, 503],
      ['Node', false, 200],
    ]);
  });

  it('delays responses by the set latency', async () => {
    server.setLatency(50);
    const t0 = Date.now();
    await get('/api/v1/services');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('answers 404 for other resources', async () => {
    expect((await get('/api/v1/pods')).status).toBe(404);
  });
});
