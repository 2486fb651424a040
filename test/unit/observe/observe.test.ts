import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  boundPort, Collected, CollectedHistogram, Counter, Gauge, HealthCheckServers, healthRoutes, HealthState, Histogram, HttpServers, listen, memoryLogger, nodeEligible, proxyMetrics, Registry, setNoLocalEndpoints, syncObserver,
} from '../../../src/observe/index.js';
import { buildDesiredState } from '../../../src/model/index.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('metrics registry', () => {
  it('renders the Prometheus text format with labels, escaping and histogram buckets', () => {
    const r = new Registry();
    const c = r.register(new Counter('x_total', 'things'));
    c.inc({ code: '200' });
    c.inc({ code: '200' }, 2);
    c.inc({ path: 'a"b\\c' });
    r.register(new Gauge('g', 'a gauge', () => [{ labels: { reason: 'no_backend' }, value: 7 }]));
    const h = r.register(new Histogram('h_seconds', 'latency', [0.1, 1]));
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    expect(r.render()).toBe([
      '# HELP x_total things', '# TYPE x_total counter', 'x_total{code="200"} 3', 'x_total{path="a\\"b\\\\c"} 1',
      '# HELP g a gauge', '# TYPE g gauge', 'g{reason="no_backend"} 7',
      '# HELP h_seconds latency', '# TYPE h_seconds histogram',
      'h_seconds_bucket{le="0.1"} 1', 'h_seconds_bucket{le="1"} 2', 'h_seconds_bucket{le="+Inf"} 3', 'h_seconds_sum 5.55', 'h_seconds_count 3', '',
    ].join('\n'));
    expect(() => r.register(new Counter('x_total', 'again'))).toThrow(/registered twice/);
  });

  it('a histogram read at scrape time (a dataplane\'s): _bucket{le} per bound and +Inf, _sum, _count, by series', () => {
    const r = new Registry();
    const h = new Histogram('src_seconds', 'kept elsewhere', [0.001, 0.002, 0.004]);
    h.observe(0.0015, { ip_family: 'IPv4' });
    h.observe(0.5, { ip_family: 'IPv4' });
    h.observe(0.001, { ip_family: 'IPv6' });
    let samples = h.samples();
    r.register(new CollectedHistogram('kubeproxy_conntrack_reconciler_sync_duration_seconds', 'ReconcileConntrackFlowsLatency latency in seconds', [0.001, 0.002, 0.004], () => samples));
    expect(r.render()).toBe([
      '# HELP kubeproxy_conntrack_reconciler_sync_duration_seconds ReconcileConntrackFlowsLatency latency in seconds',
      '# TYPE kubeproxy_conntrack_reconciler_sync_duration_seconds histogram',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="0.002"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="0.004"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} 2',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_sum{ip_family="IPv4"} 0.5015',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family="IPv4"} 2',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv6",le="0.001"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv6",le="0.002"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv6",le="0.004"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_bucket{ip_family="IPv6",le="+Inf"} 1',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_sum{ip_family="IPv6"} 0.001',
      'kubeproxy_conntrack_reconciler_sync_duration_seconds_count{ip_family="IPv6"} 1',
      '',
    ].join('\n'));
    // Copies: what was read is not changed by later observations; no series, just the header.
    h.observe(1, { ip_family: 'IPv6' });
    expect(samples[1]!.value).toBe(1);
    samples = [];
    expect(r.render()).toBe('# HELP kubeproxy_conntrack_reconciler_sync_duration_seconds ReconcileConntrackFlowsLatency latency in seconds\n# TYPE kubeproxy_conntrack_reconciler_sync_duration_seconds histogram\n');
  });

  it('metrics read at scrape time keep their declared type', () => {
    const r = new Registry();
    let n = 0;
    r.register(new Collected('ekp_drops_total', 'drops', 'counter', () => [{ labels: { reason: 'no_backend' }, value: ++n }]));
    expect(r.render()).toBe('# HELP ekp_drops_total drops\n# TYPE ekp_drops_total counter\nekp_drops_total{reason="no_backend"} 1\n');
    expect(r.render()).toMatch(/ 2\n$/);
  });

  it('a source shared by several metrics is read once per scrape, and afresh on every one', () => {
    const r = new Registry();
    let reads = 0;
    let read = { a: 0, b: 0 };
    r.onScrape(() => {
      reads++;
      read = { a: reads, b: reads * 10 };
    });
    r.register(new Collected('ekp_a', 'a', 'counter', () => [{ labels: {}, value: read.a }]));
    r.register(new Collected('ekp_b', 'b', 'counter', () => [{ labels: {}, value: read.b }]));
    expect(r.render()).toMatch(/^ekp_a 1$[^]*^ekp_b 10$/m);
    // A scrape at once after another still reads anew (what came in between counts).
    expect(r.render()).toMatch(/^ekp_a 2$[^]*^ekp_b 20$/m);
    expect(reads).toBe(2);
  });
});

describe('health', () => {
  let t = 0;
  const now = () => t;
  const servers: { close(): void }[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('a Node being deleted or tainted for scale-down is not eligible; any other is, and so is none', () => {
    expect(nodeEligible({ metadata: { name: 'n1' }, spec: { taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] } })).toBe(true);
    expect(nodeEligible({ metadata: { name: 'n1', deletionTimestamp: '2026-11-23T10:00:00Z' } })).toBe(false);
    expect(nodeEligible({ metadata: { name: 'n1' }, spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', value: '1700000000', effect: 'NoSchedule' }] } })).toBe(false);
    expect(nodeEligible({ metadata: { name: 'n1' }, spec: { taints: 'garbage' } })).toBe(true);
    expect(nodeEligible(null)).toBe(true);
  });

  it('unhealthy before the first sync, healthy after, unhealthy when a queued change waits too long', () => {
    t = 1000;
    const h = new HealthState(60_000, now);
    expect(h.healthy()).toBe(false);
    h.updated();
    expect(h.healthy()).toBe(true);
    h.queued();
    t += 59_999;
    expect(h.healthy()).toBe(true);
    t += 1;
    expect(h.healthy()).toBe(false);
    h.updated();
    expect(h.healthy()).toBe(true);
  });

  it('/healthz and /livez answer as kube-proxy does, counting codes', async () => {
    t = Date.parse('2026-01-01T00:00:00Z');
    const h = new HealthState(60_000, now);
    const m = proxyMetrics();
    const server = (await listen('127.0.0.1:0', healthRoutes(h, { healthz: m.healthzTotal, livez: m.livezTotal })))!;
    servers.push(server);
    const base = `http://127.0.0.1:${boundPort(server)}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    h.updated();
    const ok = await fetch(`${base}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ lastUpdated: '2026-01-01T00:00:00.000Z', currentTime: '2026-01-01T00:00:00.000Z', nodeEligible: true });
    h.nodeEligible = false;
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect(m.healthzTotal.get({ code: '503' })).toBe(2);
    expect(m.healthzTotal.get({ code: '200' })).toBe(1);
  });

  it('0.0.0.0 is every address of both families, as in Go (kube-proxy\'s config): /healthz and healthCheckNodePorts answer over IPv6 too', async () => {
    const h = new HealthState(60_000, () => 1);
    h.updated();
    const m = proxyMetrics();
    const server = (await listen('0.0.0.0:0', healthRoutes(h, { healthz: m.healthzTotal, livez: m.livezTotal })))!;
    servers.push(server);
    const port = boundPort(server);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
    const hc = new HealthCheckServers(() => true, '0.0.0.0');
    const p = await freePort();
    await hc.sync(new Map([[p, { namespace: 'shop', name: 'web', localEndpoints: 1 }]]));
    try {
      expect((await fetch(`http://[::1]:${p}/`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${p}/`)).status).toBe(200);
    } finally {
      await hc.close();
    }
    // An address of one family stays that family's.
    const v4 = (await listen('127.0.0.1:0', healthRoutes(h, { healthz: m.healthzTotal, livez: m.livezTotal })))!;
    servers.push(v4);
    await expect(fetch(`http://[::1]:${boundPort(v4)}/healthz`)).rejects.toThrow();
  });

  it('healthCheckNodePort servers: 200 with local ready endpoints, 503 without or when the proxy is unhealthy', async () => {
    let proxyHealthy = true;
    const hc = new HealthCheckServers(() => proxyHealthy, '127.0.0.1');
    const [p1, p2] = [await freePort(), await freePort()];
    await hc.sync(new Map([[p1, { namespace: 'shop', name: 'web', localEndpoints: 2 }], [p2, { namespace: 'shop', name: 'api', localEndpoints: 0 }]]));
    const r1 = await fetch(`http://127.0.0.1:${p1}/`);
    expect(r1.status).toBe(200);
    expect(r1.headers.get('x-load-balancing-endpoint-weight')).toBe('2');
    expect(await r1.json()).toEqual({ service: { namespace: 'shop', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });
    expect((await fetch(`http://127.0.0.1:${p2}/`)).status).toBe(503);
    proxyHealthy = false;
    expect((await fetch(`http://127.0.0.1:${p1}/`)).status).toBe(503);
    proxyHealthy = true;
    // Only terminating endpoints left: kube-proxy fails the check so the LB drains the node.
    await hc.sync(new Map([[p1, { namespace: 'shop', name: 'web', localEndpoints: 0 }]]));
    expect((await fetch(`http://127.0.0.1:${p1}/`)).status).toBe(503);
    expect(hc.ports()).toEqual([p1]);
    await expect(fetch(`http://127.0.0.1:${p2}/`)).rejects.toThrow();
    await hc.close();
  });
});

describe('kubeproxy_sync_proxy_rules_no_local_endpoints_total', () => {
  it('counts Local-policy service ports whose endpoints are all elsewhere, per policy; none without endpoints at all', () => {
    const remote = (name: string) => slice({ service: name, endpoints: [ep('10.244.2.6', { node: 'node-b' })] });
    const local = (name: string) => slice({ service: name, endpoints: [ep('10.244.1.5', { node: 'node-a' })] });
    const itp = (name: string, ip: string) => svc({ name, spec: { clusterIP: ip, clusterIPs: [ip], internalTrafficPolicy: 'Local' } });
    const etp = (name: string, ip: string, nodePort: number) => svc({ name, spec: { type: 'NodePort', clusterIP: ip, clusterIPs: [ip], externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort, targetPort: 8080, protocol: 'TCP' }] } });
    const { state } = buildDesiredState({
      services: [itp('a', '10.96.0.1'), itp('b', '10.96.0.2'), itp('c', '10.96.0.3'), etp('d', '10.96.0.4', 30001), etp('e', '10.96.0.5', 30002)],
      endpointSlices: [remote('a'), local('b'), remote('d'), local('e')], // c has none at all: rejected, not dropped
      node: NODE,
    });
    const m = proxyMetrics();
    setNoLocalEndpoints(m, state);
    expect(m.noLocalEndpoints.get({ traffic_policy: 'internal' })).toBe(1);
    expect(m.noLocalEndpoints.get({ traffic_policy: 'external' })).toBe(1);
    expect(m.registry.render()).toMatch(/kubeproxy_sync_proxy_rules_no_local_endpoints_total\{traffic_policy="internal"\} 1/);
  });
});

describe('syncObserver', () => {
  it('feeds kube-proxy metrics, health and logs from sync reports', () => {
    let t = 10_000;
    const m = proxyMetrics();
    const h = new HealthState(60_000, () => t);
    const log = memoryLogger();
    const o = syncObserver(m, h, log, () => t);
    o.queued!('endpoints', { service: 0, endpoints: 1 });
    o.queued!('service', { service: 1, endpoints: 1 });
    o.queued!('service', { service: 1, endpoints: 1 }); // the same Service again
    expect(m.endpointChangesPending.get()).toBe(1);
    expect(m.serviceChangesPending.get()).toBe(1);
    expect(m.serviceChangesTotal.get()).toBe(2);
    t = 12_000;
    o.synced!({ full: false, durationMs: 3, changedServicePorts: 1, servicePorts: 5, triggerTimesMs: [10_000, 11_000], pending: { service: 0, endpoints: 0 }, error: null });
    expect(m.endpointChangesPending.get()).toBe(0);
    expect(m.serviceChangesPending.get()).toBe(0);
    expect(m.syncPartialDuration.count()).toBe(1);
    // One observation per change, as kube-proxy's: 2 s and 1 s.
    expect(m.programmingDuration.count()).toBe(2);
    expect(m.registry.render()).toMatch(/kubeproxy_network_programming_duration_seconds_sum 3\n/);
    expect(h.healthy()).toBe(true);
    // What the sync did not take (it came while the sync ran, or the sync failed) stays pending.
    o.synced!({ full: true, durationMs: 3, changedServicePorts: 5, servicePorts: 5, triggerTimesMs: [], pending: { service: 2, endpoints: 1 }, error: new Error('boom') });
    expect(m.syncFailures.get()).toBe(1);
    expect([m.serviceChangesPending.get(), m.endpointChangesPending.get()]).toEqual([2, 1]);
    o.skipped!('Service a/b', 'headless');
    expect(log.lines.map((l) => l.msg)).toEqual(['synced', 'sync failed; the next sync is full', 'skipping']);
  });
});

describe('HttpServers (health and metrics, as kube-proxy runs them)', () => {
  const routes = { '/healthz': (_req: unknown, res: { writeHead(c: number): { end(b: string): void } }) => res.writeHead(200).end('ok') } as never;

  /** A port another server holds, as a kube-proxy still running on the node would. */
  const heldPort = async () => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
    return { port, squatter };
  };

  it('a port another process holds (a kube-proxy still running): logged and tried again until it is free, the proxy running on', async () => {
    const { port, squatter } = await heldPort();
    const log = memoryLogger();
    const servers = new HttpServers(false, log, 50);
    try {
      expect(await servers.serve('health', `127.0.0.1:${port}`, routes)).toBe(true);
      expect(log.lines.find((l) => l.level === 'error')?.msg).toBe('cannot serve health; trying again every 0.05 s');
      await new Promise<void>((r) => squatter.close(() => r()));
      const deadline = Date.now() + 3000;
      let body = '';
      while (Date.now() < deadline && body !== 'ok') {
        body = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.text(), () => '');
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(body).toBe('ok');
      expect(log.lines.some((l) => l.msg === 'serving health now')).toBe(true);
    } finally {
      servers.close();
      squatter.close();
    }
  });

  it('with bindAddressHardFail it is fatal', async () => {
    const { port, squatter } = await heldPort();
    const log = memoryLogger();
    const servers = new HttpServers(true, log, 50);
    try {
      expect(await servers.serve('metrics', `127.0.0.1:${port}`, routes)).toBe(false);
      expect(log.lines.find((l) => l.level === 'error')).toMatchObject({ msg: 'cannot serve metrics; exiting (bindAddressHardFail)', bindAddress: `127.0.0.1:${port}` });
    } finally {
      servers.close();
      squatter.close();
    }
  });
});
