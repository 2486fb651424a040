import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { packageRoot } from '../../src/native/index.js';
import { kernelIt } from '../support/capability.js';
import { TestNetns } from '../support/netns.js';
import { scenarioSuite } from './suite.js';

scenarioSuite('userspace', 'u');

// The daemon's own life cycle, in a namespace of our own: what the shared
// scenario table cannot show for this mode (it excludes SIGTERM and kill -9,
// which necessarily stop a userspace datapath).
const it = kernelIt();
const BIN = join(packageRoot(), 'bin', 'ebpf-kube-proxy.js');
const NODE_IP = '192.168.99.1';

const service = (name: string, clusterIP: string) => [
  { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 't' }, spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'p', port: 80, targetPort: 8080, protocol: 'TCP' }] } },
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 't', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', ports: [{ name: 'p', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [NODE_IP], conditions: { ready: true } }],
  },
];

describe('userspace daemon: adoption after kill -9, SIGTERM, --cleanup', () => {
  let ns: TestNetns;
  let dir: string;
  let scratch: string;
  let backend: ChildProcess | null = null;
  let daemon: ChildProcess | null = null;

  // --cleanup runs every mode's cleaner: private (absent) pin and cgroup paths keep
  // the ebpf one away from the machine's defaults.
  const flags = () => [
    '--proxy-mode', 'userspace', '--manifests', dir, '--hostname-override', 'n1', '--healthz-bind-address', '', '--metrics-bind-address', '',
    '--bpf-pin-dir', join(scratch, 'pins'), '--cgroup-root', join(scratch, 'cgroup'),
  ];
  const start = () => {
    daemon = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', ...flags()], { stdio: 'ignore' });
    return daemon;
  };
  const stop = async (signal: NodeJS.Signals): Promise<{ code: number | null; ms: number }> => {
    const d = daemon!;
    daemon = null;
    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => d.once('exit', (code) => r(code)));
    d.kill(signal);
    return { code: await exited, ms: Date.now() - t0 };
  };
  /** Addresses on lo: [address, ours?]. */
  const loAddresses = (): Map<string, boolean> => {
    const links = JSON.parse(ns.exec(['ip', '-j', 'address', 'show', 'dev', 'lo'])) as { addr_info: { local: string; label?: string; metric?: number }[] }[];
    return new Map(links[0]!.addr_info.map((a) => [a.local, a.label === 'lo:ekp' && a.metric === 0x656b70]));
  };
  const ask = (addr: string): string => {
    const script = `require('node:net').connect(80, process.argv[1]).on('data', (d) => process.stdout.write(d)).on('error', (e) => { process.stdout.write(e.code); });`;
    return spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', script, addr], { encoding: 'utf8', timeout: 10_000 }).stdout;
  };
  const until = async (what: string, check: () => boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const manifests = (...svcs: [string, string][]) => {
    for (const f of ['a.json', 'b.json']) rmSync(join(dir, f), { force: true });
    svcs.forEach(([name, ip], i) => writeFileSync(join(dir, `${'ab'[i]}.json`), JSON.stringify({ kind: 'List', apiVersion: 'v1', items: service(name, ip) })));
  };

  beforeAll(() => {
    if (process.getuid?.() !== 0) return;
    ns = TestNetns.create('usp');
    ns.ip('link', 'add', 'ekpt0', 'type', 'veth', 'peer', 'name', 'ekpt1');
    ns.ip('addr', 'add', `${NODE_IP}/24`, 'dev', 'ekpt0');
    ns.ip('link', 'set', 'ekpt0', 'up');
    ns.ip('link', 'set', 'ekpt1', 'up');
    // A user's own host address on lo: never ours to remove.
    ns.ip('addr', 'add', '10.9.9.9/32', 'dev', 'lo');
    dir = mkdtempSync(join(tmpdir(), 'ekpt-usp-'));
    scratch = mkdtempSync(join(tmpdir(), 'ekpt-usp-scratch-'));
    backend = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', `require('node:net').createServer((c) => c.end('pong')).listen(8080, '${NODE_IP}')`], { stdio: 'ignore' });
  });

  afterAll(async () => {
    if (daemon) await stop('SIGKILL');
    backend?.kill('SIGKILL');
    ns?.destroy();
    for (const d of [dir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('serves; kill -9 takes the datapath along and a restart adopts the addresses; SIGTERM exits at once; --cleanup removes only ours', async () => {
    manifests(['one', '10.96.0.10']);
    start();
    await until('10.96.0.10 served', () => ask('10.96.0.10') === 'pong');
    expect(loAddresses().get('10.96.0.10')).toBe(true);

    // kill -9: the sockets die with the process (the datapath is the process);
    // the address stays, so the VIP refuses at once rather than leaking out.
    await stop('SIGKILL');
    expect(ask('10.96.0.10')).toBe('ECONNREFUSED');
    expect(loAddresses().get('10.96.0.10')).toBe(true);

    // While it is down, one service goes and another comes: the new instance
    // adopts the old address, removes it as stale, and adds the new one.
    manifests(['two', '10.96.0.11']);
    start();
    await until('10.96.0.11 served', () => ask('10.96.0.11') === 'pong');
    await until('10.96.0.10 removed', () => !loAddresses().has('10.96.0.10'));

    // SIGTERM: every socket closed, so the process exits (nothing keeps it alive); the address stays for the next one.
    const { code, ms } = await stop('SIGTERM');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5000);
    expect(ask('10.96.0.11')).toBe('ECONNREFUSED');
    expect(loAddresses().get('10.96.0.11')).toBe(true);

    const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', process.execPath, BIN, 'run', '--cleanup', ...flags()], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const left = loAddresses();
    expect([...left.values()].some((ours) => ours)).toBe(false);
    expect(left.has('10.96.0.11')).toBe(false);
    expect(left.has('10.9.9.9')).toBe(true);
    expect(left.has('127.0.0.1')).toBe(true);
    expect(ns.exec(['ip', '-j', 'address', 'show', 'dev', 'ekpt0'])).toContain(NODE_IP);
  }, 60_000);
});
