// Socket-level load balancing (sock_lb: connect/sendmsg/recvmsg/getpeername, v4 and v6),
// tested for real: the programs are attached to a test cgroup, services are written to
// the shared maps, and client processes that joined the cgroup (inside a test network
// namespace with a backend server) connect to virtual IPs that exist nowhere else.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { BpfObject, attachCgroup, bpfObjectPath, detachCgroup, type BpfProgram } from '../../src/native/index.js';
import { CONFIG_GLOBAL, MAP, SVC_F, encodeConfig, encodeSockKey, type SvcKey } from '../../src/dataplane/ebpf/abi.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { createTestCgroup, type TestCgroup } from '../support/cgroup.js';
import { TestNetns, sweepStaleNetns } from '../support/netns.js';
import { Datapath, counterDelta } from './datapath.js';

const it = kernelIt();

/** Addresses inside the test namespace (on its loopback) and the virtual ones. */
const A = {
  be4: '10.244.9.10',
  be4b: '10.244.9.11', // a second UDP backend
  other4: '10.244.9.12', // a real server only the Maglev service points at
  vip4: '10.96.9.1',
  emptyVip4: '10.96.9.2',
  be6: 'fd00:10:244:9::10',
  be6b: 'fd00:10:244:9::11',
  other6: 'fd00:10:244:9::12',
  vip6: 'fd00:10:96:9::1',
  emptyVip6: 'fd00:10:96:9::2',
};

interface ServerSpec {
  kind: 'tcp' | 'udp';
  host: string;
  port: number;
  name: string;
}

const SERVERS: ServerSpec[] = [
  { kind: 'tcp', host: A.be4, port: 8080, name: 'be4' },
  { kind: 'udp', host: A.be4, port: 5353, name: 'be4-udp' },
  { kind: 'udp', host: A.be4b, port: 5353, name: 'be4b-udp' },
  { kind: 'tcp', host: A.other4, port: 8080, name: 'other4' },
  { kind: 'tcp', host: A.be6, port: 8080, name: 'be6' },
  { kind: 'udp', host: A.be6, port: 5353, name: 'be6-udp' },
  { kind: 'udp', host: A.be6b, port: 5353, name: 'be6b-udp' },
  { kind: 'tcp', host: A.other6, port: 8080, name: 'other6' },
];

// The backend: answers each TCP connection with who it is and which local address the
// client reached, and echoes UDP datagrams the same way. Runs in the namespace but
// outside the test cgroup.
const SERVER_JS = `
const net = require('net'), dgram = require('dgram');
const specs = JSON.parse(process.env.SPECS);
let pending = specs.length;
const ready = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
for (const s of specs) {
  if (s.kind === 'tcp') {
    net.createServer((c) => c.end(JSON.stringify({ name: s.name, local: c.localAddress, localPort: c.localPort })))
      .listen({ host: s.host, port: s.port, ipv6Only: s.host.includes(':') }, ready);
  } else {
    const u = dgram.createSocket(s.host.includes(':') ? 'udp6' : 'udp4');
    u.on('message', (m, r) => u.send(JSON.stringify({ name: s.name, got: m.toString() }), r.port, r.address));
    u.bind(s.port, s.host, ready);
  }
}`;

// A client: one TCP connection or one UDP exchange; prints what the socket API showed.
const CLIENT_JS = `
const net = require('net'), dgram = require('dgram');
const { KIND, HOST, PORT } = process.env;
const t0 = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
const done = (o) => { process.stdout.write(JSON.stringify({ ...o, ms: ms() })); process.exit(0); };
setTimeout(() => done({ error: 'TIMEOUT' }), 3000);
if (KIND === 'tcp-many') {
  // 32 connections from this process, one after the other: the backends they reached.
  const names = [];
  const next = () => {
    const s = net.connect({ host: HOST, port: Number(PORT) });
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => { names.push(JSON.parse(data).name); if (names.length === 32) done({ names }); else next(); });
    s.on('error', (e) => done({ error: e.code }));
  };
  next();
} else if (KIND === 'tcp') {
  const s = net.connect({ host: HOST, port: Number(PORT) });
  let data = '', peer = null;
  s.on('connect', () => { peer = { address: s.remoteAddress, port: s.remotePort }; });
  s.on('data', (d) => { data += d; });
  s.on('end', () => done({ peer, reply: JSON.parse(data) }));
  s.on('error', (e) => done({ error: e.code }));
} else if (KIND === 'udp-connected') {
  const u = dgram.createSocket(HOST.includes(':') ? 'udp6' : 'udp4');
  u.on('error', (e) => done({ error: e.code }));
  u.connect(Number(PORT), HOST, (e) => done(e ? { error: e.code } : { peer: u.remoteAddress() }));
} else if (KIND === 'udp-many') {
  // Eight datagrams from one unconnected socket, one after the other's answer.
  const u = dgram.createSocket(HOST.includes(':') ? 'udp6' : 'udp4');
  const names = [];
  const next = () => u.send('ping', Number(PORT), HOST, (e) => { if (e) done({ error: e.code }); });
  u.on('message', (m) => { names.push(JSON.parse(m.toString()).name); if (names.length === 8) done({ names }); else next(); });
  u.on('error', (e) => done({ error: e.code }));
  next();
} else {
  const u = dgram.createSocket(HOST.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m, r) => done({ from: { address: r.address, port: r.port }, reply: JSON.parse(m.toString()) }));
  u.on('error', (e) => done({ error: e.code }));
  u.send('ping', Number(PORT), HOST, (e) => { if (e) done({ error: e.code }); });
}`;

interface ClientResult {
  peer?: { address: string; port: number };
  from?: { address: string; port: number };
  reply?: { name: string; local?: string; localPort?: number; got?: string };
  error?: string;
  names?: string[];
  ms: number;
}

describe('sock_lb (cgroup socket hooks)', () => {
  let fs: PrivateBpffs | undefined;
  let cg: TestCgroup | undefined;
  let ns: TestNetns | undefined;
  let dp: Datapath | undefined;
  let sock: BpfObject | undefined;
  let server: ChildProcess | undefined;
  const attached: BpfProgram[] = [];

  /** Runs a client in the namespace; inCgroup decides whether it joins the test cgroup first. */
  function client(kind: 'tcp' | 'tcp-many' | 'udp' | 'udp-connected' | 'udp-many', host: string, port: number, inCgroup = true): ClientResult {
    const join = inCgroup ? 'echo $$ > "$CG/cgroup.procs" && ' : '';
    const r = spawnSync('nsenter', [`--net=${ns!.path}`, '--', 'sh', '-c', `${join}exec "$NODE" -e "$SCRIPT"`], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { PATH: process.env.PATH, CG: cg!.path, NODE: process.execPath, SCRIPT: CLIENT_JS, KIND: kind, HOST: host, PORT: String(port) },
    });
    if (r.status !== 0) throw new Error(`client failed (${r.status}): ${r.stderr || r.error}`);
    return JSON.parse(r.stdout) as ClientResult;
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) return;
    sweepStaleNetns();
    fs = mountPrivateBpffs();
    cg = createTestCgroup('socklb');
    ns = TestNetns.create('socklb');
    for (const a of [A.be4, A.be4b, A.other4]) ns.ip('addr', 'add', `${a}/32`, 'dev', 'lo');
    for (const a of [A.be6, A.be6b, A.other6]) ns.ip('addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad');

    // Services through the harness's maps (tc_lb instance), shared by pin with sock_lb.
    dp = new Datapath(fs.path);
    dp.setBackend(1, { addr: A.be4, port: 8080 });
    dp.setBackend(2, { addr: A.be4, port: 5353 });
    dp.setBackend(3, { addr: A.be6, port: 8080 });
    dp.setBackend(4, { addr: A.be6, port: 5353 });
    dp.setBackend(7, { addr: A.be4b, port: 5353 });
    dp.setBackend(8, { addr: A.be6b, port: 5353 });
    const svc = (frontend: SvcKey, svcId: number, slots: number[], flags = 0) => dp!.setService({ frontend, svcId, slots, flags });
    svc({ addr: A.vip4, port: 80, proto: 'tcp' }, 1, [1]);
    svc({ addr: A.vip4, port: 53, proto: 'udp' }, 2, [2]);
    svc({ addr: A.emptyVip4, port: 80, proto: 'tcp' }, 3, []);
    svc({ addr: A.vip6, port: 80, proto: 'tcp' }, 4, [3]);
    svc({ addr: A.vip6, port: 53, proto: 'udp' }, 5, [4]);
    svc({ addr: A.emptyVip6, port: 80, proto: 'tcp' }, 6, []);
    // Random selection over two UDP backends; and a service with source ranges.
    svc({ addr: A.vip4, port: 54, proto: 'udp' }, 7, [2, 7]);
    svc({ addr: A.vip6, port: 54, proto: 'udp' }, 8, [4, 8]);
    svc({ addr: A.vip4, port: 81, proto: 'tcp' }, 9, [1], SVC_F.SRC_RANGES);
    svc({ addr: A.vip6, port: 81, proto: 'tcp' }, 10, [3], SVC_F.SRC_RANGES);
    // A Maglev table (7 slots) over two TCP backends.
    dp.setBackend(9, { addr: A.other4, port: 8080 });
    dp.setBackend(10, { addr: A.other6, port: 8080 });
    svc({ addr: A.vip4, port: 82, proto: 'tcp' }, 11, [1, 9, 9, 1, 9, 1, 1], SVC_F.MAGLEV);
    svc({ addr: A.vip6, port: 82, proto: 'tcp' }, 12, [3, 10, 10, 3, 10, 3, 3], SVC_F.MAGLEV);

    sock = BpfObject.open(bpfObjectPath('sock_lb'), { pinRoot: fs.path });
    sock.setRodata(CONFIG_GLOBAL, encodeConfig({}));
    sock.load();
    for (const p of sock.programs()) {
      attachCgroup(p, cg.path);
      attached.push(p);
    }

    server = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', SERVER_JS], {
      env: { ...process.env, SPECS: JSON.stringify(SERVERS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`backend server did not start: ${err}`)), 10_000);
      server!.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      server!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) { clearTimeout(timer); resolve(); }
      });
      server!.on('exit', (code) => { clearTimeout(timer); reject(new Error(`backend server exited (${code}): ${err}`)); });
    });
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
    for (const p of attached.splice(0)) {
      try { detachCgroup(p, cg!.path); } catch { /* the cgroup's removal detaches too */ }
    }
    sock?.close();
    dp?.close();
    cg?.dispose();
    ns?.destroy();
    fs?.dispose();
  });

  for (const fam of [4, 6] as const) {
    const vip = fam === 4 ? A.vip4 : A.vip6;
    const be = fam === 4 ? A.be4 : A.be6;
    const emptyVip = fam === 4 ? A.emptyVip4 : A.emptyVip6;
    const other = fam === 4 ? A.other4 : A.other6;

    it(`v${fam} TCP connect to VIP:80 reaches the backend; getpeername shows the VIP`, () => {
      const before = dp!.counters();
      const r = client('tcp', vip, 80);
      expect(r.error).toBeUndefined();
      // The server saw a connection to its own address and port: translated at connect.
      expect(r.reply).toEqual({ name: fam === 4 ? 'be4' : 'be6', local: be, localPort: 8080 });
      // socket.remoteAddress is getpeername(): the hook puts the frontend back.
      expect(r.peer).toEqual({ address: vip, port: 80 });
      expect(counterDelta(before, dp!.counters()).events.sock_xlate).toBe(1);
      expect(dp!.svcPackets(fam === 4 ? 1 : 4)).toBeGreaterThanOrEqual(1n);
    });

    it(`v${fam} UDP sendmsg to VIP:53 gets an answer whose recvmsg source is the VIP`, () => {
      const r = client('udp', vip, 53);
      expect(r.error).toBeUndefined();
      expect(r.reply).toEqual({ name: fam === 4 ? 'be4-udp' : 'be6-udp', got: 'ping' });
      expect(r.from).toEqual({ address: vip, port: 53 });
    });

    it(`v${fam} an unconnected UDP socket's datagrams to a frontend all go to one backend, not one picked at random each`, () => {
      const r = client('udp-many', vip, 54);
      expect(r.error).toBeUndefined();
      expect(r.names).toHaveLength(8);
      expect(new Set(r.names).size).toBe(1);
    });

    it(`v${fam} connections from one process to a Maglev service are spread over its backends (a connect has no source port: the socket is hashed)`, () => {
      const r = client('tcp-many', vip, 82);
      expect(r.error).toBeUndefined();
      expect(r.names).toHaveLength(32);
      // Hashed by the namespace alone, all 32 went to one backend (by chance now: under 1e-7).
      expect(new Set(r.names)).toEqual(new Set(fam === 4 ? ['be4', 'other4'] : ['be6', 'other6']));
    });

    it(`v${fam} a service with source ranges is left to the per-packet path, which checks them (the VIP has no route here)`, () => {
      const before = dp!.counters();
      expect(client('tcp', vip, 81).error).toBe('ENETUNREACH');
      expect(counterDelta(before, dp!.counters()).events.sock_xlate).toBeUndefined();
    });

    it(`v${fam} a UDP socket connecting to VIP:53 is left to the per-packet path (the VIP has no route here)`, () => {
      // Translated at connect it would keep a removed backend for life (see lib/sock.h).
      const before = dp!.counters();
      expect(client('udp-connected', vip, 53).error).toBe('ENETUNREACH');
      expect(counterDelta(before, dp!.counters()).events.sock_xlate).toBeUndefined();
    });

    it(`v${fam} TCP connect to a service without backends fails at once with ECONNREFUSED`, () => {
      const r = client('tcp', emptyVip, 80);
      expect(r.error).toBe('ECONNREFUSED');
      // Refused by the hook inside connect(): no SYN, no retransmission timer.
      expect(r.ms).toBeLessThan(1000);
    });

    it(`v${fam} a non-service address is untouched`, () => {
      const before = dp!.counters();
      const r = client('tcp', other, 8080);
      expect(r.error).toBeUndefined();
      expect(r.reply).toEqual({ name: fam === 4 ? 'other4' : 'other6', local: other, localPort: 8080 });
      expect(r.peer).toEqual({ address: other, port: 8080 });
      expect(counterDelta(before, dp!.counters()).events.sock_xlate).toBeUndefined();
    });

    it(`v${fam} a process outside the cgroup is not translated (the VIP has no route)`, () => {
      const before = dp!.counters();
      const outside = client('tcp', vip, 80, false);
      expect(outside.error).toBe('ENETUNREACH');
      expect(counterDelta(before, dp!.counters()).events.sock_xlate).toBeUndefined();
      // ... while the same client in the cgroup, right after, is.
      expect(client('tcp', vip, 80).peer).toEqual({ address: vip, port: 80 });
    });
  }

  it('the reverse map holds {socket cookie, backend} -> frontend, and nothing for unknown sockets', () => {
    // Every translated socket left an entry naming the frontend it asked for.
    const m = dp!.map(MAP.sock);
    const frontends = [...m.entries()].map(([, v]) => v.readUInt16BE(16));
    expect(frontends.length).toBeGreaterThanOrEqual(4);
    expect(new Set(frontends)).toEqual(new Set([80, 53, 54, 82]));
    expect(m.lookup(encodeSockKey(0n, A.be4, 8080))).toBeNull();
  });
});
