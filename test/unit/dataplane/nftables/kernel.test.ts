// The generated ruleset in a real kernel, inside a test network namespace: `nft -c`, then for
// real; `nft list table` shows it; partial syncs, periodic and hourly full syncs over a drifted
// table, a flushed table, and cleanup.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { cleanupNftables, NftablesDataplane, renderFull } from '../../../../src/dataplane/nftables/index.js';
import { FULL_SYNC_PERIOD_MS } from '../../../../src/dataplane/full-sync.js';
import type { DataplaneContext } from '../../../../src/dataplane/types.js';
import { memoryLogger } from '../../../../src/observe/index.js';
import { kernelIt } from '../../../support/capability.js';
import { sweepStaleNetns, TestNetns } from '../../../support/netns.js';
import { ep, slice, svc } from '../../model/fixtures.js';
import { build, STATES, twoEps } from './states.js';

const it = kernelIt();
const OPTS = { masqueradeBit: 14 };

describe('nftables ruleset in the kernel', () => {
  let ns: TestNetns;
  let ctx: DataplaneContext;
  const nft = (...args: string[]) => ns.exec(['nft', ...args]);

  beforeAll(() => {
    if (process.getuid?.() !== 0) return;
    sweepStaleNetns();
    ns = TestNetns.create('nft');
    ctx = { config: { masqueradeBit: 14 } as DataplaneContext['config'], log: memoryLogger(), nodeAddresses: () => [] };
  });
  afterAll(() => ns?.destroy());

  it('every golden state passes nft -c and loads', () => {
    for (const [name, make] of Object.entries(STATES)) {
      const text = renderFull(make(), OPTS);
      expect(() => ns.exec(['nft', '-c', '-f', '-'], text), name).not.toThrow();
      ns.exec(['nft', '-f', '-'], text);
      ns.exec(['nft', 'delete', 'table', 'ip', 'ekp-proxy']);
      ns.exec(['nft', 'delete', 'table', 'ip6', 'ekp-proxy']);
    }
  });

  it('a refused transaction is counted (kube-proxy\'s sync_proxy_rules_nftables_sync_failures_total) and leaves no table', async () => {
    // nft that refuses transactions (`nft -f -`) and otherwise runs.
    const refusing = ['nsenter', `--net=${ns.path}`, '--', 'sh', '-c', 'if [ "$1" = "-f" ]; then echo "Error: refused" >&2; exit 1; fi; exec "$0" "$@"'];
    const failures = (dp: NftablesDataplane) => dp.kernelMetrics().kubeproxy_sync_proxy_rules_nftables_sync_failures_total!.samples[0]!.value;
    const dp = new NftablesDataplane(ctx, { nftPrefix: refusing });
    await dp.start();
    expect(failures(dp)).toBe(0);
    await expect(dp.apply({ state: STATES['clusterip-basic']!(), changed: 'all' })).rejects.toThrow(/refused/);
    await expect(dp.apply({ state: STATES['clusterip-basic']!(), changed: new Set(['default/web:http']) })).rejects.toThrow(/refused/);
    expect(failures(dp)).toBe(2);
    expect(nft('list', 'tables')).not.toContain('ekp-proxy');
  });

  it('ServiceCIDRs: an unallocated address in one is dropped, a ClusterIP\'s other port refused, other addresses untouched; a changed range is written by the next periodic sync', async () => {
    // Routes to nowhere (a veth whose peer answers nothing): a datagram no rule stops is sent,
    // one the drop stops fails at once (EPERM; TCP would retry its SYN instead), and the reject
    // refuses a connect (ECONNREFUSED).
    ns.exec(['ip', 'link', 'add', 'sink0', 'type', 'veth', 'peer', 'name', 'sink1']);
    ns.exec(['ip', 'link', 'set', 'sink0', 'up']);
    ns.exec(['ip', 'route', 'add', '10.0.0.0/8', 'dev', 'sink0']);
    const connect = (ip: string) => ns.exec([process.execPath, '-e', `const out = (t) => { console.log(t); process.exit(0); };
      const s = require('node:net').connect(80, '${ip}'); s.on('connect', () => out('OPEN')); s.on('error', (e) => out(e.code)); setTimeout(() => out('TIMEOUT'), 700);`]).trim();
    const send = (ip: string) => ns.exec([process.execPath, '-e', `const s = require('node:dgram').createSocket('udp4');
      s.send('x', 80, '${ip}', (e) => { console.log(e ? e.code : 'SENT'); process.exit(0); });`]).trim();
    let clock = 0;
    const dp = new NftablesDataplane(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'], now: () => clock });
    try {
      await dp.start();
      // web is 10.96.0.10, on port 80 only.
      const base = build([svc({ spec: { ports: [{ name: 'http', port: 81, targetPort: 8080 }] } })], [twoEps()]);
      await dp.apply({ state: { ...base, serviceCIDRs: { 4: ['10.96.0.0/16'], 6: [] } }, changed: 'all' });
      expect(send('10.96.7.7')).toBe('EPERM');
      expect(connect('10.96.0.10')).toBe('ECONNREFUSED');
      expect(send('10.97.7.7')).toBe('SENT');
      // The cluster moves to a new range: the periodic sync between full ones must write it.
      clock += 30_000;
      await dp.apply({ state: { ...base, serviceCIDRs: { 4: ['10.97.0.0/16'], 6: [] } }, changed: 'all' });
      expect(send('10.97.7.7')).toBe('EPERM');
      expect(send('10.96.7.7')).toBe('SENT');
      // No ServiceCIDRs known (an API server without them): nothing is dropped.
      clock += 30_000;
      await dp.apply({ state: base, changed: 'all' });
      expect(send('10.97.7.7')).toBe('SENT');
      expect(nft('list', 'chain', 'ip', 'ekp-proxy', 'cluster-ips-check')).not.toContain('drop');
    } finally {
      await cleanupNftables(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'] });
      ns.exec(['ip', 'link', 'del', 'sink0']);
    }
  });

  it('no endpoints: refused at once by an ICMP port unreachable, TCP too (kube-proxy\'s reject-chain), which a TCP connect and a connected UDP socket see as ECONNREFUSED', async () => {
    ns.exec(['ip', 'link', 'add', 'sink0', 'type', 'veth', 'peer', 'name', 'sink1']);
    ns.exec(['ip', 'link', 'set', 'sink0', 'up']);
    ns.exec(['ip', 'route', 'add', '10.0.0.0/8', 'dev', 'sink0']);
    const ask = (code: string) => ns.exec([process.execPath, '-e', `const out = (t) => { console.log(t); process.exit(0); }; ${code}; setTimeout(() => out('TIMEOUT'), 700);`]).trim();
    const unreachablesSent = () => {
      const [names, values] = ns.exec(['cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Icmp:')).map((l) => l.split(/\s+/));
      return Number(values![names!.indexOf('OutDestUnreachs')]);
    };
    const dp = new NftablesDataplane(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'] });
    try {
      await dp.start();
      const ports = [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }];
      await dp.apply({ state: build([svc({ spec: { ports } })], []), changed: 'all' });
      const before = unreachablesSent();
      expect(ask(`const s = require('node:net').connect(80, '10.96.0.10'); s.on('connect', () => out('OPEN')); s.on('error', (e) => out(e.code))`)).toBe('ECONNREFUSED');
      expect(unreachablesSent() - before).toBe(1);
      expect(ask(`const s = require('node:dgram').createSocket('udp4'); s.on('error', (e) => out(e.code)); s.connect(53, '10.96.0.10', () => s.send('x'))`)).toBe('ECONNREFUSED');
    } finally {
      await cleanupNftables(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'] });
      ns.exec(['ip', 'link', 'del', 'sink0']);
    }
  });

  it('full sync, partial syncs, a full sync over drift, and cleanup', async () => {
    // A user's own table must survive everything we do.
    nft('add', 'table', 'inet', 'users-own');
    nft('add', 'chain', 'inet', 'users-own', 'c');
    let clock = 0;
    const dp = new NftablesDataplane(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'], now: () => clock });
    await dp.start();
    const s1 = STATES['multi-service']!();
    await dp.apply({ state: s1, changed: 'all' });
    let listed = nft('list', 'table', 'ip', 'ekp-proxy');
    expect(listed).toContain('10.96.0.20 . tcp . 80 : goto cip-offCluster-pick-tcp-3');
    expect(listed).toMatch(/10\.96\.0\.10 \. tcp \. 80 \. 1 : 10\.244\.2\.1 \. 8080/);

    // One endpoint more for web: pick-2 → pick-3 for its frontend, api untouched.
    const s2 = build(
      [svc(), svc({ name: 'api', spec: { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] } })],
      [slice({ endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.2.1', { node: 'node-b' }), ep('10.244.2.9', { node: 'node-b' })] }),
        slice({ service: 'api', endpoints: [ep('10.244.1.1', { node: 'node-a' }), ep('10.244.1.2', { node: 'node-a' }), ep('10.244.2.2', { node: 'node-b' })] })],
    );
    await dp.apply({ state: s2, changed: new Set(['default/web:http']) });
    listed = nft('list', 'table', 'ip', 'ekp-proxy');
    expect(listed).toContain('10.96.0.10 . tcp . 80 : goto cip-offCluster-pick-tcp-3');
    expect(listed).toContain('10.96.0.10 . tcp . 80 . 2 : 10.244.2.9 . 8080');
    expect(listed).not.toMatch(/pick-tcp-2 \{[^}]*elements/);

    // Drift: someone deletes an element and adds a chain to our table. The periodic sync
    // within the hour compares with what we wrote, so it has nothing to write...
    nft('delete', 'element', 'ip', 'ekp-proxy', 'service-ips', '{ 10.96.0.20 . tcp . 80 }');
    nft('add', 'chain', 'ip', 'ekp-proxy', 'stray');
    clock += 30_000;
    await dp.apply({ state: s2, changed: 'all' });
    expect(nft('list', 'table', 'ip', 'ekp-proxy')).toContain('chain stray');
    // ...and the hourly full sync (kube-proxy's FullSyncPeriod) repairs it.
    clock += FULL_SYNC_PERIOD_MS;
    await dp.apply({ state: s2, changed: 'all' });
    listed = nft('list', 'table', 'ip', 'ekp-proxy');
    expect(listed).toContain('10.96.0.20 . tcp . 80 : goto cip-offCluster-pick-tcp-3');
    expect(listed).not.toContain('chain stray');
    expect(listed).not.toContain('chain pick-tcp-2');

    // Affinity: the kernel fills the sets; a full sync keeps them.
    const aff = { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } };
    const s3 = build([svc({ spec: aff })], [twoEps()]);
    await dp.apply({ state: s3, changed: new Set(['default/web:http', 'default/api:http']) });
    const set = /set (aff-[0-9a-f]{16}) \{/.exec(nft('list', 'table', 'ip', 'ekp-proxy'))![1]!;
    nft('add', 'element', 'ip', 'ekp-proxy', set, '{ 10.244.9.9 }');
    clock += FULL_SYNC_PERIOD_MS;
    await dp.apply({ state: s3, changed: 'all' });
    expect(nft('list', 'set', 'ip', 'ekp-proxy', set)).toContain('10.244.9.9');
    expect(nft('list', 'table', 'ip', 'ekp-proxy')).not.toContain('10.96.0.20');

    // A table we made flushed by someone: the next periodic sync is a full one and rebuilds it.
    nft('delete', 'table', 'ip', 'ekp-proxy');
    clock += 30_000;
    await dp.apply({ state: s3, changed: 'all' });
    expect(nft('list', 'table', 'ip', 'ekp-proxy')).toContain('10.96.0.10 . tcp . 80');

    // SIGTERM: close leaves the tables.
    await dp.close();
    expect(nft('list', 'tables')).toContain('ip ekp-proxy');

    const removed = await cleanupNftables(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'] });
    expect(removed).toEqual(['nftables table ip ekp-proxy', 'nftables table ip6 ekp-proxy']);
    const tables = nft('list', 'tables');
    expect(tables).not.toContain('ekp-proxy');
    expect(tables).toContain('inet users-own');
    expect(await cleanupNftables(ctx, { nftPrefix: ['nsenter', `--net=${ns.path}`, '--'] })).toEqual([]);
  });
});
