// The lab's topology builder, for real: namespaces, routed pod veths, pod
// servers, and teardown — also after the creating process was SIGKILLed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/native/index.js';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import {
  clientRouteDel,
  clientRouteVia,
  execIn,
  httpGet,
  httpGetMany,
  LabProbeError,
  labDown,
  labList,
  labNamespaces,
  labProcesses,
  labState,
  labStatus,
  labUp,
  pidAlive,
  podURL,
  splitHostPort,
  udpAsk,
  udpAskMany,
  type Lab,
  type PodHost,
} from '../../src/lab/index.js';
import { kernelIt, missingCapability } from '../support/capability.js';
import { run, tryRun } from '../support/sys.js';

const it = kernelIt();
const MAIN = `t${process.pid}`;
const DUAL = `s${process.pid}`;
const KILLED = `k${process.pid}`;
const KILLED_EARLY = `e${process.pid}`;
const ALL = [MAIN, DUAL, KILLED, KILLED_EARLY];

let lab: Lab;
let work = '';
const children: ChildProcess[] = [];

/** What `ip netns list` shows of a lab (independent of the library's own listing). */
function netnsListed(name: string): string[] {
  return run(['ip', 'netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`ekp-${name}-`));
}

/** Live processes running this lab's pod server (zombies count as gone). */
function serverProcesses(name: string): number[] {
  const script = `/run/ekp-lab/${name}/pod-server.mjs`;
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        return pidAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(script);
      } catch {
        return false;
      }
    });
}

function expectGone(name: string, pids: number[]): void {
  expect(netnsListed(name)).toEqual([]);
  expect(existsSync(`/run/ekp-lab/${name}`)).toBe(false);
  expect(pids.filter(pidAlive)).toEqual([]);
  expect(serverProcesses(name)).toEqual([]);
  expect(labProcesses(name).size).toBe(0);
  expect(labState(name)).toBeNull();
  expect(labStatus(name).state).toBe('absent');
}

const pod = (name: string): PodHost => {
  const p = lab.pods.find((x) => x.name === name);
  if (!p) throw new Error(`no pod ${name}`);
  return p;
};

const sysctl = async (host: Parameters<typeof execIn>[0], key: string) =>
  (await execIn(host, ['cat', `/proc/sys/${key.replaceAll('.', '/')}`])).trim();

/**
 * A separate `node` process that runs labUp from the compiled build (which
 * `npm test` makes first), so it can be SIGKILLed without the test runner's
 * TypeScript loader.
 */
function compileLabForChild(): string {
  const dist = join(packageRoot(), 'dist', 'lab', 'index.js');
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run \`npm run setup\` (npm test does) to build dist/`);
  const child = join(work, 'child.mjs');
  writeFileSync(
    child,
    `import { labUp } from ${JSON.stringify(pathToFileURL(dist).href)};
const lab = await labUp({ name: process.argv[2], nodes: 2, podsPerNode: 2 });
process.stdout.write('up ' + JSON.stringify(lab.pods.map((p) => p.serverPid)) + '\\n');
setInterval(() => {}, 60_000);
`,
  );
  return child;
}

function spawnLabUpChild(name: string): ChildProcess {
  const child = spawn(process.execPath, [join(work, 'child.mjs'), name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  children.push(child);
  return child;
}

function waitForLine(child: ChildProcess, prefix: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`child: no "${prefix}" line in ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith(prefix));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before "${prefix}": ${err}`));
    });
  });
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const killAndWait = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

beforeAll(async () => {
  if (missingCapability()) return;
  // Labs of an earlier run of this file that was killed before its afterAll.
  for (const name of labList()) {
    const m = /^[tske](\d+)$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !existsSync(`/proc/${m[1]}`)) await labDown(name);
  }
  work = mkdtempSync(join(tmpdir(), 'ekp-lab-test-'));
  lab = await labUp({ name: MAIN, nodes: 2, podsPerNode: 2 });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (missingCapability()) return;
  const errors: unknown[] = [];
  for (const name of ALL) await labDown(name).catch((e) => errors.push(e));
  if (work) rmSync(work, { recursive: true, force: true });
  if (errors.length) throw errors[0];
});

describe('lab topology (2 nodes x 2 pods)', () => {
  it('has the namespaces, addresses and state it promises', async () => {
    expect(netnsListed(MAIN).sort()).toEqual(
      ['client', 'fabric', 'node1', 'node2', 'n1p1', 'n1p2', 'n2p1', 'n2p2'].map((s) => `ekp-${MAIN}-${s}`).sort(),
    );
    expect(lab.nodes.map((n) => [n.name, n.ipv4, n.podCIDR])).toEqual([
      ['node1', '192.168.77.11', '10.244.1.0/24'],
      ['node2', '192.168.77.12', '10.244.2.0/24'],
    ]);
    expect(lab.pods.map((p) => [p.name, p.ipv4, p.node, p.hostVeth])).toEqual([
      ['n1p1', '10.244.1.11', 'node1', 'lxc1p1'],
      ['n1p2', '10.244.1.12', 'node1', 'lxc1p2'],
      ['n2p1', '10.244.2.11', 'node2', 'lxc2p1'],
      ['n2p2', '10.244.2.12', 'node2', 'lxc2p2'],
    ]);
    expect(lab.client.ipv4).toBe('192.168.77.100');
    expect(lab.fabric.ipv4).toBe('192.168.77.1');
    expect(labState(MAIN)).toEqual(lab);
    expect(labStatus(MAIN).state).toBe('up');
    for (const p of lab.pods) expect(pidAlive(p.serverPid!)).toBe(true);
    expect(serverProcesses(MAIN).sort()).toEqual(lab.pods.map((p) => p.serverPid!).sort());
  });

  it('routes pods like a routed CNI: /32 on eth0, gateway 169.254.1.1, proxy ARP host veth', async () => {
    const p = pod('n1p1');
    expect(await execIn(p, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain('10.244.1.11/32');
    const routes = await execIn(p, ['ip', '-4', 'route']);
    expect(routes).toMatch(/^default via 169\.254\.1\.1 dev eth0/m);
    expect(routes).toMatch(/^169\.254\.1\.1 dev eth0 scope link/m);
    const node1 = lab.nodes[0]!;
    expect(await sysctl(node1, 'net.ipv4.conf.lxc1p1.proxy_arp')).toBe('1');
    expect(await sysctl(node1, 'net.ipv4.ip_forward')).toBe('1');
    expect(await sysctl(lab.fabric, 'net.ipv4.ip_forward')).toBe('0');
    const nodeRoutes = await execIn(node1, ['ip', '-4', 'route']);
    expect(nodeRoutes).toMatch(/^default via 192\.168\.77\.1 dev eth0/m);
    expect(nodeRoutes).toMatch(/^10\.244\.1\.11 dev lxc1p1 scope link/m);
    expect(nodeRoutes).toMatch(/^10\.244\.2\.0\/24 via 192\.168\.77\.12 dev eth0/m);
    // No bridge inside a node.
    expect(await execIn(node1, ['ip', '-o', 'link', 'show', 'type', 'bridge'])).toBe('');
  });

  it('pod to pod on the same node: HTTP and UDP see the real source pod IP', async () => {
    const a = pod('n1p1');
    const b = pod('n1p2');
    const r = await httpGet(a, podURL(b));
    expect(r).toMatchObject({ pod: 'n1p2', node: 'node1' });
    expect(splitHostPort(r.client).ip).toBe(a.ipv4);
    const u = await udpAsk(a, b.ipv4, 5353);
    expect(u).toMatchObject({ pod: 'n1p2', node: 'node1' });
    expect(splitHostPort(u.client).ip).toBe(a.ipv4);
  });

  it('pod to pod across nodes: HTTP and UDP see the real source pod IP', async () => {
    const a = pod('n1p2');
    const b = pod('n2p1');
    const [r, u] = await Promise.all([httpGet(a, podURL(b)), udpAsk(a, b.ipv4, 5353)]);
    expect(r).toMatchObject({ pod: 'n2p1', node: 'node2' });
    expect(splitHostPort(r.client).ip).toBe(a.ipv4);
    expect(u).toMatchObject({ pod: 'n2p1', node: 'node2' });
    expect(splitHostPort(u.client).ip).toBe(a.ipv4);
    // and back
    const back = await httpGet(b, podURL(a));
    expect(back).toMatchObject({ pod: 'n1p2', node: 'node1' });
    expect(splitHostPort(back.client).ip).toBe(b.ipv4);
  });

  it('a node reaches its local pods (and remote ones) from its fabric address', async () => {
    const node1 = lab.nodes[0]!;
    const local = await httpGet(node1, podURL(pod('n1p1')));
    expect(local).toMatchObject({ pod: 'n1p1', node: 'node1' });
    expect(splitHostPort(local.client).ip).toBe(node1.ipv4);
    const remote = await httpGet(node1, podURL(pod('n2p2')));
    expect(remote).toMatchObject({ pod: 'n2p2', node: 'node2' });
    expect(splitHostPort(remote.client).ip).toBe(node1.ipv4);
  });

  it('keeps HTTP connections alive and UDP sockets on one port', async () => {
    const many = await httpGetMany(pod('n2p2'), podURL(pod('n1p1')), 5, { keepAlive: true });
    expect(many.every((o) => o.ok)).toBe(true);
    const ports = new Set(many.map((o) => (o.ok ? splitHostPort(o.reply.client).port : -1)));
    expect(ports.size).toBe(1);
    const dgrams = await udpAskMany(pod('n2p2'), pod('n1p1').ipv4, 5353, 3, { localPort: 40123 });
    expect(dgrams.map((o) => (o.ok ? o.reply.client : o.code))).toEqual(Array(3).fill(`${pod('n2p2').ipv4}:40123`));
  });

  it('the client pings node addresses but has no route to pods other than the fabric gateway', async () => {
    for (const n of lab.nodes) await execIn(lab.client, ['ping', '-c', '1', '-W', '2', n.ipv4]);
    expect(await execIn(lab.client, ['ip', '-4', 'route', 'get', '10.244.1.11'])).toMatch(/via 192\.168\.77\.1 dev eth0/);
    const err = await httpGet(lab.client, podURL(pod('n1p1')), { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabProbeError);
  });

  it('a closed port answers at once with a clear error', async () => {
    const err = (await httpGet(pod('n1p1'), 'http://10.244.2.11:9/', { timeoutMs: 2000 }).catch((e: unknown) => e)) as LabProbeError;
    expect(err).toBeInstanceOf(LabProbeError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toContain('10.244.2.11:9');
    const uerr = (await udpAsk(pod('n1p1'), '10.244.2.11', 9, { timeoutMs: 2000 }).catch((e: unknown) => e)) as LabProbeError;
    expect(uerr.code).toBe('ECONNREFUSED');
  });

  it('a namespace\'s requests share one client process; a namespace deleted and made again under its name gets a new one', async () => {
    const ns = `ekpt-probe-${process.pid}`;
    const path = `/run/netns/${ns}`;
    // Processes in the namespace now at `path` (by its nsfs inode, as /proc/PID/ns/net names it).
    const clientsIn = (): number[] => {
      const net = `net:[${statSync(path).ino}]`;
      return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((pid) => {
        try {
          return readlinkSync(`/proc/${pid}/ns/net`) === net;
        } catch {
          return false;
        }
      });
    };
    let first = 0;
    try {
      for (const round of [1, 2]) {
        run(['ip', 'netns', 'add', ns]);
        run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        const asks = await Promise.all([
          httpGet(ns, 'http://127.0.0.1:9/', { timeoutMs: 2000 }).catch((e: unknown) => e),
          udpAsk(ns, '127.0.0.1', 9, { timeoutMs: 2000 }).catch((e: unknown) => e),
          httpGetMany(ns, 'http://127.0.0.1:9/', 3, { timeoutMs: 2000 }),
        ]);
        expect(asks[0]).toMatchObject({ code: 'ECONNREFUSED' });
        expect(asks[1]).toMatchObject({ code: 'ECONNREFUSED' });
        expect((asks[2] as { code?: string }[]).map((o) => o.code)).toEqual(Array(3).fill('ECONNREFUSED'));
        const pids = clientsIn();
        expect(pids).toHaveLength(1);
        if (round === 1) {
          first = pids[0]!;
          // The client keeps the deleted namespace alive: a request now must not land in it.
          run(['ip', 'netns', 'del', ns]);
          expect(pidAlive(first)).toBe(true);
        } else {
          expect(pids[0]).not.toBe(first);
          await waitUntil(() => !pidAlive(first), 5000, 'the old namespace\'s client to go');
          // A client that dies during a request fails it at once, and the next request gets a new one.
          // 10.9.9.2 is on a link but nobody answers its ARP: the request waits seconds for it.
          run(['ip', '-n', ns, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
          run(['ip', '-n', ns, 'addr', 'add', '10.9.9.1/24', 'dev', 'probe0']);
          run(['ip', '-n', ns, 'link', 'set', 'probe0', 'up']);
          run(['ip', '-n', ns, 'link', 'set', 'probe1', 'up']);
          const waiting = httpGet(ns, 'http://10.9.9.2/', { timeoutMs: 10_000 }).catch((e: unknown) => e);
          await new Promise((r) => setTimeout(r, 300));
          const t0 = Date.now();
          process.kill(pids[0]!, 'SIGKILL');
          expect(await waiting).toMatchObject({ code: 'ECLIENT' });
          expect(Date.now() - t0).toBeLessThan(2000);
          expect(await httpGet(ns, 'http://127.0.0.1:9/', { timeoutMs: 2000 }).catch((e: unknown) => e)).toMatchObject({ code: 'ECONNREFUSED' });
          expect(clientsIn()).toHaveLength(1);
        }
      }
    } finally {
      if (existsSync(path)) {
        for (const pid of clientsIn()) process.kill(pid, 'SIGKILL');
        tryRun(['ip', 'netns', 'del', ns]);
      }
      if (first && pidAlive(first)) process.kill(first, 'SIGKILL');
    }
  });

  it('routes an external/LB prefix from the client via a chosen node', async () => {
    await clientRouteVia(lab, '203.0.113.10/32', 'node2');
    expect(await execIn(lab.client, ['ip', '-4', 'route', 'get', '203.0.113.10'])).toMatch(/via 192\.168\.77\.12 dev eth0/);
    await clientRouteVia(lab, '203.0.113.10/32', 1);
    expect(await execIn(lab.client, ['ip', '-4', 'route', 'get', '203.0.113.10'])).toMatch(/via 192\.168\.77\.11 dev eth0/);
    await clientRouteDel(lab, '203.0.113.10/32');
    expect(await execIn(lab.client, ['ip', '-4', 'route', 'get', '203.0.113.10'])).toMatch(/via 192\.168\.77\.1 dev eth0/);
  });

  it('labUp twice with the same name replaces the lab: same names, new servers, nothing doubled', async () => {
    const oldPids = lab.pods.map((p) => p.serverPid!);
    const again = await labUp({ name: MAIN, nodes: 2, podsPerNode: 2 });
    expect(oldPids.filter(pidAlive)).toEqual([]);
    expect(netnsListed(MAIN)).toHaveLength(8);
    expect(serverProcesses(MAIN).sort()).toEqual(again.pods.map((p) => p.serverPid!).sort());
    expect({ ...again, createdAt: undefined, pods: again.pods.map((p) => ({ ...p, serverPid: 0 })) }).toEqual({
      ...lab,
      createdAt: undefined,
      pods: lab.pods.map((p) => ({ ...p, serverPid: 0 })),
    });
    lab = again;
    expect(await httpGet(pod('n2p1'), podURL(pod('n1p2')))).toMatchObject({ pod: 'n1p2' });
  });

  it('labDown removes every namespace, process and file; a second labDown is a no-op', async () => {
    const pids = lab.pods.map((p) => p.serverPid!);
    // A process the lab did not start, inside a node (like a proxy would be), goes too.
    const stray = spawn('nsenter', [`--net=${lab.nodes[0]!.netnsPath}`, '--', 'sleep', '600'], { stdio: 'ignore' });
    children.push(stray);
    await waitUntil(() => labProcesses(MAIN).has(stray.pid!), 5000, 'the stray process to enter the node netns');
    await labDown(MAIN);
    expectGone(MAIN, [...pids, stray.pid!]);
    await labDown(MAIN);
    expectGone(MAIN, pids);
  });
});

describe('lab teardown after the creating process was killed', () => {
  it('labDown cleans up a complete lab whose creator was SIGKILLed; its servers outlived it', async () => {
    compileLabForChild();
    const child = spawnLabUpChild(KILLED);
    const line = await waitForLine(child, 'up ', 20_000);
    const pids = JSON.parse(line.slice(3)) as number[];
    await killAndWait(child);
    expect(pids).toHaveLength(4);
    expect(pids.filter(pidAlive)).toEqual(pids); // detached: they survive their parent
    const state = labState(KILLED);
    expect(state?.pods.map((p) => p.serverPid)).toEqual(pids);
    expect(await httpGet(state!.pods[0]!, podURL(state!.pods[3]!))).toMatchObject({ pod: 'n2p2' });
    await labDown(KILLED);
    expectGone(KILLED, pids);
  });

  it('labDown cleans up a lab whose creator was SIGKILLed half-way through labUp', async () => {
    if (!existsSync(join(work, 'child.mjs'))) compileLabForChild();
    const child = spawnLabUpChild(KILLED_EARLY);
    // Kill as soon as the first pod server has been started.
    await waitUntil(() => serverProcesses(KILLED_EARLY).length > 0 || child.exitCode !== null, 20_000, 'the first pod server');
    await killAndWait(child);
    expect(labNamespaces(KILLED_EARLY).length).toBeGreaterThan(0);
    expect(labState(KILLED_EARLY)).toBeNull();
    expect(labStatus(KILLED_EARLY).state).toBe('partial');
    await labDown(KILLED_EARLY);
    expectGone(KILLED_EARLY, []);
  });
});

describe('dual-stack lab', () => {
  it('pods reach each other over IPv6 across nodes, with the real source address', async () => {
    const dual = await labUp({ name: DUAL, nodes: 2, podsPerNode: 1, ipv6: true });
    try {
      const [a, b] = dual.pods as [PodHost, PodHost];
      expect(a.ipv6).toBe('fd00:244:1::11');
      expect(b.ipv6).toBe('fd00:244:2::11');
      const r = await httpGet(a, podURL(b, '/', 6));
      expect(r).toMatchObject({ pod: 'n2p1', node: 'node2' });
      expect(splitHostPort(r.client).ip).toBe(a.ipv6);
      const u = await udpAsk(a, b.ipv6!, 5353);
      expect(splitHostPort(u.client).ip).toBe(a.ipv6);
      // IPv4 still works, and the client reaches nodes over IPv6.
      expect(splitHostPort((await httpGet(b, podURL(a))).client).ip).toBe(b.ipv4);
      await execIn(dual.client, ['ping', '-6', '-c', '1', '-W', '2', dual.nodes[1]!.ipv6!]);
      const local = await httpGet(dual.nodes[0]!, podURL(a, '/', 6));
      expect(splitHostPort(local.client).ip).toBe(dual.nodes[0]!.ipv6);
    } finally {
      await labDown(DUAL);
    }
    expectGone(DUAL, []);
  });
});
