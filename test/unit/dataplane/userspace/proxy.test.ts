// The userspace proxy with real sockets and no privileges: 127.0.0.0/8 is
// local already, so service addresses there need no `ip` (a fake records the
// commands), and backends are servers on other loopback addresses.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../../src/config/index.js';
import type { Dataplane } from '../../../../src/dataplane/types.js';
import type { CommandResult } from '../../../../src/dataplane/userspace/addresses.js';
import { cleanupUserspace, createUserspaceDataplane } from '../../../../src/dataplane/userspace/index.js';
import { buildDesiredState, type DesiredState } from '../../../../src/model/index.js';
import { memoryLogger } from '../../../../src/observe/index.js';
import { ep, NODE, slice, svc } from '../../model/fixtures.js';

const VIP = '127.77.0.10';
const UDP_VIP = '127.77.0.11';
const PORT = 18_080;
const BACKENDS = ['127.0.0.2', '127.0.0.3'];

/** A backend that names itself, and for each connection echoes what it got once the client half-closes. */
function tcpBackend(name: string, host: string, port: number): Promise<Server> {
  const s = createServer({ allowHalfOpen: true }, (c) => {
    let got = '';
    c.setEncoding('utf8');
    c.write(`${name}|`);
    c.on('data', (d: string) => (got += d));
    c.on('end', () => c.end(`got:${got}`));
    c.on('error', () => {});
  });
  return new Promise((resolve) => s.listen(port, host, () => resolve(s)));
}

function udpBackend(name: string, host: string, port: number): Promise<UdpSocket> {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(`${name}|${m.toString()}`, r.port, r.address));
  return new Promise((resolve) => s.bind(port, host, () => resolve(s)));
}

/** Connects, sends `msg`, half-closes, reads until the proxy closes. */
function ask(msg: string, host = VIP, port = PORT): Promise<string> {
  return new Promise((resolve, reject) => {
    const c: Socket = connect({ host, port, allowHalfOpen: true });
    let out = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.end(msg));
    c.on('data', (d: string) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

function udpAsk(sock: UdpSocket, msg: string, host = UDP_VIP, port = PORT): Promise<{ body: string; from: string }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no UDP answer')), 2000);
    sock.once('message', (m, r) => {
      clearTimeout(t);
      resolve({ body: m.toString(), from: `${r.address}:${r.port}` });
    });
    sock.send(msg, port, host);
  });
}

describe('userspace proxy on loopback (real sockets, fake ip)', () => {
  const servers: Server[] = [];
  const udps: UdpSocket[] = [];
  let tcpPort = 0;
  let udpPort = 0;
  const ipCalls: string[] = [];
  const run = async (argv: string[], input?: string): Promise<CommandResult> => {
    ipCalls.push([...argv, input ?? ''].join(' ').trim());
    return { status: 0, stdout: argv.includes('show') ? '[]' : '', stderr: '' };
  };
  let dp: Dataplane;

  /** `elsewhere`: both services internalTrafficPolicy Local, their endpoints on another node. */
  const state = (opts: { tcp?: string[]; udp?: string[]; sticky?: boolean; elsewhere?: boolean } = {}): DesiredState => {
    const tcp = opts.tcp ?? BACKENDS;
    const udp = opts.udp ?? BACKENDS;
    const itp = opts.elsewhere ? { internalTrafficPolicy: 'Local' } : {};
    const node = opts.elsewhere ? 'node-b' : 'node-a';
    const services = [
      svc({ name: 'web', spec: { clusterIP: VIP, clusterIPs: [VIP], ports: [{ name: 'http', port: PORT, protocol: 'TCP', targetPort: tcpPort }], ...itp, ...(opts.sticky ? { sessionAffinity: 'ClientIP' } : {}) } }),
      svc({ name: 'dns', spec: { clusterIP: UDP_VIP, clusterIPs: [UDP_VIP], ports: [{ name: 'dns', port: PORT, protocol: 'UDP', targetPort: udpPort }], ...itp } }),
    ];
    const slices = [
      slice({ service: 'web', ports: [{ name: 'http', port: tcpPort, protocol: 'TCP' }], endpoints: tcp.map((a) => ep(a, { node })) }),
      slice({ service: 'dns', ports: [{ name: 'dns', port: udpPort, protocol: 'UDP' }], endpoints: udp.map((a) => ep(a, { node })) }),
    ];
    return buildDesiredState({ services, endpointSlices: slices, node: NODE }).state;
  };
  const apply = (s: DesiredState) => dp.apply({ state: s, changed: 'all' });

  beforeAll(async () => {
    const first = await tcpBackend('b0', BACKENDS[0]!, 0);
    tcpPort = (first.address() as AddressInfo).port;
    servers.push(first, await tcpBackend('b1', BACKENDS[1]!, tcpPort));
    const u0 = await udpBackend('b0', BACKENDS[0]!, 0);
    udpPort = u0.address().port;
    udps.push(u0, await udpBackend('b1', BACKENDS[1]!, udpPort));
    dp = await createUserspaceDataplane({ config: resolveConfig([]), log: memoryLogger(), nodeAddresses: () => ['10.0.0.5'] }, { run });
    await dp.start();
    await apply(state());
  });

  afterAll(async () => {
    await dp?.close();
    for (const s of servers) s.close();
    for (const s of udps) s.close();
  });

  afterEach(async () => apply(state()));

  it('puts each service address on lo through one ip batch, as ours', () => {
    const add = ipCalls.find((c) => c.startsWith('ip -force -batch -'))!;
    expect(add).toContain(`address replace ${VIP}/32 dev lo scope host label lo:ekp`);
    expect(add).toContain(`address replace ${UDP_VIP}/32 dev lo scope host label lo:ekp`);
  });

  it('TCP: round-robin over the backends, and half-close carries through both ways', async () => {
    const replies = await Promise.all([ask('one'), ask('two')]);
    expect(replies.map((r) => r.split('|')[0]).sort()).toEqual(['b0', 'b1']);
    // the backend saw our FIN, answered after it, and its FIN came back to us
    expect(replies.map((r) => r.split('|')[1]).sort()).toEqual(['got:one', 'got:two']);
  });

  it('TCP: a big transfer survives backpressure intact', async () => {
    const big = 'x'.repeat(4 << 20);
    const r = await ask(big);
    expect(r.length).toBe(3 + 4 + big.length);
  });

  it('TCP: no endpoints → no listener, so the kernel refuses (ECONNREFUSED), and back again', async () => {
    await apply(state({ tcp: [] }));
    await expect(ask('x')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await apply(state());
    expect(await ask('x')).toMatch(/^b[01]\|got:x$/);
  });

  it('TCP: an endpoint removed keeps its established connection; new ones avoid it', async () => {
    const c = connect({ host: VIP, port: PORT, allowHalfOpen: true });
    let out = '';
    c.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((r) => c.once('data', r));
    const backend = out.split('|')[0]!;
    const keep = BACKENDS[backend === 'b0' ? 1 : 0]!;
    await apply(state({ tcp: [keep] }));
    for (let i = 0; i < 3; i++) expect(await ask('n')).toBe(`${backend === 'b0' ? 'b1' : 'b0'}|got:n`);
    c.end('old');
    await new Promise((r) => c.once('end', r));
    expect(out).toBe(`${backend}|got:old`);
  });

  it('TCP: a backend that refuses is skipped for another', async () => {
    const dead = '127.0.0.4'; // nothing listens there
    await apply(state({ tcp: [dead, BACKENDS[0]!] }));
    for (let i = 0; i < 4; i++) expect(await ask('r')).toBe('b0|got:r');
  });

  it('TCP: ClientIP affinity sends one client to one backend', async () => {
    await apply(state({ sticky: true }));
    const r = await Promise.all(Array.from({ length: 6 }, () => ask('s')));
    expect(new Set(r).size).toBe(1);
  });

  it('UDP: one session per client, answers come from the VIP:port, round-robin across clients', async () => {
    const a = createSocket('udp4');
    const b = createSocket('udp4');
    try {
      const r1 = await udpAsk(a, 'p1');
      const r2 = await udpAsk(a, 'p2');
      const r3 = await udpAsk(b, 'p3');
      expect(r1.from).toBe(`${UDP_VIP}:${PORT}`);
      expect(r1.body.split('|')[0]).toBe(r2.body.split('|')[0]); // same session, same backend
      expect(r3.body.split('|')[0]).not.toBe(r1.body.split('|')[0]);
      expect(r3.body).toBe(`${r3.body.split('|')[0]}|p3`);
      const m = dp.kernelMetrics!();
      expect(m.ekp_userspace_open!.samples.find((s) => s.labels.protocol === 'UDP')!.value).toBe(2);
      // the backend of a's session leaves: the session ends, the next datagram goes to the other
      const first = r1.body.split('|')[0]!;
      await apply(state({ udp: [BACKENDS[first === 'b0' ? 1 : 0]!] }));
      expect((await udpAsk(a, 'p4')).body).toBe(`${first === 'b0' ? 'b1' : 'b0'}|p4`);
    } finally {
      a.close();
      b.close();
    }
  });

  it('UDP: no endpoints → the socket closes and the kernel answers port unreachable (ECONNREFUSED on a connected socket)', async () => {
    await apply(state({ udp: [] }));
    const s = createSocket('udp4');
    let again: NodeJS.Timeout | undefined;
    try {
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        s.on('error', resolve);
        s.connect(PORT, UDP_VIP, () => {
          s.send('x');
          again = setTimeout(() => s.send('y'), 100);
        });
      });
      expect(err.code).toBe('ECONNREFUSED');
    } finally {
      // The refusal may come before the second datagram: never send on the closed socket.
      clearTimeout(again);
      s.close();
    }
  });

  it('iTP Local with endpoints on other nodes only: dropped as kube-proxy drops, never refused (TCP reset after the handshake, UDP silence)', async () => {
    await apply(state({ elsewhere: true }));
    const dropped = () => dp.kernelMetrics!().ekp_userspace_refused_total!.samples.find((x) => x.labels.reason === 'dropLocal')?.value ?? 0;
    const before = dropped();
    // The handshake completes (a listener cannot refuse it), so not ECONNREFUSED: the reset follows.
    await expect(ask('x')).rejects.toMatchObject({ code: 'ECONNRESET' });
    const s = createSocket('udp4');
    const timers: NodeJS.Timeout[] = [];
    try {
      // No answer and no port unreachable (ECONNREFUSED on a connected socket): the client times out.
      const heard = await new Promise<string>((resolve) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        s.on('message', () => resolve('an answer'));
        s.connect(PORT, UDP_VIP, () => {
          s.send('x');
          timers.push(setTimeout(() => s.send('y'), 100), setTimeout(() => resolve('silence'), 500));
        });
      });
      expect(heard).toBe('silence');
    } finally {
      // A refusal may come before the second datagram: never send on the closed socket.
      for (const t of timers) clearTimeout(t);
      s.close();
    }
    expect(dropped() - before).toBe(3);
  });

  it('cleanup removes only addresses of ours', async () => {
    const calls: string[] = [];
    const listing = JSON.stringify([{ ifname: 'lo', addr_info: [
      { family: 'inet', local: '127.0.0.1', prefixlen: 8, label: 'lo' },
      { family: 'inet', local: '10.96.0.10', prefixlen: 32, label: 'lo:ekp', metric: 0x656b70 },
      { family: 'inet', local: '10.9.9.9', prefixlen: 32, label: 'lo' },
    ] }]);
    let removed = false;
    const fake = async (argv: string[], input?: string): Promise<CommandResult> => {
      calls.push(input ?? argv.join(' '));
      if (input) removed = true;
      return { status: 0, stdout: argv.includes('show') ? (removed ? '[]' : listing) : '', stderr: '' };
    };
    const ctx = { config: resolveConfig([]), log: memoryLogger(), nodeAddresses: () => [] };
    expect(await cleanupUserspace(ctx, { run: fake })).toEqual(['address 10.96.0.10 on lo']);
    expect(calls).toEqual(['ip -j address show', 'address del 10.96.0.10/32 dev lo\n']);
  });
});

describe('userspace proxy: udpIdleTimeout (kube-proxy\'s userspace setting) ends an idle UDP session', () => {
  const IDLE_VIP = '127.77.0.21';
  const run = async (argv: string[]): Promise<CommandResult> => ({ status: 0, stdout: argv.includes('show') ? '[]' : '', stderr: '' });

  it.each([
    ['--udp-timeout 300ms: after 600 ms of quiet the same client socket starts a new session, on the next backend', ['--udp-timeout', '300ms'], false],
    ['unset: the session (the conntrack UDP timeout, 30 s) keeps its backend', [], true],
  ])('%s', async (_what, args, same) => {
    const backends = await Promise.all(BACKENDS.map((a, i) => udpBackend(`b${i}`, a, 0)));
    const port = backends[0]!.address().port;
    backends[1]!.close();
    backends[1] = await udpBackend('b1', BACKENDS[1]!, port);
    const dp = await createUserspaceDataplane({ config: resolveConfig(args), log: memoryLogger(), nodeAddresses: () => ['10.0.0.5'] }, { run });
    const client = createSocket('udp4');
    try {
      await dp.start();
      await dp.apply({
        state: buildDesiredState({
          services: [svc({ name: 'idle', spec: { clusterIP: IDLE_VIP, clusterIPs: [IDLE_VIP], ports: [{ name: 'u', port: PORT, protocol: 'UDP', targetPort: port }] } })],
          endpointSlices: [slice({ service: 'idle', ports: [{ name: 'u', port, protocol: 'UDP' }], endpoints: BACKENDS.map((a) => ep(a, { node: 'node-a' })) })],
          node: NODE,
        }).state,
        changed: 'all',
      });
      const first = (await udpAsk(client, 'a', IDLE_VIP)).body.split('|')[0];
      await new Promise((r) => setTimeout(r, 600));
      const second = (await udpAsk(client, 'b', IDLE_VIP)).body.split('|')[0];
      expect(second === first).toBe(same);
    } finally {
      client.close();
      await dp.close();
      for (const b of backends) b.close();
    }
  });
});
