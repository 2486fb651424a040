import { describe, expect, it } from 'vitest';
import { FakeClock, SyncLoop, type StateUpdate, type SyncReport } from '../../../src/tracker/index.js';
import { deepEqual } from '../../../src/tracker/sync-loop.js';
import { ObjectStore } from '../../../src/tracker/store.js';
import type { ObjectChange } from '../../../src/sources/types.js';
import type { DesiredService, NodeContext } from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

function setup(opts: { failApplies?: number; nodeContext?: () => NodeContext; wallNow?: () => number; applyGate?: () => Promise<void>; minSyncPeriodMs?: number } = {}) {
  const clock = new FakeClock();
  const applies: { changed: string[] | 'all'; keys: string[] }[] = [];
  /** The state each apply was handed (the loop's own map, updated in place: copied). */
  const states: Map<string, DesiredService>[] = [];
  const cidrs: unknown[] = [];
  const reports: SyncReport[] = [];
  const skipped: string[] = [];
  const queued: SyncReport['pending'][] = [];
  let failures = opts.failApplies ?? 0;
  const loop = new SyncLoop({
    consumer: {
      async apply(u: StateUpdate) {
        applies.push({ changed: u.changed === 'all' ? 'all' : [...u.changed].sort(), keys: [...u.state.services.keys()].sort() });
        states.push(new Map(u.state.services));
        cidrs.push(u.state.serviceCIDRs);
        await opts.applyGate?.();
        if (failures-- > 0) throw new Error('kernel said no');
      },
    },
    nodeContext: opts.nodeContext ?? (() => NODE),
    minSyncPeriodMs: opts.minSyncPeriodMs ?? 1000,
    syncPeriodMs: 30_000,
    clock,
    ...(opts.wallNow ? { wallNow: opts.wallNow } : {}),
    observer: { synced: (r) => reports.push(r), skipped: (o, why) => skipped.push(`${o}: ${why}`), queued: (_k, p) => queued.push(p) },
  });
  const change = (kind: ObjectChange['kind'], key: string, previous: unknown, current: unknown) =>
    loop.changed({ kind, key, previous, current });
  const tick = async (ms = 1000) => {
    clock.advance(ms);
    await settle();
  };
  const listAll = () => {
    loop.synced('Service');
    loop.synced('EndpointSlice');
    loop.synced('Node');
    loop.synced('ServiceCIDR');
  };
  return { loop, applies, states, cidrs, reports, skipped, queued, change, tick, listAll, clock };
}

const web = svc();
const np = svc({ name: 'np', spec: { type: 'NodePort', clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40'], ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080, protocol: 'TCP' }] } });
const webSlice = slice({ endpoints: [ep('10.244.1.5', { node: 'node-a' })] });
const api = svc({ name: 'api', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'] } });
const apiSlice = slice({ service: 'api', endpoints: [ep('10.244.2.7')] });

describe('SyncLoop', () => {
  it('waits for every kind to list, then syncs everything once, fully', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.loop.synced('Service');
    t.loop.synced('EndpointSlice');
    t.loop.synced('ServiceCIDR');
    await t.tick();
    expect(t.applies).toEqual([]);
    t.loop.synced('Node');
    await t.tick(0);
    expect(t.applies).toEqual([{ changed: 'all', keys: ['default/web:http'] }]);
    expect(t.reports[0]).toMatchObject({ full: true, servicePorts: 1, error: null });
    await t.loop.stop();
  });

  it('changes coming more often than syncPeriod do not hold the full sync off: one at least every syncPeriod', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.listAll();
    await t.tick(0);
    let prev = webSlice;
    for (let i = 0; i < 12; i++) {
      // A change every 10 s: each run re-arms the runner's periodic timer.
      const next = slice({ endpoints: [ep('10.244.1.5'), ep(`10.244.1.${10 + i}`)] });
      t.change('EndpointSlice', 'default/web-abc', prev, next);
      prev = next;
      await t.tick(10_000);
    }
    const fullAt = t.reports.map((r, i) => [i, r.full] as const).filter(([, f]) => f).map(([i]) => i);
    // 120 s of runs 10 s apart: the first, then the first run 30 s or more after the last full one.
    expect(fullAt.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < fullAt.length; i++) expect(fullAt[i]! - fullAt[i - 1]!).toBeLessThanOrEqual(4);
    await t.loop.stop();
  });

  it('an EndpointSlice change hands over only its service\'s ports', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('Service', 'default/api', null, api);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.change('EndpointSlice', 'default/api-abc', null, apiSlice);
    t.listAll();
    await t.tick(0);
    const scaled = slice({ endpoints: [ep('10.244.1.5'), ep('10.244.1.6')] });
    t.change('EndpointSlice', 'default/web-abc', webSlice, scaled);
    await t.tick();
    expect(t.applies.at(-1)).toEqual({ changed: ['default/web:http'], keys: ['default/api:http', 'default/web:http'] });
    expect(t.reports.at(-1)).toMatchObject({ full: false, changedServicePorts: 1, servicePorts: 2 });
    await t.loop.stop();
  });

  it('drops no-op changes: a new resourceVersion alone never reaches the dataplane', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.listAll();
    await t.tick(0);
    const bumped = { ...webSlice, metadata: { ...(webSlice.metadata as object), resourceVersion: '999' } };
    t.change('EndpointSlice', 'default/web-abc', webSlice, bumped);
    // A real change that maps to the same desired state (a label nobody reads) is also dropped at the diff.
    t.change('Service', 'default/web', web, { ...web, metadata: { ...(web.metadata as object), labels: { team: 'a' } } });
    await t.tick(5000);
    expect(t.applies).toHaveLength(1);
    await t.loop.stop();
  });

  it('deleting a Service removes its ports; a slice that moves marks both services', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('Service', 'default/api', null, api);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.listAll();
    await t.tick(0);
    const moved = slice({ name: 'web-abc', service: 'api', endpoints: [ep('10.244.9.9')] });
    t.change('EndpointSlice', 'default/web-abc', webSlice, moved);
    await t.tick();
    expect(t.applies.at(-1)?.changed).toEqual(['default/api:http', 'default/web:http']);
    t.change('Service', 'default/web', web, null);
    await t.tick();
    expect(t.applies.at(-1)).toEqual({ changed: ['default/web:http'], keys: ['default/api:http'] });
    await t.loop.stop();
  });

  it('a failed apply is retried as a full sync', async () => {
    const t = setup({ failApplies: 2 });
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    await t.tick(1000);
    await t.tick(1000);
    expect(t.applies.map((a) => a.changed)).toEqual(['all', 'all', 'all']);
    expect(t.reports.map((r) => r.error?.message ?? null)).toEqual(['kernel said no', 'kernel said no', null]);
    // The change stays pending until a sync puts it in the kernel.
    expect(t.reports.map((r) => r.pending)).toEqual([{ service: 1, endpoints: 0 }, { service: 1, endpoints: 0 }, { service: 0, endpoints: 0 }]);
    await t.loop.stop();
  });

  it('a change that comes while a sync writes is pending after it, and the next sync takes it', async () => {
    let release = () => {};
    let gated = true;
    const t = setup({ applyGate: () => (gated ? new Promise<void>((r) => (release = r)) : Promise.resolve()) });
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    expect(t.applies).toHaveLength(1);
    // Twice, one object: pending counts objects, as kube-proxy's trackers do.
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    t.change('EndpointSlice', 'default/web-abc', webSlice, slice({ endpoints: [ep('10.244.1.6', { node: 'node-a' })] }));
    // While the first sync writes, only what came since it started is pending, by object.
    expect(t.queued.slice(-2)).toEqual([{ service: 0, endpoints: 1 }, { service: 0, endpoints: 1 }]);
    gated = false;
    release();
    await t.tick(0);
    expect(t.reports[0]!.pending).toEqual({ service: 0, endpoints: 1 });
    await t.tick(1000);
    expect(t.applies.map((a) => a.changed)).toEqual(['all', ['default/web:http']]);
    expect(t.reports[1]!.pending).toEqual({ service: 0, endpoints: 0 });
    await t.loop.stop();
  });

  it('minSyncPeriod 0 syncs a change at once, and still tries a failed write again only a second later', async () => {
    const t = setup({ minSyncPeriodMs: 0, failApplies: 1 });
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    await t.tick(999);
    expect(t.applies).toHaveLength(1);
    await t.tick(1);
    expect(t.applies).toHaveLength(2);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    await t.tick(0);
    expect(t.applies.map((a) => a.changed)).toEqual(['all', 'all', ['default/web:http']]);
    await t.loop.stop();
  });

  it('syncPeriod brings a full resync; a Node change forces one', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    await t.tick(30_000);
    expect(t.applies.map((a) => a.changed)).toEqual(['all', 'all']);
    t.change('Node', 'node-a', null, { metadata: { name: 'node-a', labels: { zone: 'b' } } });
    await t.tick(1000);
    expect(t.applies.map((a) => a.changed)).toEqual(['all', 'all', 'all']);
    await t.loop.stop();
  });

  it('a full sync rebuilds only what changed: unchanged Services keep their state; a new node context rebuilds all', async () => {
    const clock = new FakeClock();
    // The state's map is the loop's own, updated in place: keep a copy of each.
    const states: { services: ReadonlyMap<string, DesiredService> }[] = [];
    // The node's addresses come from the Node object, as the daemon's nodeContext does.
    const nodeContext = (node: unknown) => (node === null ? NODE : { ...NODE, nodeAddresses: ['192.168.1.99'] });
    const loop = new SyncLoop({
      consumer: { apply: async (u) => void states.push({ services: new Map(u.state.services) }) },
      nodeContext,
      minSyncPeriodMs: 1000,
      syncPeriodMs: 30_000,
      clock,
    });
    const npSlice = slice({ service: 'np', endpoints: [ep('10.244.4.4')] });
    loop.changed({ kind: 'Service', key: 'default/web', previous: null, current: web });
    loop.changed({ kind: 'EndpointSlice', key: 'default/web-abc', previous: null, current: webSlice });
    loop.changed({ kind: 'Service', key: 'default/np', previous: null, current: np });
    loop.changed({ kind: 'EndpointSlice', key: 'default/np-abc', previous: null, current: npSlice });
    for (const k of ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'] as const) loop.synced(k);
    const tick = async (ms: number) => {
      clock.advance(ms);
      for (let i = 0; i < 10; i++) await Promise.resolve();
    };
    await tick(0);
    const scaled = slice({ service: 'np', endpoints: [ep('10.244.4.4'), ep('10.244.4.5')] });
    loop.changed({ kind: 'EndpointSlice', key: 'default/np-abc', previous: npSlice, current: scaled });
    await tick(1000); // the partial sync
    await tick(30_000); // the periodic full one
    const [first, , periodic] = states;
    expect(states).toHaveLength(3);
    expect(periodic!.services.get('default/web:http')).toBe(first!.services.get('default/web:http'));
    expect(periodic!.services.get('default/np:http')).not.toBe(first!.services.get('default/np:http'));
    expect(periodic!.services.get('default/np:http')?.internalBackends.backends).toHaveLength(2);

    loop.changed({ kind: 'Node', key: 'node-a', previous: null, current: { metadata: { name: 'node-a' } } });
    await tick(1000);
    const afterNode = states.at(-1)!;
    expect(afterNode.services.get('default/web:http')).not.toBe(periodic!.services.get('default/web:http'));
    expect(afterNode.services.get('default/web:http')).toEqual(periodic!.services.get('default/web:http'));
    expect(afterNode.services.get('default/np:http')?.frontends.filter((f) => f.kind === 'nodePort').map((f) => f.address)).toEqual(['192.168.1.99']);
    await loop.stop();
  });

  it('an interface address that comes without a Node event: the next sync, whatever started it, is full and serves NodePorts on it', async () => {
    let addresses = ['192.168.1.10'];
    const t = setup({ nodeContext: () => ({ ...NODE, nodeAddresses: addresses }) });
    t.change('Service', 'default/np', null, np);
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    const nodePorts = () => t.states.at(-1)!.get('default/np:http')?.frontends.filter((f) => f.kind === 'nodePort').map((f) => f.address);
    expect(nodePorts()).toEqual(['192.168.1.10']);

    addresses = ['192.168.1.10', '10.0.5.1'];
    // Only web's slice changed; np was not touched, yet its NodePorts change.
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    await t.tick(1000);
    expect(t.applies).toHaveLength(2);
    expect(t.applies[1]!.changed).toBe('all');
    expect(nodePorts()).toEqual(['10.0.5.1', '192.168.1.10']);
    await t.loop.stop();
  });

  it('network programming times: one per endpoint change since start; none for a change from before start, nor for a deleted slice', async () => {
    const t = setup({ wallNow: () => Date.parse('2026-01-01T10:00:00Z') });
    const at = (iso: string, endpoints: string[]) => {
      const s = slice({ endpoints: endpoints.map((ip) => ep(ip)) });
      (s.metadata as Record<string, unknown>).annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': iso };
      return s;
    };
    // Listed at start: a slice last changed a day ago is not a change of ours to time.
    const old = at('2025-12-31T10:00:00Z', ['10.244.1.1']);
    t.change('Service', 'default/web', null, web);
    t.change('EndpointSlice', 'default/web-abc', null, old);
    t.listAll();
    await t.tick(0);
    expect(t.reports.at(-1)!.triggerTimesMs).toEqual([]);

    const a = at('2026-01-01T10:00:05Z', ['10.244.1.1', '10.244.1.2']);
    const b = at('2026-01-01T10:00:06Z', ['10.244.1.2']);
    t.change('EndpointSlice', 'default/web-abc', old, a);
    t.change('EndpointSlice', 'default/web-abc', a, b);
    await t.tick(1000);
    expect(t.reports.at(-1)!.triggerTimesMs).toEqual([Date.parse('2026-01-01T10:00:05Z'), Date.parse('2026-01-01T10:00:06Z')]);

    // A change, then its slice deleted before the sync: the deletion's annotation is the slice's
    // last update, not when it went, so the Service's pending times go untimed.
    const c = at('2026-01-01T10:00:09Z', ['10.244.1.3']);
    t.change('EndpointSlice', 'default/web-abc', b, c);
    t.change('EndpointSlice', 'default/web-abc', c, null);
    await t.tick(1000);
    expect(t.reports.at(-1)!.triggerTimesMs).toEqual([]);
    await t.loop.stop();
  });

  it('bursts coalesce: 100 changes within minSyncPeriod make one partial sync', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    let prev: unknown = null;
    for (let i = 0; i < 100; i++) {
      const s = slice({ endpoints: [ep(`10.244.3.${i + 1}`)] });
      t.change('EndpointSlice', 'default/web-abc', prev, s);
      prev = s;
    }
    await t.tick(1000);
    expect(t.applies).toHaveLength(2);
    await t.loop.stop();
  });

  it('malformed objects are reported once and the rest still programmed', async () => {
    const t = setup();
    const bad = svc({ name: 'bad', spec: { clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'], ports: [{ name: 'x', port: 'eighty', protocol: 'TCP' }, { name: 'y', port: 81, protocol: 'TCP' }] } });
    t.change('Service', 'default/bad', null, bad);
    t.change('Service', 'default/web', null, web);
    t.listAll();
    await t.tick(0);
    await t.tick(30_000);
    expect(t.applies.at(-1)?.keys).toEqual(['default/bad:y', 'default/web:http']);
    expect(t.skipped).toHaveLength(1);
    expect(t.skipped[0]).toMatch(/Service default\/bad spec\.ports\[0\]\.port/);
    await t.loop.stop();
  });
});

describe('deepEqual', () => {
  it.each([
    [{ a: [1, { b: 'x' }] }, { a: [1, { b: 'x' }] }, true],
    [{ a: [1, { b: 'x' }] }, { a: [1, { b: 'y' }] }, false],
    [{ a: 1 }, { a: 1, b: undefined }, false],
    [[1, 2], { 0: 1, 1: 2 }, false],
    [null, {}, false],
    [[], [], true],
  ])('%j vs %j → %s', (a, b, same) => expect(deepEqual(a, b)).toBe(same));
});

describe('ObjectStore', () => {
  const node = (name: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

  it('keeps only this node\'s Node object: another one, or another one\'s deletion, changes nothing', () => {
    const s = new ObjectStore('node-a');
    s.apply({ kind: 'Node', key: 'node-a', previous: null, current: node('node-a') });
    s.apply({ kind: 'Node', key: 'node-b', previous: null, current: node('node-b') });
    expect(s.node).toEqual(node('node-a'));
    s.apply({ kind: 'Node', key: 'node-b', previous: node('node-b'), current: null });
    expect(s.node).toEqual(node('node-a'));
    s.apply({ kind: 'Node', key: 'node-a', previous: node('node-a'), current: null });
    expect(s.node).toBeNull();
  });

  it('without a node name (a source that lists only this node), any Node is this one', () => {
    const s = new ObjectStore();
    s.apply({ kind: 'Node', key: 'x', previous: null, current: node('x') });
    expect(s.node).toEqual(node('x'));
  });

  it('ServiceCIDRs go with every apply; a change to one makes a full sync, and a bad entry is said once', async () => {
    const t = setup();
    t.change('Service', 'default/web', null, web);
    t.change('ServiceCIDR', 'kubernetes', null, { metadata: { name: 'kubernetes' }, spec: { cidrs: ['10.96.0.0/16', 'fd00:96::/112'] } });
    t.listAll();
    await t.tick(0);
    expect(t.cidrs).toEqual([{ 4: ['10.96.0.0/16'], 6: ['fd00:96::/112'] }]);
    t.change('EndpointSlice', 'default/web-abc', null, webSlice);
    await t.tick();
    expect(t.applies[1]!.changed).toEqual(['default/web:http']);
    expect(t.cidrs[1]).toEqual({ 4: ['10.96.0.0/16'], 6: ['fd00:96::/112'] });
    const bad = { metadata: { name: 'extra' }, spec: { cidrs: ['10.100.0.0/24', 'bad'] } };
    t.change('ServiceCIDR', 'extra', null, bad);
    await t.tick();
    expect(t.applies[2]!.changed).toBe('all');
    expect(t.cidrs[2]).toEqual({ 4: ['10.100.0.0/24', '10.96.0.0/16'], 6: ['fd00:96::/112'] });
    t.change('Service', 'default/api', null, api);
    await t.tick();
    expect(t.skipped.filter((s) => s.startsWith('ServiceCIDR'))).toEqual([expect.stringMatching(/^ServiceCIDR extra: spec\.cidrs\[1\]: must be a CIDR/)]);
    t.change('ServiceCIDR', 'extra', bad, null);
    t.change('ServiceCIDR', 'kubernetes', { metadata: { name: 'kubernetes' } }, null);
    await t.tick();
    expect(t.applies.at(-1)!.changed).toBe('all');
    expect(t.cidrs.at(-1)).toEqual({ 4: [], 6: [] });
    await t.loop.stop();
  });
});
