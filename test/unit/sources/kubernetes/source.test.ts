// The Kubernetes source end to end over real sockets: kubeconfig → client-node's KubeConfig
// → JSON or protobuf transport → fake API server, and back out as ObjectChanges. Every
// test runs in both encodings.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ABSENT_RELIST_MS, createKubernetesSource, PROXY_LABEL_SELECTOR, type ContentType } from '../../../../src/sources/kubernetes/index.js';
import type { Source } from '../../../../src/sources/types.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer, type RequestRecord } from '../../../support/fake-apiserver.js';
import { node, RecordingSink, service, slice, summary, TestClock, waitUntil } from './helpers.js';

const NODE = 'node-1';

const ENCODINGS = [
  { encoding: 'json', contentType: 'application/json' },
  { encoding: 'protobuf', contentType: 'application/vnd.kubernetes.protobuf' },
] as const satisfies ReadonlyArray<{ encoding: string; contentType: ContentType }>;

let server: FakeApiServer;
let kubeconfig: string;
let clock: TestClock;
let sink: RecordingSink;
let source: Source | undefined;

beforeEach(async () => {
  server = await startFakeApiServer();
  kubeconfig = await kubeconfigFor(server);
  clock = new TestClock();
  sink = new RecordingSink();
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await server.close();
});

describe.each(ENCODINGS)('over $encoding', ({ encoding, contentType }) => {
  /** Starts the source with a deterministic backoff (no jitter: 100, 200, 400 … ms, recorded by the clock). */
  async function start(extra: Partial<Parameters<typeof createKubernetesSource>[0]> = {}): Promise<void> {
    source = createKubernetesSource({
      kubeconfig,
      nodeName: NODE,
      clock,
      backoff: { random: () => 0.5 },
      watchTimeoutSeconds: () => 300,
      contentType,
      ...extra,
    });
    await source.start(sink);
  }

  async function startAndSync(): Promise<void> {
    await start();
    await waitUntil(() => sink.syncedKinds().length === 4, 'all kinds synced');
    await waitUntil(() => server.openWatches() === 4, 'four watches open');
  }

  const watchesOf = (kind: string) => (r: RequestRecord) => r.kind === kind && r.watch;

  describe('initial list', () => {
    it('delivers every object, then synced, per kind', async () => {
      server.create('Service', service('web'));
      server.create('Service', service('db', { ns: 'prod' }));
      server.create('EndpointSlice', slice('web-abc', { service: 'web' }));
      server.create('Node', node(NODE));
      await startAndSync();

      for (const kind of ['Service', 'EndpointSlice', 'Node'] as const) {
        const syncedAt = sink.log.findIndex((e) => e.type === 'synced' && e.kind === kind);
        const lastChange = sink.log.findLastIndex((e) => e.type === 'changed' && e.change.kind === kind);
        expect(lastChange, kind).toBeLessThan(syncedAt);
      }
      expect(sink.changes('Service').map(summary).sort()).toEqual(['+default/web', '+prod/db']);
      expect(sink.changes('EndpointSlice').map(summary)).toEqual(['+default/web-abc']);
      expect(sink.changes('Node').map(summary)).toEqual([`+${NODE}`]);
      expect(sink.syncedKinds().sort()).toEqual(['EndpointSlice', 'Node', 'Service', 'ServiceCIDR']);
      expect(sink.problems()).toEqual([]);
    });

    it('fills in the TypeMeta that list items lack on the wire', async () => {
      server.create('EndpointSlice', slice('web-abc'));
      await startAndSync();
      const [change] = sink.changes('EndpointSlice');
      expect(change!.current).toMatchObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-abc' } });
    });

    it(`authenticates with the kubeconfig credentials and asks for ${encoding}`, async () => {
      await startAndSync();
      expect(server.requests).toHaveLength(8);
      for (const r of server.requests) {
        expect(r.authorization).toBe('Bearer fake-token');
        const accept =
          encoding === 'json'
            ? 'application/json'
            : r.watch
              ? 'application/vnd.kubernetes.protobuf;stream=watch'
              : 'application/vnd.kubernetes.protobuf, application/json';
        expect(r.accept).toBe(accept);
        expect(r.encoding).toBe(encoding);
      }
    });

    it('sends synced for an empty collection', async () => {
      await startAndSync();
      expect(sink.changes()).toEqual([]);
    });

    it('follows continue tokens when the server pages the list', async () => {
      for (let i = 0; i < 5; i++) server.create('Service', service(`s${i}`));
      await start({ wire: { pageSize: 2 } });
      await waitUntil(() => sink.syncedKinds().includes('Service'), 'Service synced');
      expect(sink.changes('Service').map(summary)).toEqual(['+default/s0', '+default/s1', '+default/s2', '+default/s3', '+default/s4']);
      const lists = server.requests.filter((r) => r.kind === 'Service' && !r.watch);
      // The first page from the cache (resourceVersion 0), as client-go's first list.
      expect(lists.map((r) => [r.query.limit, r.query.continue !== undefined, r.query.resourceVersion])).toEqual([
        ['2', false, '0'],
        ['2', true, undefined],
        ['2', true, undefined],
      ]);
      // Watched from the snapshot the pages came from.
      const watch = await server.waitForRequest(watchesOf('Service'));
      expect(watch.query.resourceVersion).toBe('105');
    });
  });

  describe('watch', () => {
    it('delivers ADDED, MODIFIED and DELETED with previous and current', async () => {
      server.create('Service', service('web'));
      await startAndSync();
      const from = sink.mark();

      server.create('Service', service('api'));
      server.update('Service', service('web', { port: 8080 }));
      server.delete('Service', 'default/api');
      await waitUntil(() => sink.changes('Service', from).length === 3, 'three changes');

      const [added, modified, deleted] = sink.changes('Service', from);
      expect(added).toMatchObject({ kind: 'Service', key: 'default/api', previous: null, current: { metadata: { name: 'api' } } });
      expect(modified).toMatchObject({
        key: 'default/web',
        previous: { spec: { ports: [{ port: 80 }] } },
        current: { spec: { ports: [{ port: 8080 }] } },
      });
      expect(deleted).toMatchObject({ key: 'default/api', previous: { metadata: { name: 'api' } }, current: null });
      expect(sink.problems()).toEqual([]);
    });

    it('watches from the list resourceVersion with bookmarks, a timeout and the same selectors', async () => {
      server.create('Service', service('web'));
      await startAndSync();
      const list = server.requests.find((r) => r.kind === 'Service' && !r.watch)!;
      const watch = server.requests.find(watchesOf('Service'))!;
      expect(watch.query).toMatchObject({
        watch: 'true',
        resourceVersion: server.resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: '300',
        labelSelector: list.query.labelSelector,
      });
    });
  });

  describe('exclusions', () => {
    it('asks the server to leave out proxy-name Services and headless slices, as kube-proxy does', async () => {
      server.create('Service', service('mine'));
      server.create('Service', service('theirs', { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }));
      server.create('EndpointSlice', slice('mine-1', { service: 'mine' }));
      server.create('EndpointSlice', slice('hl-1', { service: 'hl', labels: { 'service.kubernetes.io/headless': '' } }));
      server.create('EndpointSlice', slice('theirs-1', { service: 'theirs', labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }));
      await startAndSync();

      expect(sink.changes('Service').map(summary)).toEqual(['+default/mine']);
      expect(sink.changes('EndpointSlice').map(summary)).toEqual(['+default/mine-1']);
      for (const kind of ['Service', 'EndpointSlice']) {
        for (const r of server.requests.filter((q) => q.kind === kind)) {
          expect(r.query.labelSelector).toBe('!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name');
        }
      }
      expect(PROXY_LABEL_SELECTOR).toBe('!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name');
    });

    it('sees a Service that is handed to another proxy as deleted, and one handed back as added', async () => {
      server.create('Service', service('web'));
      await startAndSync();
      const from = sink.mark();
      server.update('Service', service('web', { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }));
      server.create('Service', service('quiet', { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } }));
      server.update('Service', service('web'));
      await waitUntil(() => sink.changes('Service', from).length === 2, 'two changes');
      expect(sink.changes('Service', from).map(summary)).toEqual(['-default/web', '+default/web']);
    });
  });

  describe('a sink that throws', () => {
    it('does not break the stream: later events still arrive, without a reconnect', async () => {
      const errors: string[] = [];
      const original = sink.changed.bind(sink);
      sink.changed = (c) => {
        original(c);
        if (c.key === 'default/bad') throw new Error('sink bug');
      };
      await start({ log: (level, msg) => void (level === 'error' && errors.push(msg)) });
      await waitUntil(() => server.openWatches() === 4, 'watching');
      server.create('Service', service('bad'));
      server.create('Service', service('good'));
      await waitUntil(() => sink.changes('Service').length === 2, 'both delivered');
      expect(errors).toEqual(['Service sink threw on change of default/bad']);
      expect(server.requests.filter(watchesOf('Service'))).toHaveLength(1);
    });
  });

  describe('ServiceCIDRs, which API servers before 1.33 do not serve', () => {
    const cidr = { metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } };
    const lists = () => server.requests.filter((r) => r.kind === 'ServiceCIDR' && !r.watch).map((r) => r.status);

    it('a 404 counts as none, holds no sync back, and the list is tried again every 5 minutes until they are served', async () => {
      server.setServed('ServiceCIDR', false);
      clock.hold = true;
      server.create('Service', service('web'));
      await start();
      await waitUntil(() => sink.syncedKinds().length === 4, 'all kinds synced');
      expect(sink.problems()).toEqual([]);
      expect(lists()).toEqual([404]);
      expect(clock.delays).toEqual([ABSENT_RELIST_MS]);
      server.setServed('ServiceCIDR', true);
      server.create('ServiceCIDR', cidr);
      clock.release();
      await waitUntil(() => sink.changes('ServiceCIDR').length === 1, 'delivered once served');
      expect(sink.changes('ServiceCIDR')[0]!.current).toMatchObject(cidr);
      await waitUntil(() => server.openWatches('ServiceCIDR') === 1, 'watching');
      expect(lists()).toEqual([404, 200]);
    });

    it('a 403 (RBAC from before them) counts as none too; served and then gone again, their CIDRs go with them', async () => {
      server.create('ServiceCIDR', cidr);
      server.failNext(403, { kind: 'ServiceCIDR', watch: false });
      clock.hold = true;
      await start();
      await waitUntil(() => sink.syncedKinds().length === 4, 'all kinds synced');
      expect(sink.changes('ServiceCIDR')).toEqual([]);
      clock.release();
      await waitUntil(() => server.openWatches('ServiceCIDR') === 1, 'watching');
      expect(sink.changes('ServiceCIDR').map(summary)).toEqual(['+kubernetes']);
      // The API version is switched off: the relist after a 410 finds nothing there.
      server.setServed('ServiceCIDR', false);
      server.compact();
      server.watchError(410, 'ServiceCIDR');
      await waitUntil(() => sink.changes('ServiceCIDR').length === 2, 'the deletion');
      expect(sink.changes('ServiceCIDR').map(summary)).toEqual(['+kubernetes', '-kubernetes']);
      expect(lists()).toEqual([403, 200, 404]);
    });

    it('switched off while watched: the watch\'s 404 leads to a relist, which finds them gone', async () => {
      server.create('ServiceCIDR', cidr);
      await startAndSync();
      expect(sink.changes('ServiceCIDR').map(summary)).toEqual(['+kubernetes']);
      clock.hold = true;
      server.setServed('ServiceCIDR', false);
      server.dropWatches('ServiceCIDR');
      await waitUntil(() => clock.pending === 1, 'the reconnect is waiting');
      clock.release();
      await waitUntil(() => sink.changes('ServiceCIDR').length === 2, 'the deletion');
      expect(sink.changes('ServiceCIDR').map(summary)).toEqual(['+kubernetes', '-kubernetes']);
      expect(lists()).toEqual([200, 404]);
    });
  });

  describe('node', () => {
    it('lists and watches only this node, by field selector', async () => {
      server.create('Node', node(NODE));
      server.create('Node', node('node-2'));
      await startAndSync();
      const from = sink.mark();
      server.update('Node', node('node-2', 'b'));
      server.update('Node', node(NODE, 'c'));
      await waitUntil(() => sink.changes('Node', from).length === 1, 'own node change');

      expect(sink.changes('Node').map(summary)).toEqual([`+${NODE}`, `~${NODE}`]);
      for (const r of server.requests.filter((q) => q.kind === 'Node')) {
        expect(r.query.fieldSelector).toBe(`metadata.name=${NODE}`);
        expect(r.query.labelSelector).toBeUndefined();
      }
    });
  });

  describe('bookmarks', () => {
    it('are not delivered as changes', async () => {
      server.create('Service', service('web'));
      await startAndSync();
      const from = sink.mark();
      server.bookmark();
      server.create('Service', service('after'));
      await waitUntil(() => sink.changes('Service', from).length === 1, 'change after bookmark');
      expect(sink.changes(undefined, from).map(summary)).toEqual(['+default/after']);
    });
  });

  describe('reconnects', () => {
    it('resume from the last resourceVersion with exponential backoff, with no duplicate or missed event', async () => {
      server.create('Service', service('a'));
      await startAndSync();
      server.create('Service', service('b'));
      await waitUntil(() => sink.changes('Service').length === 2, 'b delivered');
      const lastSeen = server.resourceVersion;
      const from = sink.mark();

      // Two refused attempts after the drop; meanwhile the world moves on.
      server.failNext(503, { watch: true, kind: 'Service', times: 2 });
      server.dropWatches('Service');
      server.update('Service', service('a', { port: 81 }));
      server.create('Service', service('c'));
      server.delete('Service', 'default/b');
      await waitUntil(() => sink.changes('Service', from).length === 3, 'three changes after reconnect');
      await waitUntil(() => server.openWatches('Service') === 1, 'service watch open again');

      expect(sink.changes('Service', from).map(summary)).toEqual(['~default/a', '+default/c', '-default/b']);
      const watches = server.requests.filter(watchesOf('Service'));
      expect(watches.map((r) => [r.query.resourceVersion, r.status])).toEqual([
        [expect.any(String), 200],
        [lastSeen, 503],
        [lastSeen, 503],
        [lastSeen, 200],
      ]);
      expect(clock.delays).toEqual([100, 200, 400]);
      const problems = sink.problems('Service', from);
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(new RegExp(`Service: watch connection lost: .*; resuming from resourceVersion ${lastSeen} in 100 ms`));
      expect(problems[1]).toMatch(/503 ServiceUnavailable.* in 200 ms/);
      // No relist: the history was there to resume from.
      expect(server.requests.filter((r) => r.kind === 'Service' && !r.watch)).toHaveLength(1);
      // Nothing after the last event is delivered twice.
      server.create('Service', service('d'));
      await waitUntil(() => sink.changes('Service', from).length === 4, 'd');
      expect(sink.changes('Service', from).map(summary)).toEqual(['~default/a', '+default/c', '-default/b', '+default/d']);
    });

    it('reset the backoff once a watch has stayed up for the healthy period', async () => {
      await start({ backoff: { random: () => 0.5, resetAfterMs: 60_000 } });
      await waitUntil(() => server.openWatches('Node') === 1, 'node watch');
      for (let i = 0; i < 2; i++) {
        const n = server.requests.filter(watchesOf('Node')).length;
        server.dropWatches('Node');
        await waitUntil(() => server.requests.filter(watchesOf('Node')).length > n && server.openWatches('Node') === 1, 'reconnect');
      }
      expect(clock.delays).toEqual([100, 200]);
      clock.advance(60_000);
      server.dropWatches('Node');
      await waitUntil(() => clock.delays.length === 3, 'third reconnect');
      expect(clock.delays[2]).toBe(100);
    });

    it('resume at once, quietly, when the server ends a watch at its timeout', async () => {
      await startAndSync();
      const n = server.requests.filter(watchesOf('Service')).length;
      clock.advance(300_000);
      server.endWatches('Service');
      await waitUntil(() => server.requests.filter(watchesOf('Service')).length > n, 'rewatch');
      expect(sink.problems()).toEqual([]);
      expect(clock.delays).toEqual([]);
    });

    it('back off when the server ends watches long before their timeout', async () => {
      await startAndSync();
      server.endWatches('Service');
      await waitUntil(() => sink.problems('Service').length === 1, 'problem');
      expect(sink.problems('Service')[0]).toMatch(/watch closed by the server after \d+ ms; resuming from resourceVersion \d+ in 100 ms/);
    });

    it('resume from the same resourceVersion after an ERROR event other than 410', async () => {
      server.create('Service', service('web'));
      await startAndSync();
      const rv = server.resourceVersion;
      server.watchError(500, 'Service');
      await waitUntil(() => server.requests.filter(watchesOf('Service')).length === 2, 'rewatch');
      expect(server.requests.filter(watchesOf('Service'))[1]!.query.resourceVersion).toBe(rv);
      expect(sink.problems('Service')[0]).toMatch(/watch ERROR event 500 InternalError: injected watch error 500; resuming/);
      expect(server.requests.filter((r) => r.kind === 'Service' && !r.watch)).toHaveLength(1);
    });

    it('retry a failed initial list with backoff before sending synced', async () => {
      server.create('Service', service('web'));
      server.failNext(500, { watch: false, kind: 'Service', times: 2 });
      await start();
      await waitUntil(() => sink.syncedKinds().includes('Service'), 'Service synced');
      expect(sink.problems('Service')).toEqual([
        'Service: list failed: list /api/v1/services: 500 InternalError: injected failure 500 in 100 ms',
        'Service: list failed: list /api/v1/services: 500 InternalError: injected failure 500 in 200 ms',
      ]);
      expect(sink.changes('Service').map(summary)).toEqual(['+default/web']);
    });
  });

  describe.each(['event', 'http'] as const)('410 Gone as %s', (mode) => {
    it('relists and reports only what changed while the history was lost', async () => {
      server.setGoneMode(mode);
      server.create('Service', service('unchanged'));
      server.create('Service', service('changed'));
      server.create('Service', service('deleted'));
      server.create('Service', service('recreated'));
      await startAndSync();
      const from = sink.mark();

      // Disconnected, and held there while the server moves on and compacts its history.
      clock.hold = true;
      server.dropWatches('Service');
      await waitUntil(() => clock.pending === 1, 'retry scheduled');
      server.update('Service', service('changed', { port: 8080 }));
      server.delete('Service', 'default/deleted');
      server.delete('Service', 'default/recreated');
      server.create('Service', service('recreated'));
      server.create('Service', service('new'));
      server.compact();
      clock.release();

      await waitUntil(() => server.requests.filter((r) => r.kind === 'Service' && !r.watch).length === 2, 'relist');
      // The relist reads the latest, not a cache that could be older than what was seen.
      expect(server.requests.filter((r) => r.kind === 'Service' && !r.watch).map((r) => r.query.resourceVersion)).toEqual(['0', undefined]);
      await waitUntil(() => server.openWatches('Service') === 1, 'watching again');
      const changes = sink.changes('Service', from);
      expect(changes.map(summary).sort()).toEqual(['+default/new', '-default/deleted', '~default/changed', '~default/recreated']);
      const changed = changes.find((c) => c.key === 'default/changed')!;
      expect(changed.previous).toMatchObject({ spec: { ports: [{ port: 80 }] } });
      expect(changed.current).toMatchObject({ spec: { ports: [{ port: 8080 }] } });

      const problems = sink.problems('Service', from);
      expect(problems[problems.length - 1]).toMatch(mode === 'event' ? /expired \(ERROR 410 Expired: too old resource version.*relisting/ : /refused: watch \/api\/v1\/services: 410 Expired: too old resource version.*relisting/);
      // Watching again from the relist's resourceVersion; other kinds were not disturbed.
      expect(server.requests.filter(watchesOf('Service')).at(-1)!.query.resourceVersion).toBe(server.resourceVersion);
      expect(sink.syncedKinds()).toHaveLength(4);
      expect(server.requests.filter((r) => r.kind === 'EndpointSlice' && !r.watch)).toHaveLength(1);
    });
  });

  describe('slow responses', () => {
    it('are waited for, not treated as failures', async () => {
      server.create('Service', service('web'));
      server.setLatency(150);
      const t0 = Date.now();
      await startAndSync();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect(sink.changes('Service').map(summary)).toEqual(['+default/web']);
      expect(sink.problems()).toEqual([]);
    });

    it('do not hold up stop()', async () => {
      server.setLatency(10_000);
      await start();
      await waitUntil(() => server.requests.length === 4, 'four lists in flight');
      const t0 = Date.now();
      await source!.stop();
      expect(Date.now() - t0).toBeLessThan(500);
      await waitUntil(() => server.openConnections() === 0, 'server sees every connection closed');
      expect(sink.problems()).toEqual([]);
    });
  });

  describe('stop()', () => {
    const handles = (): Record<string, number> => {
      const counts: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
      return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0, immediates: counts.Immediate ?? 0 };
    };

    /** The counts once they stop moving: the previous test's server closes its held responses, whose timers clear as the connections close. */
    const settled = async (): Promise<Record<string, number>> => {
      let last = handles();
      for (let stable = 0, i = 0; stable < 3 && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 30));
        const now = handles();
        stable = JSON.stringify(now) === JSON.stringify(last) ? stable + 1 : 0;
        last = now;
      }
      return last;
    };

    it('leaves no socket, timer or pending retry behind', async () => {
      const before = await settled();
      server.create('Service', service('web'));
      await startAndSync();
      // One kind mid-retry, the others mid-watch.
      clock.hold = true;
      server.dropWatches('Node');
      await waitUntil(() => clock.pending === 1, 'node retry pending');
      await source!.stop();
      source = undefined;
      expect(clock.pending).toBe(0);
      await waitUntil(() => server.openConnections() === 0, 'server sees every connection closed');
      await waitUntil(() => handles().sockets === before.sockets, 'client sockets released');
      // None more than before: a timer of an earlier test's that outlived the settling (keep-alive,
      // longer than its 90 ms) may have run out meanwhile (once in CI: 1 timer before, 0 after).
      const after = await settled();
      for (const kind of Object.keys(before)) expect(after[kind], kind).toBeLessThanOrEqual(before[kind]!);
      // Nothing arrives after stop.
      const from = sink.mark();
      server.create('Service', service('late'));
      await new Promise((r) => setTimeout(r, 20));
      expect(sink.log.slice(from)).toEqual([]);
    });

    it('can be called before start and twice', async () => {
      const s = createKubernetesSource({ kubeconfig, nodeName: NODE, clock, contentType });
      await s.stop();
      await s.start(sink);
      await s.stop();
      await s.stop();
    });
  });
});
