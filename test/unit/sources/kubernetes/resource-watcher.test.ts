// One ResourceWatcher on its own, where its resourceVersion and cache can be looked at.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createJsonTransport,
  createProtobufTransport,
  ExponentialBackoff,
  loadKubeConfig,
  resourcesFor,
  ResourceWatcher,
  systemClock,
  type Clock,
} from '../../../../src/sources/kubernetes/index.js';
import type { ObjectChange } from '../../../../src/sources/types.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver.js';
import { service, slice, TestClock, waitUntil } from './helpers.js';

let server: FakeApiServer;
let watcher: ResourceWatcher | undefined;
const changes: ObjectChange[] = [];
const problems: string[] = [];

beforeEach(async () => {
  server = await startFakeApiServer();
  changes.length = 0;
  problems.length = 0;
});

afterEach(async () => {
  await watcher?.stop();
  watcher = undefined;
  await server.close();
});

type Encoding = 'json' | 'protobuf';

async function startWatcher(encoding: Encoding, kind: 'Service' | 'EndpointSlice', clock: Clock = new TestClock(), initialMs = 100): Promise<ResourceWatcher> {
  const kc = loadKubeConfig(await kubeconfigFor(server));
  const transport = encoding === 'json' ? createJsonTransport(kc) : createProtobufTransport(kc);
  watcher = new ResourceWatcher({
    resource: resourcesFor('node-1')[kind],
    transport,
    clock,
    backoff: new ExponentialBackoff({ initialMs, random: () => 0.5 }),
    healthyAfterMs: 60_000,
    watchTimeoutSeconds: () => 300,
    log: () => {},
    handler: {
      changed: (c) => changes.push(c),
      synced: () => {},
      problem: (m) => problems.push(m),
    },
  });
  watcher.start();
  await waitUntil(() => server.openWatches(kind) === 1, `${kind} watch open`);
  return watcher;
}

describe.each(['json', 'protobuf'] as const)('ResourceWatcher over %s', (encoding) => {
  it('takes the resourceVersion of a bookmark and resumes from it', async () => {
    const w = await startWatcher(encoding, 'EndpointSlice');
    const listRV = w.resourceVersion;
    expect(listRV).toBe(server.resourceVersion);
    server.create('Service', service('elsewhere'));
    server.bookmark('EndpointSlice');
    await waitUntil(() => w.resourceVersion === server.resourceVersion, 'bookmark resourceVersion taken');
    expect(w.resourceVersion).not.toBe(listRV);

    expect(server.requests.every((r) => r.encoding === encoding)).toBe(true);
    server.dropWatches('EndpointSlice');
    const rewatch = await server.waitForRequest((r) => r.watch && r.query.resourceVersion === w.resourceVersion);
    expect(rewatch.kind).toBe('EndpointSlice');
    expect(changes).toEqual([]);
  });

  it('keeps a cache equal to what the server selects', async () => {
    server.create('EndpointSlice', slice('a-1', { service: 'a' }));
    const w = await startWatcher(encoding, 'EndpointSlice');
    server.create('EndpointSlice', slice('b-1', { service: 'b' }));
    server.delete('EndpointSlice', 'default/a-1');
    await waitUntil(() => changes.length === 3, 'three changes');
    expect([...w.objects.keys()]).toEqual(['default/b-1']);
    expect(w.resourceVersion).toBe(server.resourceVersion);
    expect(w.synced).toBe(true);
  });

  it('stops promptly while waiting to retry, leaving no timer behind', async () => {
    const w = await startWatcher(encoding, 'Service', systemClock, 20_000);
    server.dropWatches('Service');
    await waitUntil(() => problems.length === 1, 'retry scheduled');
    expect(problems[0]).toMatch(/in 20000 ms$/);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const t0 = Date.now();
    await w.stop();
    watcher = undefined;
    // Not the 20 s retry timer.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(timersBefore - 1);
  });
});
