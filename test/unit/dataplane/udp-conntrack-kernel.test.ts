// Stale UDP conntrack entries in a real kernel, for the nftables and iptables modes: a client
// (its own namespace, a fixed source port, so every datagram is one conntrack flow) asks a UDP
// ClusterIP on a "node" namespace whose endpoints are local addresses with echo servers. The
// diff of each sync, and the reconciler of a restarted proxy's first sync.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect } from 'vitest';
import { parseConntrackList } from '../../../src/dataplane/conntrack-list.js';
import { IptablesDataplane } from '../../../src/dataplane/iptables/index.js';
import { NftablesDataplane } from '../../../src/dataplane/nftables/index.js';
import type { Dataplane, DataplaneContext } from '../../../src/dataplane/types.js';
import { buildDesiredState, type DesiredState } from '../../../src/model/index.js';
import { memoryLogger } from '../../../src/observe/index.js';
import { kernelIt } from '../../support/capability.js';
import { sweepStaleNetns, TestNetns, vethBetween } from '../../support/netns.js';
import { tryRun } from '../../support/sys.js';
import { ep, NODE, slice, svc } from '../model/fixtures.js';

const it = kernelIt();
const VIP = '10.96.0.53';
const [A, B] = ['10.244.1.1', '10.244.1.2'];
const CLIENT = '10.244.9.9';
const KEY = 'default/dns:dns';

function state(endpoints: string[]): DesiredState {
  return buildDesiredState({
    services: [svc({ name: 'dns', spec: { clusterIP: VIP, clusterIPs: [VIP], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] } })],
    endpointSlices: [slice({ service: 'dns', ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }], endpoints: endpoints.map((ip) => ep(ip, { node: 'node-a' })) })],
    node: NODE,
  }).state;
}

/** Echo servers answering with the address they listen on. */
const SERVER = `const d = require('node:dgram');
for (const a of process.argv.slice(1)) { const s = d.createSocket('udp4'); s.on('message', (m, r) => s.send(a, r.port, r.address)); s.bind(5353, a); }
console.log('up');`;

/** One datagram from CLIENT:port to VIP:53; prints who answered, or the error. */
const clientScript = (port: number) => `const s = require('node:dgram').createSocket('udp4');
const done = (t) => { console.log(t); process.exit(0); };
s.on('message', (m) => done(m.toString()));
s.on('error', (e) => done('ERROR ' + e.code));
s.bind(${port}, '${CLIENT}', () => { s.connect(53, '${VIP}', () => s.send('q')); });
setTimeout(() => done('TIMEOUT'), 1500);`;

describe.each(['nftables', 'iptables'] as const)('UDP conntrack cleanup in a real kernel, %s mode', (mode) => {
  let node: TestNetns | null = null;
  let client: TestNetns | null = null;
  let servers: ChildProcess | null = null;
  afterEach(() => {
    servers?.kill('SIGKILL');
    node?.destroy();
    client?.destroy();
    servers = node = client = null;
  });

  const ask = (port = 40000) => tryRun(['nsenter', `--net=${client!.path}`, '--', process.execPath, '-e', clientScript(port)]).stdout.trim();
  const entries = () => tryRun(['nsenter', `--net=${node!.path}`, '--', 'conntrack', '-L', '-p', 'udp', '--orig-dst', VIP]).stdout;

  /** The two namespaces, A's and B's echo servers. */
  async function lab(): Promise<void> {
    sweepStaleNetns();
    node = TestNetns.create('udpct');
    client = TestNetns.create('udpcl');
    vethBetween(client, 'eth0', `${CLIENT}/24`, node, 'veth0', '10.244.9.1/24');
    client.ip('route', 'add', 'default', 'via', '10.244.9.1');
    // The endpoints are the node's own addresses (no dummy devices on this kernel).
    for (const a of [A, B]) node.ip('addr', 'add', `${a}/32`, 'dev', 'lo');
    servers = spawn('nsenter', [`--net=${node.path}`, '--', process.execPath, '-e', SERVER, A, B], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => servers!.stdout!.once('data', r));
  }

  /** A dataplane instance of this mode in the node's namespace: a new one is a restarted daemon (no history). */
  function dataplane(): Dataplane {
    const ctx: DataplaneContext = { config: { masqueradeBit: 14 } as DataplaneContext['config'], log: memoryLogger(), nodeAddresses: () => [] };
    return mode === 'nftables'
      ? new NftablesDataplane(ctx, { nftPrefix: ['nsenter', `--net=${node!.path}`, '--'] })
      : new IptablesDataplane(ctx, { backend: 'nft', netns: node!.path });
  }

  const reconciled = (dp: Dataplane) => dp.kernelMetrics!().kubeproxy_conntrack_reconciler_deleted_entries_total!.samples;

  it('an endpoint removed: the same client socket moves to a remaining one; a first endpoint: un-NATed entries go', async () => {
    await lab();
    const dp = dataplane();
    await dp.start();

    await dp.apply({ state: state([A]), changed: 'all' });
    expect(ask()).toBe(A);
    expect(entries()).toContain(`src=${A}`);

    // A goes, B comes: A's server still answers, so only the deleted entry moves the client.
    await dp.apply({ state: state([B]), changed: new Set([KEY]) });
    expect(entries()).not.toContain(`src=${A}`);
    expect(ask()).toBe(B);
    expect(ask()).toBe(B);

    // No endpoints; then a flow that never saw DNAT (as one made before the rules were in place).
    await dp.apply({ state: state([]), changed: new Set([KEY]) });
    expect(ask()).toMatch(/ERROR ECONNREFUSED|TIMEOUT/);
    node!.exec(['conntrack', '-I', '-p', 'udp', '-s', CLIENT, '-d', VIP, '--sport', '40000', '--dport', '53',
      '-r', VIP, '-q', CLIENT, '--reply-port-src', '53', '--reply-port-dst', '40000', '-t', '120', '-u', 'ASSURED']);
    expect(entries()).toContain(`src=${VIP}`);
    await dp.apply({ state: state([A]), changed: new Set([KEY]) });
    expect(entries()).not.toContain(`src=${VIP}`);
    expect(ask()).toBe(A);
    await dp.close();
  }, 30_000);

  it('a restart: the new instance\'s first sync deletes what changed while no proxy ran, and counts it; live flows stay', async () => {
    await lab();
    const before = dataplane();
    await before.start();
    await before.apply({ state: state([A, B]), changed: 'all' });
    // Client sockets (source ports) until one lands on A and one on B (random, 1/2 each).
    const answers = new Map<number, string>();
    const landed = (who: string) => [...answers].filter(([, w]) => w === who).map(([port]) => port);
    for (let port = 40000; port < 40020 && (landed(A).length === 0 || landed(B).length === 0); port++) answers.set(port, ask(port));
    const [onA] = landed(A);
    const onB = landed(B);
    expect([onA, onB.length > 0], `answers: ${JSON.stringify([...answers])}`).toEqual([expect.any(Number), true]);
    expect(ask(onA)).toBe(A);
    await before.close();

    // A is removed while no proxy runs; its server still answers, so only a deleted entry moves the client.
    const after = dataplane();
    await after.start();
    await after.apply({ state: state([B]), changed: 'all' });
    expect(entries()).not.toContain(`src=${A}`);
    expect(reconciled(after)).toEqual([{ labels: { ip_family: 'IPv4' }, value: landed(A).length }]);
    expect(ask(onA)).toBe(B);
    // B's flows, live, were left alone.
    const left = parseConntrackList(entries());
    for (const port of onB) expect(left.some((e) => e.orig.sport === port && e.reply.src === B), `port ${port}`).toBe(true);
    await after.close();

    // A Service that gets its first endpoint while no proxy runs: an entry that never saw DNAT goes.
    const empty = dataplane();
    await empty.start();
    await empty.apply({ state: state([]), changed: 'all' });
    await empty.close();
    node!.exec(['conntrack', '-I', '-p', 'udp', '-s', CLIENT, '-d', VIP, '--sport', '40100', '--dport', '53',
      '-r', VIP, '-q', CLIENT, '--reply-port-src', '53', '--reply-port-dst', '40100', '-t', '120', '-u', 'ASSURED']);
    const restarted = dataplane();
    await restarted.start();
    await restarted.apply({ state: state([A]), changed: 'all' });
    expect(entries()).not.toContain(`src=${VIP}`);
    expect(reconciled(restarted)).toEqual([{ labels: { ip_family: 'IPv4' }, value: 1 }]);
    expect(ask(40100)).toBe(A);
    await restarted.close();
  }, 60_000);
});
