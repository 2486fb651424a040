// The netfilter modes' UDP conntrack cleanup against a fake conntrack: the diff after every
// sync, the reconciler on the first and on full ones, deletion, failures and the metrics.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RECONCILE_DELETED, RECONCILE_LATENCY } from '../../../src/dataplane/reconciler-metrics.js';
import type { CommandResult, Runner } from '../../../src/dataplane/run.js';
import { UdpConntrackCleaner } from '../../../src/dataplane/udp-cleaner.js';
import { buildDesiredState, type DesiredService } from '../../../src/model/index.js';
import { memoryLogger } from '../../../src/observe/index.js';
import { SYNC_BUCKETS } from '../../../src/observe/metrics.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

const KEY = 'default/dns:dns';
const UDP_PORT = { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 };

/** UDP "dns" 10.96.0.10:53 (and fd00:96::10 when dual) with these endpoints on 5353. */
function dns(ips: string[], o: { tcp?: boolean; dual?: boolean } = {}): DesiredService[] {
  const spec = o.dual
    ? { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], clusterIPs: ['10.96.0.10', 'fd00:96::10'] }
    : {};
  const protocol = o.tcp ? 'TCP' : 'UDP';
  const byFamily = (v6: boolean) => ips.filter((ip) => ip.includes(':') === v6);
  return [...buildDesiredState({
    services: [svc({ name: 'dns', spec: { ports: [{ ...UDP_PORT, protocol }], ...spec } })],
    endpointSlices: [false, true].filter((v6) => byFamily(v6).length > 0).map((v6) => slice({
      name: `dns-${v6 ? 6 : 4}`, service: 'dns', addressType: v6 ? 'IPv6' : 'IPv4', ports: [{ name: 'dns', port: 5353, protocol }],
      endpoints: byFamily(v6).map((ip) => ep(ip, { node: 'node-b' })),
    })),
    node: NODE,
  }).state.services.values()];
}

/** A `conntrack -L` line: client:sport → dst:53, answered by replySrc:replyPort. */
function line(dst: string, replySrc: string, replyPort = 5353, sport = 40000): string {
  const client = dst.includes(':') ? 'fd00:244::99' : '10.244.9.9';
  return `udp      17 119 src=${client} dst=${dst} sport=${sport} dport=53 [UNREPLIED] src=${replySrc} dst=${client} sport=${replyPort} dport=${sport} [ASSURED] mark=0 use=1`;
}

/** Just enough of conntrack 1.4.7: -L -p udp -f FAMILY, -R FILE and -D with the tuple filters the cleaner writes. */
class FakeConntrack {
  table: string[] = [];
  calls: string[] = [];
  /** Deletion lines as run, from -R files and -D arguments. */
  deletions: string[] = [];
  batch = true;

  run: Runner = async (argv) => {
    const cmd = argv.join(' ');
    this.calls.push(argv[1] === '-R' ? 'conntrack -R FILE' : cmd);
    const ok = (stdout = ''): CommandResult => ({ status: 0, stdout, stderr: '' });
    if (argv[1] === '-L') return ok(this.table.filter((l) => l.includes(':') === (argv[5] === 'ipv6')).map((l) => `${l}\n`).join(''));
    if (argv[1] === '-R') {
      if (!this.batch) return { status: 2, stdout: '', stderr: "conntrack v1.4.6 (conntrack-tools): invalid option -- 'R'" };
      return ok(readFileSync(argv[2]!, 'utf8').split('\n').filter(Boolean).flatMap((l) => this.delete(l.split(' '))).join(''));
    }
    if (argv[1] === '-D') {
      const gone = this.delete(argv.slice(1));
      return { status: gone.length ? 0 : 1, stdout: gone.join(''), stderr: `conntrack v1.4.6 (conntrack-tools): ${gone.length} flow entries have been deleted.` };
    }
    return { status: 127, stdout: '', stderr: `fake conntrack: ${cmd}` };
  };

  private delete(args: string[]): string[] {
    this.deletions.push(args.join(' '));
    const want: Record<string, string> = {};
    for (let i = 0; i < args.length; i++) if (args[i]!.startsWith('--')) want[args[i]!] = args[++i]!;
    const matches = (l: string) => {
      const v = (k: string, n: number) => [...l.matchAll(new RegExp(` ${k}=(\\S+)`, 'g'))][n]?.[1];
      const fields: [string, string | undefined][] = [
        ['--orig-src', v('src', 0)], ['--orig-dst', v('dst', 0)], ['--orig-port-src', v('sport', 0)], ['--orig-port-dst', v('dport', 0)],
        ['--reply-src', v('src', 1)], ['--reply-port-src', v('sport', 1)],
      ];
      return fields.every(([k, got]) => want[k] === undefined || want[k] === got);
    };
    const gone = this.table.filter(matches);
    this.table = this.table.filter((l) => !matches(l));
    return gone.map((l) => `${l}\n`);
  }
}

const deleted = (c: UdpConntrackCleaner, family: 'IPv4' | 'IPv6') => c.kernelMetrics()[RECONCILE_DELETED]!.samples.find((s) => s.labels.ip_family === family)?.value;
const reconciles = (c: UdpConntrackCleaner, family: 'IPv4' | 'IPv6') => c.kernelMetrics()[RECONCILE_LATENCY]!.samples.find((s) => s.labels.ip_family === family)?.value;

describe('UdpConntrackCleaner: the diff', () => {
  it('deletes in one conntrack -R per sync, and remembers what it synced', async () => {
    const k = new FakeConntrack();
    const c = new UdpConntrackCleaner(k.run, memoryLogger());
    expect(await c.synced(dns(['10.244.1.1', '10.244.1.2']), 'all')).toEqual([]);
    k.calls = [];
    await c.synced(dns(['10.244.1.1']), new Set([KEY]));
    expect(k.calls).toEqual(['conntrack -R FILE']);
    expect(k.deletions).toEqual(['-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353']);
    // A partial sync that did not write this port looks at nothing.
    expect(await c.synced(dns([]), new Set(['default/other:x']))).toEqual([]);
    // A full one does.
    expect(await c.synced(dns([]), 'all')).toEqual(['-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353']);
  });

  it('falls back to one conntrack -D per line where -R is unknown, and only logs failures', async () => {
    const k = new FakeConntrack();
    k.batch = false;
    const log = memoryLogger();
    const c = new UdpConntrackCleaner(k.run, log);
    await c.synced(dns(['10.244.1.1', '10.244.1.2']), 'all');
    k.calls = [];
    await c.synced(dns([]), new Set([KEY]));
    expect(k.calls).toEqual([
      'conntrack -R FILE',
      'conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353',
      'conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.2 --reply-port-src 5353',
    ]);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});

describe('UdpConntrackCleaner: the reconciler', () => {
  it('a restarted proxy (no history): its first sync lists the table and deletes what is stale, and counts it', async () => {
    const k = new FakeConntrack();
    k.table = [
      line('10.96.0.10', '10.244.1.1'), // removed while no proxy ran
      line('10.96.0.10', '10.244.1.2', 5353, 40001), // live
      line('10.96.0.10', '10.96.0.10', 53, 40002), // made before the first endpoint, never NATed
      line('10.96.0.99', '10.96.0.99', 53, 40003), // not a frontend of ours
    ];
    const c = new UdpConntrackCleaner(k.run, memoryLogger());
    // Both metrics exist before any reconcile (the daemon registers what it sees at start), without series.
    expect(c.kernelMetrics()[RECONCILE_LATENCY]).toEqual({ help: 'ReconcileConntrackFlowsLatency latency in seconds', type: 'histogram', buckets: SYNC_BUCKETS, samples: [] });
    expect(c.kernelMetrics()[RECONCILE_DELETED]).toEqual({ help: 'Cumulative conntrack flows deleted by conntrack reconciler', type: 'counter', samples: [] });

    const lines = await c.synced(dns(['10.244.1.2']), new Set([KEY]));
    expect(k.calls).toEqual(['conntrack -L -p udp -f ipv4', 'conntrack -R FILE']);
    expect(lines).toEqual([
      '-D -p udp --orig-src 10.244.9.9 --orig-dst 10.96.0.10 --orig-port-src 40000 --orig-port-dst 53 --reply-src 10.244.1.1 --reply-port-src 5353',
      '-D -p udp --orig-src 10.244.9.9 --orig-dst 10.96.0.10 --orig-port-src 40002 --orig-port-dst 53 --reply-src 10.96.0.10 --reply-port-src 53',
    ]);
    expect(k.table).toEqual([line('10.96.0.10', '10.244.1.2', 5353, 40001), line('10.96.0.99', '10.96.0.99', 53, 40003)]);
    expect(deleted(c, 'IPv4')).toBe(2);
    expect(reconciles(c, 'IPv4')).toBe(1);
    // No IPv6 UDP port: that family is not listed, and has no series.
    expect(reconciles(c, 'IPv6')).toBeUndefined();
  });

  it('runs again on full syncs only; the diff goes first, and the metric counts the reconciler\'s own deletions', async () => {
    const k = new FakeConntrack();
    const c = new UdpConntrackCleaner(k.run, memoryLogger());
    await c.synced(dns(['10.244.1.1', '10.244.1.2']), 'all');
    expect(reconciles(c, 'IPv4')).toBe(1);
    k.table = [line('10.96.0.10', '10.244.1.2'), line('10.96.0.10', '10.244.1.3', 5353, 40001)];
    k.calls = [];
    // A partial sync: the diff alone (10.244.1.2 went); 10.244.1.3's entry (never ours) stays for now.
    await c.synced(dns(['10.244.1.1']), new Set([KEY]));
    expect(k.calls).toEqual(['conntrack -R FILE']);
    expect(k.table).toEqual([line('10.96.0.10', '10.244.1.3', 5353, 40001)]);
    expect(deleted(c, 'IPv4')).toBe(0);
    // A full one: the diff (nothing), then the listing, which finds it.
    k.calls = [];
    k.table.push(line('10.96.0.10', '10.244.1.1', 5353, 40002));
    await c.synced(dns(['10.244.1.1']), 'all', { reconcile: true });
    expect(k.calls).toEqual(['conntrack -L -p udp -f ipv4', 'conntrack -R FILE']);
    expect(k.table).toEqual([line('10.96.0.10', '10.244.1.1', 5353, 40002)]);
    expect(deleted(c, 'IPv4')).toBe(1);
    expect(reconciles(c, 'IPv4')).toBe(2);
    // An endpoint removed on a full sync: the diff deletes its entry, the reconciler finds nothing left to count.
    k.table.push(line('10.96.0.10', '10.244.1.4', 5353, 40003));
    await c.synced(dns(['10.244.1.4']), 'all', { reconcile: true });
    expect(k.table).toEqual([line('10.96.0.10', '10.244.1.4', 5353, 40003)]);
    expect(deleted(c, 'IPv4')).toBe(1);
    expect(reconciles(c, 'IPv4')).toBe(3);
  });

  it('each family with UDP ports is listed and counted apart; TCP-only states list nothing', async () => {
    const k = new FakeConntrack();
    k.table = [line('10.96.0.10', '10.244.1.9'), line('fd00:96::10', 'fd00:244::9'), line('fd00:96::10', 'fd00:244::1', 5353, 40001)];
    const c = new UdpConntrackCleaner(k.run, memoryLogger());
    await c.synced(dns(['10.244.1.1', 'fd00:244::1'], { dual: true }), 'all');
    expect(k.calls).toEqual(['conntrack -L -p udp -f ipv4', 'conntrack -R FILE', 'conntrack -L -p udp -f ipv6', 'conntrack -R FILE']);
    expect(k.table).toEqual([line('fd00:96::10', 'fd00:244::1', 5353, 40001)]);
    expect([deleted(c, 'IPv4'), deleted(c, 'IPv6')]).toEqual([1, 1]);

    const tcp = new FakeConntrack();
    tcp.table = [line('10.96.0.10', '10.244.1.9')];
    await new UdpConntrackCleaner(tcp.run, memoryLogger()).synced(dns([], { tcp: true }), 'all', { reconcile: true });
    expect(tcp.calls).toEqual([]);
  });

  it('where -R is unknown, one -D per stale entry, each counted from what conntrack printed', async () => {
    const k = new FakeConntrack();
    k.batch = false;
    k.table = [line('10.96.0.10', '10.244.1.8'), line('10.96.0.10', '10.244.1.9', 5353, 40001)];
    const c = new UdpConntrackCleaner(k.run, memoryLogger());
    await c.synced(dns(['10.244.1.1']), 'all');
    expect(k.calls.filter((x) => x.startsWith('conntrack -D'))).toHaveLength(2);
    expect(k.table).toEqual([]);
    expect(deleted(c, 'IPv4')).toBe(2);
  });

  it('no conntrack: the syncs go on, said once; a failing listing is said once until one works, and counts nothing', async () => {
    const log = memoryLogger();
    const missing = new UdpConntrackCleaner(async () => ({ status: -2, stdout: '', stderr: 'Error: spawn conntrack ENOENT' }), log);
    await missing.synced(dns(['10.244.1.1']), 'all');
    await expect(missing.synced(dns([]), 'all', { reconcile: true })).resolves.toHaveLength(1);
    await missing.synced(dns([]), 'all', { reconcile: true });
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.command)).toEqual(['conntrack -L -p udp -f ipv4']);
    expect(missing.kernelMetrics()[RECONCILE_LATENCY]!.samples).toEqual([]);

    const k = new FakeConntrack();
    let refuse = true;
    const flaky: Runner = async (argv, input) => (refuse && argv[1] === '-L'
      ? { status: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted' }
      : k.run(argv, input));
    const log2 = memoryLogger();
    const c = new UdpConntrackCleaner(flaky, log2);
    for (let i = 0; i < 3; i++) await c.synced(dns(['10.244.1.1']), 'all', { reconcile: true });
    refuse = false;
    await c.synced(dns(['10.244.1.1']), 'all', { reconcile: true });
    refuse = true;
    await c.synced(dns(['10.244.1.1']), 'all', { reconcile: true });
    expect(log2.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    expect(reconciles(c, 'IPv4')).toBe(1);
  });
});
