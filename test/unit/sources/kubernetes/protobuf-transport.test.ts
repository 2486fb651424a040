// The protobuf wire through the transport and the source: JSON answers to a protobuf
// request, Status bodies in protobuf, and malformed streams (each ends the watch with a
// ProtocolError naming what was wrong; events before it arrive whole, nothing partial
// reaches the sink, and the source resumes).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiStatusError,
  createJsonTransport,
  createKubernetesSource,
  createProtobufTransport,
  isGone,
  loadKubeConfig,
  ProtocolError,
  resourcesFor,
  TokenBucket,
  type Transport,
  type WatchEvent,
} from '../../../../src/sources/kubernetes/index.js';
import type { Source } from '../../../../src/sources/types.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver.js';
import { node, RecordingSink, service, slice, summary, TestClock, waitUntil } from './helpers.js';
import { encodeWatchFrame, envelope, frame, lengthPrefixed, message, serviceBytes, WIRE } from './wire-bytes.js';

const { LEN } = WIRE;
const services = resourcesFor('node-1').Service;

let server: FakeApiServer;
let transport: Transport;
let abort: AbortController;

beforeEach(async () => {
  server = await startFakeApiServer();
  transport = createProtobufTransport(loadKubeConfig(await kubeconfigFor(server)));
  abort = new AbortController();
});

afterEach(async () => {
  abort.abort();
  await server.close();
});

function watchFrom(rv: string, events: WatchEvent[], t = transport): ReturnType<Transport['watch']> {
  return t.watch({ resource: services, resourceVersion: rv, timeoutSeconds: 300, signal: abort.signal, onEvent: (e) => events.push(e) });
}

const goodFrame = (name: string, rv: string): Buffer =>
  encodeWatchFrame({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', resourceVersion: rv } } });

/** Each malformed input, after one good event, and what the error must say. */
const BAD: Array<[string, Buffer, RegExp]> = [
  ['a wrong magic', frame('ADDED', Buffer.concat([Buffer.from('K8S\0'), serviceBytes('x', '9')])), /expected magic 6b 38 73 00 .*got 4b 38 53 00/],
  ['an unknown kind', frame('ADDED', envelope('v1', 'Pod', message([1, LEN, message([1, LEN, 'p'])]))), /unknown kind "Pod"/],
  [
    'a field of the wrong wire type',
    frame('MODIFIED', envelope('v1', 'Service', serviceBytes('x', '9', [[1, LEN, message([3, LEN, '80'])]]))),
    /ServicePort\.port \(field 3\) has wire type 2 \(length-delimited\), expected 0 \(varint\)/,
  ],
  ['a huge length prefix', Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0, 0]), /watch frame length 2147483647 exceeds the limit of 67108864 bytes/],
  ['a truncated message inside its frame', lengthPrefixed(message([1, LEN, 'ADDED'], [2, LEN, message([1, LEN, serviceBytes('x', '9')])]).subarray(0, 20)), /cannot decode k8s\.io\.apimachinery\.pkg\.apis\.meta\.v1\.WatchEvent/],
];

describe('protobuf transport', () => {
  it('lists the same items as the JSON transport', async () => {
    server.create('Service', service('a'));
    server.create('Service', service('b', { ns: 'prod', labels: { x: 'y' } }));
    const json = createJsonTransport(loadKubeConfig(await kubeconfigFor(server)));
    const viaProto = await transport.list({ resource: services, signal: abort.signal });
    const viaJson = await json.list({ resource: services, signal: abort.signal });
    expect(viaProto).toEqual(viaJson);
    expect(viaProto.items).toHaveLength(2);
    expect(server.requests.map((r) => r.encoding)).toEqual(['protobuf', 'json']);
  });

  it('reads a refusal whose Status comes in protobuf', async () => {
    server.failNext(503, { message: 'etcd is sulking' });
    const err = await transport.list({ resource: services, signal: abort.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err).toMatchObject({ status: 503, reason: 'ServiceUnavailable', message: 'list /api/v1/services: 503 ServiceUnavailable: etcd is sulking' });

    server.create('Service', service('web'));
    server.compact();
    server.setGoneMode('http');
    const gone = await watchFrom('100', []).catch((e: unknown) => e);
    expect(isGone(gone)).toBe(true);
    expect(gone).toMatchObject({ reason: 'Expired', message: expect.stringMatching(/too old resource version: 100 \(101\)/) });
  });

  it('decodes JSON when the server answers a protobuf request with JSON anyway', async () => {
    server.respondRawNext(Buffer.from(JSON.stringify({ kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'a' } }] })), {
      watch: false,
      contentType: 'application/json',
    });
    await expect(transport.list({ resource: services, signal: abort.signal })).resolves.toEqual({
      resourceVersion: '7',
      items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' } }],
    });
    server.respondRawNext(Buffer.from(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'b', resourceVersion: '8' } } }) + '\n'), {
      watch: true,
      contentType: 'application/json',
    });
    const events: WatchEvent[] = [];
    await expect(watchFrom('7', events)).resolves.toEqual({ kind: 'closed' });
    expect(events).toEqual([{ type: 'ADDED', object: { metadata: { name: 'b', resourceVersion: '8' } } }]);
  });

  it('refuses a response in an encoding it did not ask for', async () => {
    server.respondRawNext(Buffer.from('kind: ServiceList\n'), { watch: false, contentType: 'application/yaml' });
    const err = await transport.list({ resource: services, signal: abort.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toBe('list /api/v1/services: unexpected Content-Type "application/yaml"');
  });

  it('refuses a list body with a wrong magic, naming the request', async () => {
    server.respondRawNext(Buffer.from(JSON.stringify({ items: [] })), { watch: false });
    const err = await transport.list({ resource: services, signal: abort.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/^list \/api\/v1\/services: response: not a Kubernetes protobuf object: expected magic/);
  });

  it.each(BAD)('ends a watch at %s with a ProtocolError, after delivering the events before it whole', async (_what, bad, pattern) => {
    server.respondRawNext(Buffer.concat([goodFrame('a', '5'), bad]), { watch: true, keepOpen: true });
    const events: WatchEvent[] = [];
    const err = await watchFrom('1', events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(pattern);
    expect(events).toEqual([{ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'default', resourceVersion: '5' } } }]);
    // The transport closed the connection the server meant to keep open.
    await waitUntil(() => server.openConnections() === 0, 'connection closed');
  });

  it('ends a watch whose stream stops inside a frame with a ProtocolError, not as a clean close', async () => {
    const second = goodFrame('b', '6');
    server.respondRawNext(Buffer.concat([goodFrame('a', '5'), second.subarray(0, 14)]), { watch: true });
    const events: WatchEvent[] = [];
    const err = await watchFrom('1', events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toBe(`watch stream ended inside a frame: 10 of ${second.length - 4} bytes`);
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
  });

  it('honours a smaller frame limit', async () => {
    const t = createProtobufTransport(loadKubeConfig(await kubeconfigFor(server)), { maxFrameBytes: 32 });
    server.respondRawNext(goodFrame('a-name-long-enough-to-pass-the-limit', '5'), { watch: true });
    await expect(watchFrom('1', [], t)).rejects.toThrow(/exceeds the limit of 32 bytes/);
  });
});

describe('a source over protobuf, given bad bytes mid-stream', () => {
  let source: Source | undefined;

  afterEach(async () => {
    await source?.stop();
    source = undefined;
  });

  it.each(BAD)('reports %s, resumes the watch, and never hands a partial object to the sink', async (_what, bad, pattern) => {
    const clock = new TestClock();
    const sink = new RecordingSink();
    server.create('Service', service('web'));
    source = createKubernetesSource({ kubeconfig: await kubeconfigFor(server), nodeName: 'node-1', clock, backoff: { random: () => 0.5 }, watchTimeoutSeconds: () => 300 });
    await source.start(sink);
    await waitUntil(() => server.openWatches() === 4, 'watching');
    const rv = server.resourceVersion;

    expect(server.writeRaw(bad, 'Service')).toBe(1);
    await waitUntil(() => sink.problems('Service').length === 1, 'problem reported');
    expect(sink.problems('Service')[0]).toMatch(pattern);
    expect(sink.problems('Service')[0]).toMatch(new RegExp(`resuming from resourceVersion ${rv} in 100 ms$`));
    const watches = () => server.requests.filter((r) => r.kind === 'Service' && r.watch);
    await waitUntil(() => watches().length === 2 && server.openWatches('Service') === 1, 'watching again');
    expect(watches()[1]!.query.resourceVersion).toBe(rv);

    server.create('Service', service('after'));
    await waitUntil(() => sink.changes('Service').length === 2, 'later event delivered');
    expect(sink.changes().map(summary)).toEqual(['+default/web', '+default/after']);
    for (const c of sink.changes()) expect(c.current).toMatchObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: expect.any(String), resourceVersion: expect.any(String) } });
  });
});

describe('identical results in both encodings', () => {
  it('two sources, one per encoding, on one server, see exactly the same changes', async () => {
    const sinks = { json: new RecordingSink(), protobuf: new RecordingSink() };
    const sources: Source[] = [];
    server.create('Service', service('web', { labels: { tier: 'front' } }));
    server.create('EndpointSlice', slice('web-1', { service: 'web', ip: '10.0.0.7' }));
    server.create('Node', node('node-1', 'z1'));
    server.create('ServiceCIDR', { metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } });
    try {
      for (const [encoding, sink] of Object.entries(sinks)) {
        const s = createKubernetesSource({
          kubeconfig: await kubeconfigFor(server),
          nodeName: 'node-1',
          contentType: encoding === 'json' ? 'application/json' : 'application/vnd.kubernetes.protobuf',
          clock: new TestClock(),
          backoff: { random: () => 0.5 },
          watchTimeoutSeconds: () => 300,
        });
        sources.push(s);
        await s.start(sink);
      }
      await waitUntil(() => server.openWatches() === 8, 'both sources watching');
      server.update('Service', { ...service('web', { port: 8080 }), spec: { type: 'NodePort', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080, protocol: 'TCP' }], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } });
      server.update('EndpointSlice', { ...slice('web-1', { service: 'web' }), endpoints: [{ addresses: ['10.0.0.8'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-1', zone: 'z1', hints: { forZones: [{ name: 'z1' }] } }] });
      server.update('Node', { ...node('node-1', 'z2'), spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] } });
      server.delete('Service', 'default/web');
      server.create('ServiceCIDR', { metadata: { name: 'extra' }, spec: { cidrs: ['10.100.0.0/24'] } });
      server.bookmark();
      server.watchError(500, 'Node');
      for (const sink of Object.values(sinks)) await waitUntil(() => sink.changes().length === 9, 'all changes');
      // Per kind: the watchers are separate connections, so their interleaving is not fixed.
      for (const kind of ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'] as const) {
        expect(sinks.protobuf.changes(kind), kind).toEqual(sinks.json.changes(kind));
        expect(sinks.protobuf.problems(kind), kind).toEqual(sinks.json.problems(kind));
      }
      expect(sinks.protobuf.syncedKinds().sort()).toEqual(sinks.json.syncedKinds().sort());
      expect(sinks.json.changes().map(summary).sort()).toEqual(['+default/web', '+default/web-1', '+extra', '+kubernetes', '+node-1', '-default/web', '~default/web', '~default/web-1', '~node-1']);
      expect(sinks.protobuf.changes('ServiceCIDR').map((c) => c.current)).toEqual([
        { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: expect.objectContaining({ name: 'kubernetes' }), spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } },
        { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: expect.objectContaining({ name: 'extra' }), spec: { cidrs: ['10.100.0.0/24'] } },
      ]);
      expect(sinks.json.problems()).toEqual([expect.stringMatching(/^Node: watch ERROR event 500/)]);
    } finally {
      await Promise.all(sources.map((s) => s.stop()));
    }
  });
});

describe('request rate limit (qps, burst)', () => {
  it('lets a burst through, then spaces requests at qps; an aborted wait gives its token back', async () => {
    const bucket = new TokenBucket(20, 2);
    const ac = new AbortController();
    const t0 = performance.now();
    await bucket.take(ac.signal);
    await bucket.take(ac.signal);
    // A delayed burst would wait a whole 50 ms token interval.
    expect(performance.now() - t0).toBeLessThan(45);
    await bucket.take(ac.signal);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    const waiting = bucket.take(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toThrow(/abort/i);
    const t1 = performance.now();
    await bucket.take(new AbortController().signal);
    // One interval (50 ms) at most; a lost token would make it two.
    expect(performance.now() - t1).toBeLessThan(95);
  });

  it('applies to the source as a whole, kube-proxy style', async () => {
    const sink = new RecordingSink();
    const source = createKubernetesSource({ kubeconfig: await kubeconfigFor(server), nodeName: 'node-1', clock: new TestClock(), qps: 20, burst: 3 });
    const t0 = Date.now();
    try {
      await source.start(sink);
      await waitUntil(() => server.openWatches() === 4, 'watching');
    } finally {
      await source.stop();
    }
    // Eight requests (a list and a watch per kind): three at once, then one every 50 ms.
    expect(server.requests).toHaveLength(8);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(240);
  });
});
