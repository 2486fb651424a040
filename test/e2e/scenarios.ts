// One end-to-end scenario table for every proxy mode: the lab (2 nodes × 2
// pods, an external client) with the example Services, real traffic, and what
// a kube-proxy user expects to see. A mode runs every scenario it can express.
import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import {
  clientRouteDel, clientRouteVia, execIn, exampleServices, httpGet, httpGetMany, httpText, LAB_EXTERNAL_IP, nodeCgroup, podServerScript, tryExecIn, udpAsk, udpAskMany, writeManifests, manifestsDir,
  type ClientHost, type Host, type Lab, type NodeHost, type PodHost, type PodReply, type ServiceDef,
} from '../../src/lab/index.js';

export interface ScenarioEnv {
  lab: Lab;
  /** Rewrites the manifests and waits until every node's proxy has the change in its kernel. */
  setServices(defs: ServiceDef[]): Promise<void>;
  /** Stops the node's proxy and starts it again, with these flags after the suite's (the last of a flag wins). */
  restartProxy(node: NodeHost, signal: 'SIGTERM' | 'SIGKILL', extraArgs?: string[]): Promise<void>;
  stopProxy(node: NodeHost, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  startProxy(node: NodeHost): Promise<void>;
}

export interface Scenario {
  name: string;
  /** Modes that cannot express this (with the README's reason). */
  notIn?: string[];
  /** Runs only in a dual-stack lab. */
  needsIPv6?: boolean;
  run(env: ScenarioEnv): Promise<void>;
}

/** A reply's client address without its port (and without the IPv4-mapped prefix). */
export const hostOf = (client: string) => client.replace(/^::ffff:/, '').replace(/:\d+$/, '');

/** The TCP segments `host`'s namespace has retransmitted (/proc/net/snmp is per namespace). */
async function tcpRetransmits(host: NodeHost | PodHost): Promise<number> {
  const lines = (await execIn(host, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  const at = names?.indexOf('RetransSegs') ?? -1;
  if (at < 0 || !values) throw new Error(`no Tcp RetransSegs in ${host.name}'s /proc/net/snmp`);
  return Number(values[at]);
}

/**
 * Packets counted on `host` while `run` runs, by nft rules of a table of its own (`family name`)
 * in one chain on `hook` (`prerouting`, `input`): each rule's match under its name. The table
 * goes afterwards, whatever happened.
 */
async function counted(host: Host, table: string, hook: string, rules: Record<string, string>, run: () => Promise<void>): Promise<Record<string, number>> {
  await execIn(host, ['nft', '-f', '-'], {
    input: `add table ${table}\nadd chain ${table} c { type filter hook ${hook} priority 0; }\n`
      + Object.entries(rules).map(([name, match]) => `add rule ${table} c ${match} counter comment "${name}"\n`).join(''),
  });
  try {
    await run();
    const listed = await execIn(host, ['nft', 'list', 'table', ...table.split(' ')]);
    return Object.fromEntries(Object.keys(rules).map((name) => [name, Number(new RegExp(`packets (\\d+) bytes \\d+ comment "${name}"`).exec(listed)?.[1])]));
  } finally {
    await execIn(host, ['nft', 'delete', 'table', ...table.split(' ')]);
  }
}

/** Polls until `check` passes (config changes travel file → watcher → sync). */
async function eventually(check: () => Promise<void>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The replies, after checking that every request was answered; `what` names the asks in a failure. */
export function answers(outcomes: { ok: boolean }[], what = ''): PodReply[] {
  const failed = outcomes.filter((o) => !o.ok);
  expect(failed, `${what ? `${what}: ` : ''}${failed.length} of ${outcomes.length} failed, ${JSON.stringify(failed.slice(0, 3))}`).toEqual([]);
  return outcomes.map((o) => (o as unknown as { reply: PodReply }).reply);
}

/**
 * A long-lived TCP connection from `from` to addr:port that sends a request
 * every 100 ms on the same socket until told to stop; reports each answering pod.
 */
export function longLivedClient(from: PodHost | NodeHost, addr: string, port: number) {
  const script = String.raw`
const net = require('node:net');
const s = net.connect(+process.argv[2], process.argv[1]);
let buf = '';
s.setEncoding('utf8');
const ask = () => s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
s.on('connect', ask);
s.on('data', (d) => {
  buf += d;
  const i = buf.indexOf('{'), j = buf.indexOf('}', i);
  if (i < 0 || j < 0) return;
  console.log(JSON.parse(buf.slice(i, j + 1)).pod);
  buf = buf.slice(j + 1);
  setTimeout(ask, 100);
});
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
s.on('close', () => { console.log('CLOSED'); process.exit(1); });
process.stdin.on('data', () => process.exit(0));`;
  const { lines, stop } = lineChild(from, [process.execPath, '-e', script, addr, String(port)]);
  return {
    lines,
    /** Waits for `n` more answers. */
    async answers(n: number): Promise<string[]> {
      const start = lines.length;
      await eventually(async () => expect(lines.length).toBeGreaterThanOrEqual(start + n), 10_000);
      return lines.slice(start, start + n);
    },
    stop,
  };
}

/**
 * A client process in `from`'s network namespace that prints one line per event and
 * exits on a line on its stdin: its lines so far, and stop() (again is fine), which
 * returns them all once it has exited.
 */
function lineChild(from: PodHost | NodeHost, argv: string[]) {
  const child = spawn('nsenter', [`--net=${from.netnsPath}`, '--', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.once('exit', r));
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
  return {
    lines,
    async stop(): Promise<string[]> {
      if (child.exitCode === null && child.signalCode === null) child.stdin.end('stop\n');
      await exited;
      return lines;
    },
  };
}

/**
 * A long-lived connected UDP socket from `from` to addr:port (inside `cgroup`
 * when given, where socket-level load balancing applies) that asks every 100 ms
 * and reports each answering pod; an ask unanswered for 500 ms is reported as
 * LOST and the next one follows, so a black-holed socket shows as a run of LOSTs.
 */
export function longLivedUdpClient(from: PodHost, addr: string, port: number, cgroup?: string) {
  const script = String.raw`
const s = require('node:dgram').createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
let timer;
const ask = () => { s.send('ping'); timer = setTimeout(() => { console.log('LOST'); ask(); }, 500); };
s.on('message', (m) => { clearTimeout(timer); console.log(JSON.parse(m.toString()).pod); timer = setTimeout(ask, 100); });
s.on('error', (e) => { console.log('ERROR ' + e.code); process.exit(1); });
s.connect(+process.argv[2], process.argv[1], ask);
process.stdin.on('data', () => process.exit(0));`;
  const node = [process.execPath, '-e', script, addr, String(port)];
  const argv = cgroup ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...node] : node;
  const { lines, stop } = lineChild(from, argv);
  return {
    /** Waits until `n` more pods have answered (LOST asks in between are returned too). */
    async answers(n: number, ms = 10_000): Promise<string[]> {
      const start = lines.length;
      await eventually(async () => expect(lines.slice(start).filter((l) => l !== 'LOST').length).toBeGreaterThanOrEqual(n), ms);
      return lines.slice(start);
    },
    stop,
  };
}

/**
 * A host-network pod: the lab's pod server in `node`'s own namespace, on ports of
 * its own (answering as `host-<node>`). Resolves once it listens; stop() ends it.
 */
async function hostNetworkServer(node: NodeHost, httpPort: number, udpPort: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn('nsenter', [`--net=${node.netnsPath}`, '--', process.execPath, podServerScript(), `host-${node.name}`, node.name], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EKP_LAB_HTTP_PORT: String(httpPort), EKP_LAB_UDP_PORT: String(udpPort) },
  });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await eventually(async () => expect(out).toMatch(/ ready pod=/), 10_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop };
}

/**
 * True when the node's proxy relays connections (userspace, per its /proxyMode):
 * backends then see the node's address, never the client's, and a denied
 * client is reset after the handshake the kernel completed instead of dropped.
 */
async function relays(node: NodeHost): Promise<boolean> {
  return (await fromProxy(node, '/proxyMode')).trim() === 'userspace';
}

/** The node's proxy's /metrics text. */
function metricsOf(node: NodeHost): Promise<string> {
  return fromProxy(node, '/metrics');
}

/** A GET of the node's proxy's metrics server (127.0.0.1:10249 in the node's namespace). */
async function fromProxy(node: NodeHost, path: string): Promise<string> {
  const r = await httpText(node, `http://127.0.0.1:10249${path}`, { timeoutMs: 5000 });
  if (!r.ok) throw new Error(`${node.name}: GET ${path} of its proxy: ${r.code} ${r.message}`);
  return r.body;
}

/** A sample's value in Prometheus text (0 when absent). */
function sample(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

const v6url = (addr: string, port: number) => `http://[${addr}]:${port}/`;
const hostOf6 = (client: string) => client.replace(/^\[?([0-9a-f:]+)\]?:\d+$/i, '$1');

export const SCENARIOS: Scenario[] = [
  {
    name: 'IPv6: ClusterIP from a pod keeps the pod source address',
    needsIPv6: true,
    async run({ lab }) {
      const from = lab.pods[1]!;
      const replies = answers(await httpGetMany(from, v6url('fd00:96::a', 80), 12));
      expect(new Set(replies.map((r) => r.pod)).size).toBeGreaterThanOrEqual(2);
      for (const r of replies.filter((x) => x.pod !== from.name)) expect(hostOf6(r.client)).toBe(from.ipv6);
    },
  },
  {
    name: 'IPv6: NodePort eTP Local keeps the client address; eTP Cluster reaches every node',
    needsIPv6: true,
    async run({ lab }) {
      const node = lab.nodes[0]!;
      const local = answers(await httpGetMany(lab.client, v6url(node.ipv6!, 30081), 6));
      expect(new Set(local.map((r) => r.node))).toEqual(new Set([node.name]));
      for (const r of local) expect(hostOf6(r.client)).toBe(lab.client.ipv6);
      const cluster = answers(await httpGetMany(lab.client, v6url(node.ipv6!, 30080), 16));
      expect(new Set(cluster.map((r) => r.node))).toEqual(new Set(lab.nodes.map((n) => n.name)));
    },
  },
  {
    name: 'IPv6: UDP through a ClusterIP, and refusal with no endpoints',
    needsIPv6: true,
    async run({ lab }) {
      answers(await udpAskMany(lab.pods[0]!, 'fd00:96::f', 53, 4));
      await expect(httpGet(lab.pods[0]!, v6url('fd00:96::e', 80), { timeoutMs: 3000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    },
  },
  {
    name: 'ClusterIP from a pod (per-packet path) spreads over pods and keeps the pod source IP',
    async run({ lab }) {
      const from = lab.pods[0]!;
      const replies = answers(await httpGetMany(from, 'http://10.96.0.10/', 16));
      expect(new Set(replies.map((r) => r.pod)).size).toBeGreaterThanOrEqual(2);
      // A pod that lands on itself is hairpinned, and masqueraded as kube-proxy does.
      const node = lab.nodes.find((n) => n.name === from.node)!;
      const relayed = await relays(node);
      for (const r of replies) expect(hostOf(r.client)).toBe(r.pod === from.name || relayed ? node.ipv4 : from.ipv4);
    },
  },
  {
    name: 'ClusterIP from a pod of the node\'s cgroup (socket-level LB) keeps the pod source IP',
    notIn: ['iptables', 'nftables', 'ipvs', 'userspace'],
    async run({ lab }) {
      const from = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === from.node)!;
      const replies = answers(await httpGetMany(from, 'http://10.96.0.10/', 8, { cgroup: nodeCgroup(lab.spec.name, node) }));
      for (const r of replies) expect(hostOf(r.client)).toBe(from.ipv4);
    },
  },
  {
    name: 'ClusterIP from the node itself',
    async run({ lab }) {
      const replies = answers(await httpGetMany(lab.nodes[0]!, 'http://10.96.0.10/', 8));
      expect(replies.every((r) => lab.pods.some((p) => p.name === r.pod))).toBe(true);
    },
  },
  {
    name: 'detectLocalMode InterfaceNamePrefix: pods are told by the interface they come in on (the CNI\'s veths), not by clusterCIDR',
    notIn: ['userspace'],
    async run({ lab, restartProxy }) {
      const from = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === from.node)!;
      // A cluster CIDR that holds no pod: only the interface can tell that the client is one. (ebpf
      // tells pods by their veth whatever the detector says: there this checks that it does.)
      await restartProxy(node, 'SIGTERM', ['--cluster-cidr', '198.18.0.0/15', '--detect-local-mode', 'InterfaceNamePrefix', '--pod-interface-name-prefix', 'lxc']);
      try {
        const replies = answers(await httpGetMany(from, 'http://10.96.0.10/', 16));
        expect(replies.some((r) => r.pod !== from.name)).toBe(true);
        // Kept, but for the pod landing on itself (hairpin, masqueraded).
        for (const r of replies) expect(hostOf(r.client)).toBe(r.pod === from.name ? node.ipv4 : from.ipv4);
        // Not from a pod interface: an off-cluster client routed to the ClusterIP is masqueraded on its way to another node.
        await clientRouteVia(lab, '10.96.0.10/32', node);
        const remote = answers(await httpGetMany(lab.client, 'http://10.96.0.10/', 16)).filter((r) => lab.pods.find((p) => p.name === r.pod)?.node !== node.name);
        expect(remote.length).toBeGreaterThan(0);
        for (const r of remote) expect(hostOf(r.client)).toBe(node.ipv4);
      } finally {
        await clientRouteDel(lab, '10.96.0.10/32');
        await restartProxy(node, 'SIGTERM');
      }
    },
  },
  {
    name: 'NodePort, externalTrafficPolicy Cluster, from an external client: every pod, SNAT for remote backends',
    async run({ lab }) {
      const node = lab.nodes[0]!;
      const replies = answers(await httpGetMany(lab.client, `http://${node.ipv4}:30080/`, 24));
      expect(new Set(replies.map((r) => r.node))).toEqual(new Set(lab.nodes.map((n) => n.name)));
      for (const r of replies.filter((x) => x.node !== node.name)) expect(hostOf(r.client)).toBe(node.ipv4);
    },
  },
  {
    name: 'a NodePort forwards as a router does: the node and the backend\'s node each take a hop, so a datagram with 2 hops left reaches only the node\'s own pods, one with 3 every pod; one with 1 is answered by the node with a time exceeded quoting it as sent',
    // userspace relays: the relay's datagram to the backend starts with hops of its own.
    notIn: ['userspace'],
    async run({ lab, setServices }) {
      const node = lab.nodes[0]!;
      const v6 = !!lab.spec.ipv6;
      const hops: ServiceDef = {
        name: 'hops-udp', clusterIP: '10.96.0.52', ...(v6 ? { clusterIPv6: 'fd00:96::52' } : {}), type: 'NodePort', protocol: 'UDP', port: 53,
        targetPort: lab.addressing.udpPort, nodePort: 30053, externalTrafficPolicy: 'Cluster', pods: lab.pods.map((p) => p.name),
      };
      await setServices([...exampleServices(lab), hops]);
      try {
        for (const [family, addr] of [['IPv4', node.ipv4], ...(v6 ? [['IPv6', node.ipv6!]] : [])] as [string, string][]) {
          // 16 flows (a source port each, below the ephemeral range) from the external client, one hop from the node.
          const base = 22_000 + (family === 'IPv6' ? 50 : 0);
          const ask = (ttl: number) => Promise.all(Array.from({ length: 16 }, (_, i) =>
            udpAskMany(lab.client, addr, 30053, 1, { ttl, localPort: base + ttl * 100 + i, timeoutMs: 1500 }).then(([o]) => o!)));
          const two = await ask(2);
          const reached = two.filter((o) => o.ok).map((o) => (o as { reply: PodReply }).reply);
          expect(reached.length, `${family}: flows to the node's own pods`).toBeGreaterThan(0);
          expect(new Set(reached.map((r) => r.node)), `${family}: with 2 hops left, only the node's own pods`).toEqual(new Set([node.name]));
          expect(two.filter((o) => !o.ok).map((o) => (o as { code: string }).code), `${family}: the flows to other nodes' pods die on the way`)
            .toEqual(expect.arrayContaining(['ETIMEDOUT']));
          const three = answers(await ask(3), `${family}, with 3 hops left`);
          expect(new Set(three.map((r) => r.node)), `${family}: with 3, every node's pods`).toEqual(new Set(lab.nodes.map((n) => n.name)));
          // With 1 hop left the node itself sends each flow's datagram no further, and answers it,
          // as its stack forwarding it would: the time exceeded comes from the node's address and
          // quotes the datagram as the client sent it (the NodePort, not the backend's port).
          // Counted as it reaches the client, by the quote's destination port. (The node's stack,
          // which answers the flows to its own pods, and every mode's, limits its ICMP errors to a
          // burst of 6 per destination: not for this count.)
          const v4 = family === 'IPv4';
          const limit = v4 ? 'net.ipv4.icmp_ratelimit' : 'net.ipv6.icmp.ratelimit';
          const wasLimit = (await execIn(node, ['sysctl', '-n', limit])).trim();
          const icmp = v4 ? 'ip saddr ' + addr + ' icmp type time-exceeded' : 'ip6 saddr ' + addr + ' icmpv6 type time-exceeded';
          const port = v4 ? '@nh,400,16' : '@nh,720,16'; // IP and ICMP headers, the quote's IP header, then its destination port
          const count = await counted(lab.client, 'inet ekp-e2e-hops', 'input', { 'as-sent': `${icmp} ${port} 30053`, other: `${icmp} ${port} != 30053` }, async () => {
            await execIn(node, ['sysctl', '-qw', `${limit}=0`]);
            try {
              const one = await ask(1);
              expect(one.filter((o) => o.ok), `${family}: with 1 hop left, nothing arrives`).toEqual([]);
            } finally {
              await execIn(node, ['sysctl', '-qw', `${limit}=${wasLimit}`]);
            }
          });
          expect(count['as-sent'], `${family}: time exceeded, one per flow`).toBe(16);
          expect(count.other, `${family}: none quoting the translation`).toBe(0);
        }
      } finally {
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'NodePort, externalTrafficPolicy Local: local pods only, client source IP preserved',
    async run({ lab }) {
      for (const node of lab.nodes) {
        const replies = answers(await httpGetMany(lab.client, `http://${node.ipv4}:30081/`, 8));
        expect(new Set(replies.map((r) => r.node))).toEqual(new Set([node.name]));
        const relayed = await relays(node);
        for (const r of replies) expect(hostOf(r.client)).toBe(relayed ? node.ipv4 : lab.client.ipv4);
      }
    },
  },
  {
    name: 'NodePort from inside the cluster: a pod to its own node\'s and another node\'s address, the node itself to its own (per-packet and socket-level)',
    async run({ lab }) {
      const from = lab.pods[0]!;
      const own = lab.nodes.find((n) => n.name === from.node)!;
      const other = lab.nodes.find((n) => n.name !== from.node)!;
      const cgroup = nodeCgroup(lab.spec.name, own);
      // eTP Cluster spreads over every pod (the client's own pod too: hairpin); eTP Local from
      // inside the cluster uses every endpoint as well (kube-proxy's short-circuit). Replies from
      // a NodePort carry the node's address: they must not reach the stack as martians.
      const asks: [PodHost | NodeHost, string, object][] = [
        [from, `http://${own.ipv4}:30080/`, {}],
        [from, `http://${other.ipv4}:30080/`, {}],
        [from, `http://${own.ipv4}:30081/`, {}],
        [own, `http://${own.ipv4}:30080/`, {}],
        [own, `http://${own.ipv4}:30080/`, { cgroup }],
        [own, `http://${other.ipv4}:30080/`, {}],
      ];
      if (lab.spec.ipv6) asks.push([from, v6url(own.ipv6!, 30080), {}], [own, v6url(own.ipv6!, 30080), {}]);
      for (const [where, url, opts] of asks) {
        const what = `${where.name} -> ${url}${'cgroup' in opts ? ' (cgroup)' : ''}`;
        const replies = answers(await httpGetMany(where, url, 8, { timeoutMs: 2000, ...opts }), what);
        expect(new Set(replies.map((r) => r.pod)).size, what).toBeGreaterThanOrEqual(2);
      }
    },
  },
  {
    name: 'a NodePort on 127.0.0.1 from the node itself: served by iptables (kube-proxy\'s localhostNodePorts, on by default), refused elsewhere, as kube-proxy\'s other modes do',
    async run({ lab }) {
      const node = lab.nodes[0]!;
      const mode = (await fromProxy(node, '/proxyMode')).trim();
      if (mode === 'iptables') {
        // From 127.0.0.1, masqueraded to the node's address on the way out: remote pods answer too.
        const replies = answers(await httpGetMany(node, 'http://127.0.0.1:30080/', 16, { timeoutMs: 2000 }), 'the node -> 127.0.0.1:30080');
        expect(new Set(replies.map((r) => r.node))).toEqual(new Set(lab.nodes.map((n) => n.name)));
        expect(await execIn(node, ['sysctl', '-n', 'net.ipv4.conf.all.route_localnet'])).toMatch(/^1/);
        // kube-proxy's nfacct counter of those connections' packets, and its metric.
        expect(sample(await metricsOf(node), 'kubeproxy_iptables_localhost_nodeports_accepted_packets_total')).toBeGreaterThanOrEqual(16);
        expect(await metricsOf(node)).toMatch(/^kubeproxy_iptables_ct_state_invalid_dropped_packets_total \d+$/m);
      } else {
        await expect(httpGet(node, 'http://127.0.0.1:30080/', { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
    },
  },
  {
    name: 'an ExternalIP at a node\'s address (bare metal): a pod and an external client reach it, and no other node claims the address',
    notIn: ['ipvs'],
    async run({ lab, setServices }) {
      const from = lab.pods[0]!;
      const own = lab.nodes.find((n) => n.name === from.node)!;
      await setServices([...exampleServices(lab), {
        name: 'on-node-ip', clusterIP: '10.96.0.51', type: 'ClusterIP', protocol: 'TCP', port: 8081, targetPort: lab.addressing.httpPort,
        externalIPs: [own.ipv4], pods: lab.pods.map((p) => p.name),
      }]);
      try {
        // Its replies carry the node's address, as a NodePort's do. The node's NodePort, reached
        // by the client through that address, and its way to the other node's pods stay as they were.
        for (const [where, url] of [[from, `http://${own.ipv4}:8081/`], [lab.client, `http://${own.ipv4}:8081/`], [lab.client, `http://${own.ipv4}:30080/`]] as const) {
          const what = `${where.name} -> ${url}`;
          const replies = answers(await httpGetMany(where, url, 24, { timeoutMs: 2000 }), what);
          expect(new Set(replies.map((r) => r.node)), what).toEqual(new Set(lab.nodes.map((n) => n.name)));
        }
        // The other node still reaches the address's owner: its eTP Local NodePort there answers
        // from that node's pods (an address claimed on the other node would be its own).
        const other = lab.nodes.find((n) => n !== own)!;
        const replies = answers(await httpGetMany(other, `http://${own.ipv4}:30081/`, 4, { timeoutMs: 2000 }), `${other.name} -> ${own.ipv4}:30081`);
        expect(new Set(replies.map((r) => r.node))).toEqual(new Set([own.name]));
      } finally {
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'the port of a finished Service connection reused to reach its backend directly (a kubelet probe, a pod): answered by the backend, not taken for the old flow',
    notIn: ['ipvs'],
    async run({ lab }) {
      const pod = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === pod.node)!;
      const podIp = new Map(lab.pods.map((p) => [p.name, p.ipv4]));
      // Through a frontend, then straight to the backend that answered, from the same local port
      // (the kernel hands a port out again for another destination at once).
      const paths: [PodHost | NodeHost, string][] = [[pod, 'http://10.96.0.10/'], [node, 'http://10.96.0.10/'], [node, `http://${node.ipv4}:30080/`]];
      // Below the ephemeral range (32768-60999): no connection the kernel numbered (still in
      // TIME_WAIT, say) holds one, so the bind cannot fail.
      let localPort = 21_000;
      for (const [from, url] of paths) {
        for (let i = 0; i < 3; i++, localPort += 2) {
          const [via] = answers(await httpGetMany(from, url, 1, { timeoutMs: 2000, localPort }), `${from.name} -> ${url} from port ${localPort}`);
          const direct = `http://${podIp.get(via!.pod)}:${lab.addressing.httpPort}/`;
          const [again] = answers(await httpGetMany(from, direct, 1, { timeoutMs: 2000, localPort }), `then ${from.name} -> ${direct} from port ${localPort}`);
          expect(again!.pod).toBe(via!.pod);
        }
      }
    },
  },
  {
    name: 'the node\'s first packet to a backend whose next hop is not resolved yet is not lost (NodePort and ClusterIP from the node, per-packet path)',
    async run({ lab }) {
      const node = lab.nodes[0]!;
      const urls = [`http://${node.ipv4}:30080/`, 'http://10.96.0.10/'];
      if (lab.spec.ipv6) urls.push(v6url(node.ipv6!, 30080), v6url('fd00:96::a', 80));
      for (const url of urls) {
        // A few times each: the backend (and so the next hop) is drawn at random.
        for (let i = 0; i < 3; i++) {
          await execIn(node, ['ip', 'neigh', 'flush', 'all']);
          await execIn(node, ['ip', '-6', 'neigh', 'flush', 'all']);
          const before = await tcpRetransmits(node);
          answers(await httpGetMany(node, url, 1, { timeoutMs: 3000 }), `${url} after a neighbour flush`);
          // A lost SYN shows as an answer a second late, after the retransmission.
          expect(await tcpRetransmits(node) - before, `${url}: TCP segments retransmitted`).toBe(0);
        }
      }
    },
  },
  {
    name: 'strict reverse-path filtering on the nodes (many distributions\' default): pods reach ClusterIPs on local and remote backends, NodePorts answer',
    async run({ lab, setServices }) {
      const from = lab.pods[0]!;
      const local = lab.pods.find((p) => p.node === from.node && p !== from)!;
      await setServices([...exampleServices(lab), { name: 'next-door', clusterIP: '10.96.0.49', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort, pods: [local.name] }]);
      const rpFilter = (v: number) => Promise.all(lab.nodes.map((n) => execIn(n, ['sysctl', '-q', '-w', `net.ipv4.conf.all.rp_filter=${v}`])));
      await rpFilter(1);
      try {
        // A local backend's reply, its source now the ClusterIP, must not meet the check on its veth
        // (an address-less veth fails every source not routed through it).
        expect(answers(await httpGetMany(from, 'http://10.96.0.49/', 4, { timeoutMs: 2000 })).map((r) => r.pod)).toEqual(Array(4).fill(local.name));
        answers(await httpGetMany(from, 'http://10.96.0.10/', 8, { timeoutMs: 2000 }));
        answers(await udpAskMany(from, '10.96.0.15', 53, 4, { timeoutMs: 2000 }));
        answers(await httpGetMany(from, `http://${lab.nodes[0]!.ipv4}:30080/`, 4, { timeoutMs: 2000 }));
        answers(await httpGetMany(lab.client, `http://${lab.nodes[0]!.ipv4}:30080/`, 8, { timeoutMs: 2000 }));
      } finally {
        await rpFilter(0);
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'ExternalIP routed to a node',
    async run({ lab }) {
      const replies = answers(await httpGetMany(lab.client, `http://${LAB_EXTERNAL_IP}/`, 8));
      expect(replies.length).toBe(8);
    },
  },
  {
    name: 'hairpin: a pod reaches itself through its Service',
    async run({ lab, setServices }) {
      const self = lab.pods[0]!;
      await setServices([...exampleServices(lab), { name: 'self', clusterIP: '10.96.0.20', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort, pods: [self.name] }]);
      await eventually(async () => {
        const r = await httpGet(self, 'http://10.96.0.20/');
        expect(r.pod).toBe(self.name);
      });
    },
  },
  {
    name: 'LoadBalancer IP: loadBalancerSourceRanges admit the client, then shut it out',
    async run({ lab, setServices }) {
      const lb = '198.51.100.7';
      await clientRouteVia(lab, `${lb}/32`, lab.nodes[0]!);
      const def = (ranges: string[]): ServiceDef => ({
        name: 'web-lb', clusterIP: '10.96.0.21', type: 'LoadBalancer', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort,
        nodePort: 30082, loadBalancerIP: lb, loadBalancerSourceRanges: ranges, pods: lab.pods.map((p) => p.name),
      });
      // Nested ranges, the wider first: nft's interval sets refuse an element inside one they hold.
      await setServices([...exampleServices(lab), def([`${lab.client.ipv4}/24`, `${lab.client.ipv4}/32`])]);
      answers(await httpGetMany(lab.client, `http://${lb}/`, 4));
      await setServices([...exampleServices(lab), def(['203.0.113.0/24'])]);
      const denied = (await relays(lab.nodes[0]!)) ? 'ECONNRESET' : 'ETIMEDOUT';
      await expect(httpGet(lab.client, `http://${lb}/`, { timeoutMs: 1500 })).rejects.toMatchObject({ code: denied });
      await setServices(exampleServices(lab));
      await clientRouteDel(lab, `${lb}/32`);
    },
  },
  {
    name: 'LoadBalancer IP held by the node itself (kube-vip): the node reaches it when a source range holds the node\'s IP (its requests come from the VIP), else it is shut out',
    async run({ lab, setServices }) {
      const lb = '198.51.100.9';
      const node = lab.nodes[0]!;
      const def = (ranges: string[]): ServiceDef => ({
        name: 'web-lb-held', clusterIP: '10.96.0.24', type: 'LoadBalancer', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort,
        // Backends on other nodes only: their answers must find the way back to the node.
        nodePort: 30084, loadBalancerIP: lb, loadBalancerSourceRanges: ranges, pods: lab.pods.filter((p) => p.node !== node.name).map((p) => p.name),
      });
      await execIn(node, ['ip', 'addr', 'add', `${lb}/32`, 'dev', node.ifname]);
      try {
        await setServices([...exampleServices(lab), def([`${node.ipv4}/32`])]);
        answers(await httpGetMany(node, `http://${lb}/`, 4), `the node -> its own ${lb}`);
        await setServices([...exampleServices(lab), def(['203.0.113.0/24'])]);
        const denied = (await relays(node)) ? 'ECONNRESET' : 'ETIMEDOUT';
        await expect(httpGet(node, `http://${lb}/`, { timeoutMs: 1500 })).rejects.toMatchObject({ code: denied });
      } finally {
        await setServices(exampleServices(lab));
        await execIn(node, ['ip', 'addr', 'del', `${lb}/32`, 'dev', node.ifname]);
      }
    },
  },
  {
    name: 'LoadBalancer IP with eTP Local: a pod outside loadBalancerSourceRanges is shut out too (the ranges come before the short-circuit)',
    async run({ lab, setServices }) {
      const lb = '198.51.100.8';
      const from = lab.pods[0]!;
      const def = (ranges: string[]): ServiceDef => ({
        name: 'web-lb-local', clusterIP: '10.96.0.23', type: 'LoadBalancer', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort,
        nodePort: 30083, externalTrafficPolicy: 'Local', loadBalancerIP: lb, loadBalancerSourceRanges: ranges, pods: lab.pods.map((p) => p.name),
      });
      try {
        await setServices([...exampleServices(lab), def([`${from.ipv4}/32`])]);
        answers(await httpGetMany(from, `http://${lb}/`, 4));
        await setServices([...exampleServices(lab), def(['203.0.113.0/24'])]);
        const denied = (await relays(lab.nodes.find((n) => n.name === from.node)!)) ? 'ECONNRESET' : 'ETIMEDOUT';
        await expect(httpGet(from, `http://${lb}/`, { timeoutMs: 1500 })).rejects.toMatchObject({ code: denied });
      } finally {
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'internalTrafficPolicy Local: ClusterIP traffic stays on the client\'s node',
    async run({ lab, setServices }) {
      const def: ServiceDef = {
        name: 'web-itp', clusterIP: '10.96.0.22', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: lab.addressing.httpPort,
        internalTrafficPolicy: 'Local', pods: lab.pods.map((p) => p.name),
      };
      await setServices([...exampleServices(lab), def]);
      for (const from of [lab.pods[0]!, lab.pods.find((p) => p.node !== lab.pods[0]!.node)!]) {
        const replies = answers(await httpGetMany(from, 'http://10.96.0.22/', 8));
        expect(new Set(replies.map((r) => r.node))).toEqual(new Set([from.node]));
      }
      await setServices(exampleServices(lab));
    },
  },
  {
    name: 'session affinity ClientIP: one client, one backend',
    async run({ lab }) {
      const replies = answers(await httpGetMany(lab.pods[1]!, 'http://10.96.0.13/', 12));
      expect(new Set(replies.map((r) => r.pod)).size).toBe(1);
    },
  },
  {
    name: 'no endpoints: connection refused at once, never a timeout (TCP and UDP)',
    async run({ lab, setServices }) {
      const t0 = Date.now();
      await expect(httpGet(lab.pods[0]!, 'http://10.96.0.14/', { timeoutMs: 3000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(Date.now() - t0).toBeLessThan(2500);
      await setServices(exampleServices(lab, { echo: 0 }));
      await eventually(async () => {
        await expect(udpAsk(lab.pods[0]!, '10.96.0.15', 53, { timeoutMs: 1500 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      });
      await setServices(exampleServices(lab));
      await eventually(async () => void (await udpAsk(lab.pods[0]!, '10.96.0.15', 53, { timeoutMs: 1500 })));
    },
  },
  {
    name: 'UDP through a ClusterIP: answers come back from the VIP',
    async run({ lab }) {
      const replies = answers(await udpAskMany(lab.pods[2]!, '10.96.0.15', 53, 6));
      expect(replies.every((r) => lab.pods.some((p) => p.name === r.pod))).toBe(true);
    },
  },
  {
    name: 'a datagram bigger than a frame travels in fragments: a pod\'s through a ClusterIP and an external client\'s through a NodePort (SNAT to another node\'s pods) reach every backend whole, and their answers, as big, come back whole',
    async run({ lab, setServices }) {
      const node = lab.nodes[0]!;
      const v6 = !!lab.spec.ipv6;
      const big: ServiceDef = {
        name: 'big-udp', clusterIP: '10.96.0.54', ...(v6 ? { clusterIPv6: 'fd00:96::54' } : {}), type: 'NodePort', protocol: 'UDP', port: 53,
        targetPort: lab.addressing.udpPort, nodePort: 30054, externalTrafficPolicy: 'Cluster', pods: lab.pods.map((p) => p.name),
      };
      await setServices([...exampleServices(lab), big]);
      try {
        // 4,000 bytes: three fragments on the lab's 1,500-byte links, each way. 16 flows (a source
        // port each) from each client, so that every node's pods answer.
        const size = 4000;
        const asks: [PodHost | ClientHost, string, number, number][] = [[lab.pods[0]!, '10.96.0.54', 53, 23_000], [lab.client, node.ipv4, 30054, 23_100]];
        if (v6) asks.push([lab.pods[0]!, 'fd00:96::54', 53, 23_200], [lab.client, node.ipv6!, 30054, 23_300]);
        for (const [from, addr, port, base] of asks) {
          const what = `${from.name} -> ${addr}:${port}`;
          const outcomes = await Promise.all(Array.from({ length: 16 }, (_, i) =>
            udpAskMany(from, addr, port, 1, { payload: 'x'.repeat(size), localPort: base + i, timeoutMs: 2000 }).then(([o]) => o!)));
          const replies = answers(outcomes, what);
          expect(replies.map((r) => r.got), `${what}: each datagram arrived whole`).toEqual(replies.map(() => size));
          expect(new Set(replies.map((r) => r.node)), `${what}: every node's pods`).toEqual(new Set(lab.nodes.map((n) => n.name)));
        }
        // In ebpf mode, tc followed the fragments (the datagrams did travel in fragments).
        if ((await fromProxy(node, '/proxyMode')).trim() === 'ebpf') {
          const followed = (await Promise.all(lab.nodes.map(metricsOf))).map((m) => sample(m, 'ekp_datapath_events_total{event="frag_followed"}'));
          expect(followed.reduce((a, b) => a + b, 0), 'later fragments tc translated').toBeGreaterThan(0);
        }
      } finally {
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'UDP: an endpoint removed, the same client socket moves to a remaining one',
    // ipvs drains a removed endpoint at weight 0: IPVS's own UDP connection stays on it until it idles out.
    notIn: ['ipvs'],
    async run({ lab, setServices }) {
      // A fixed source port: every datagram is the same flow, as from one long-lived socket.
      const ask = async () => (await udpAsk(lab.pods[0]!, '10.96.0.15', 53, { localPort: 40053, timeoutMs: 1500 })).pod;
      const first = await ask();
      expect(await ask()).toBe(first);
      await setServices(exampleServices(lab).map((d) => (d.name === 'echo' ? { ...d, pods: d.pods.filter((p) => p !== first) } : d)));
      // The removed pod still answers: only the deleted conntrack entries move the client.
      const next = await ask();
      expect(next).not.toBe(first);
      expect(await ask()).toBe(next);
      await setServices(exampleServices(lab));
    },
  },
  {
    name: 'UDP: a connected socket of a pod whose endpoint is removed moves to a remaining one (statsd-style client)',
    notIn: ['ipvs'],
    async run({ lab, setServices }) {
      // In its node's cgroup, so the socket-level hooks see its connect() in ebpf mode.
      const from = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === from.node)!;
      const conn = longLivedUdpClient(from, '10.96.0.15', 53, nodeCgroup(lab.spec.name, node));
      try {
        const first = (await conn.answers(2)).filter((l) => l !== 'LOST');
        expect(new Set(first).size, first.join()).toBe(1);
        const pod = first[0]!;
        await setServices(exampleServices(lab).map((d) => (d.name === 'echo' ? { ...d, pods: d.pods.filter((p) => p !== pod) } : d)));
        // The removed pod still answers if asked: only the proxy can move the socket's datagrams.
        await eventually(async () => {
          const later = (await conn.answers(3)).filter((l) => l !== 'LOST');
          expect(later.slice(-3).every((p) => p !== pod), later.join()).toBe(true);
        });
        expect((await conn.stop()).filter((l) => l.startsWith('ERROR'))).toEqual([]);
      } finally {
        await conn.stop();
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'checksums: a pod\'s TCP and UDP through a ClusterIP to a backend whose veth checksums in software arrive intact',
    async run({ lab, setServices }) {
      // Pods hand their veth CHECKSUM_PARTIAL skbs (only the pseudo-header sum in the
      // field), and veths never resolve them, so a wrong field would go unseen. Here
      // the backend's host-side veth lacks tx checksumming, so the stack computes the
      // checksum from the field when the translated packet leaves it, and the pod's
      // own end lacks rx checksumming, so its stack verifies every segment: a NAT that
      // patched the field as if it held a full checksum is dropped there.
      const from = lab.pods[0]!;
      const to = lab.pods.find((p) => p.node === from.node && p !== from)!;
      const node = lab.nodes.find((n) => n.name === to.node)!;
      const { httpPort, udpPort } = lab.addressing;
      const defs: ServiceDef[] = [
        { name: 'csum-tcp', clusterIP: '10.96.0.43', type: 'ClusterIP', protocol: 'TCP', port: 80, targetPort: httpPort, pods: [to.name] },
        { name: 'csum-udp', clusterIP: '10.96.0.44', type: 'ClusterIP', protocol: 'UDP', port: 53, targetPort: udpPort, pods: [to.name] },
      ];
      const offload = (on: 'on' | 'off') => Promise.all([
        execIn(node, ['ethtool', '-K', to.hostVeth, 'tx', on]),
        execIn(to, ['ethtool', '-K', 'eth0', 'rx', on]),
      ]);
      await setServices([...exampleServices(lab), ...defs]);
      await offload('off');
      try {
        const replies = answers(await httpGetMany(from, 'http://10.96.0.43/', 4, { timeoutMs: 2000 }));
        expect(replies.map((r) => r.pod)).toEqual(Array(4).fill(to.name));
        expect((await udpAsk(from, '10.96.0.44', 53, { timeoutMs: 2000 })).pod).toBe(to.name);
      } finally {
        await offload('on');
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'ebpf: a reply tc_ingress translated and redirected leaves the node without a second look by tc_egress',
    notIn: ['nftables', 'iptables', 'ipvs', 'userspace'],
    async run({ lab }) {
      // NodePort eTP Local: the local backends' replies are reverse-NATed on their veths and
      // redirected to the node device, whose tc_egress lets them go.
      const node = lab.nodes[0]!;
      const event = (m: string, e: string) => sample(m, `ekp_datapath_events_total{event="${e}"}`);
      const before = await metricsOf(node);
      answers(await httpGetMany(lab.client, `http://${node.ipv4}:30081/`, 6));
      // The proxy reads the kernel's counters at most every 250 ms.
      await eventually(async () => {
        expect(event(await metricsOf(node), 'egress_done') - event(before, 'egress_done')).toBeGreaterThanOrEqual(6);
      }, 3000);
    },
  },
  {
    name: 'UDP to a backend port nobody listens on: the backend\'s ICMP error reaches the client as an error about its VIP (ECONNREFUSED)',
    // userspace relays: the backend's error ends at the relay's own socket.
    notIn: ['userspace'],
    async run({ lab, setServices }) {
      const from = lab.pods[0]!;
      const v6 = !!lab.spec.ipv6;
      const closed = (pod: string, ip: string, ip6: string): ServiceDef => ({
        name: `closed-${pod}`, clusterIP: ip, ...(v6 ? { clusterIPv6: ip6 } : {}), type: 'ClusterIP', protocol: 'UDP', port: 53, targetPort: 5399, pods: [pod],
      });
      const remote = lab.pods.find((p) => p.node !== from.node)!;
      const local = lab.pods.find((p) => p.node === from.node && p !== from)!;
      await setServices([...exampleServices(lab), closed(remote.name, '10.96.0.41', 'fd00:96::41'), closed(local.name, '10.96.0.42', 'fd00:96::42')]);
      // Without the translation the error names the backend, the connected socket ignores it, and the ask times out.
      for (const vip of ['10.96.0.41', '10.96.0.42', ...(v6 ? ['fd00:96::41', 'fd00:96::42'] : [])]) {
        await expect(udpAsk(from, vip, 53, { timeoutMs: 2000 }), vip).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
      await setServices(exampleServices(lab));
    },
  },
  {
    name: 'a host-network backend on the client\'s own node (per-packet path), from a pod and from the node itself: TCP and UDP answered through the ClusterIP with the client\'s address kept; a closed port refused',
    // userspace relays: the backend sees the node's address, and the closed port's error ends at the relay.
    notIn: ['userspace'],
    async run({ lab, setServices }) {
      const from = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === from.node)!;
      const remote = lab.pods.find((p) => p.node !== from.node)!;
      const v6 = !!lab.spec.ipv6;
      const def = (name: string, ip: string, ip6: string, protocol: 'TCP' | 'UDP', port: number, targetPort: number): ServiceDef => ({
        name, clusterIP: ip, ...(v6 ? { clusterIPv6: ip6 } : {}), type: 'ClusterIP', protocol, port, targetPort, pods: [], hostNodes: [node.name],
      });
      const server = await hostNetworkServer(node, 18080, 15353);
      try {
        await setServices([
          ...exampleServices(lab),
          def('hostnet', '10.96.0.45', 'fd00:96::45', 'TCP', 80, 18080),
          def('hostnet-udp', '10.96.0.46', 'fd00:96::46', 'UDP', 53, 15353),
          def('hostnet-closed', '10.96.0.47', 'fd00:96::47', 'UDP', 53, 15399),
        ]);
        const targets = [{ http: 'http://10.96.0.45/', udp: '10.96.0.46', closed: '10.96.0.47', self: from.ipv4, remoteSelf: remote.ipv4 }];
        if (v6) targets.push({ http: v6url('fd00:96::45', 80), udp: 'fd00:96::46', closed: 'fd00:96::47', self: from.ipv6!, remoteSelf: remote.ipv6! });
        for (const t of targets) {
          // The replies leave the node through the pod's veth: without their reverse NAT the pod gets
          // answers from the node's address, which its sockets (connected to the ClusterIP) drop.
          for (const r of answers(await httpGetMany(from, t.http, 3, { timeoutMs: 2000 }))) {
            expect(r.pod).toBe(`host-${node.name}`);
            expect(t.self.includes(':') ? hostOf6(r.client) : hostOf(r.client)).toBe(t.self);
          }
          expect((await udpAsk(from, t.udp, 53, { timeoutMs: 2000 })).pod).toBe(`host-${node.name}`);
          // The node's own port unreachable, about the DNATed datagram, must name the ClusterIP.
          await expect(udpAsk(from, t.closed, 53, { timeoutMs: 2000 }), t.closed).rejects.toMatchObject({ code: 'ECONNREFUSED' });
          // From the node itself: outside the proxy's cgroup the request goes out routed for the ClusterIP
          // and must come back in through lo; inside it, connect() goes to the backend straight away.
          const nodeSelf = t.self.includes(':') ? node.ipv6! : node.ipv4;
          const cgroup = nodeCgroup(lab.spec.name, node);
          for (const opts of [{}, { cgroup }]) {
            for (const r of answers(await httpGetMany(node, t.http, 2, { timeoutMs: 2000, ...opts }))) {
              expect(r.pod).toBe(`host-${node.name}`);
              expect(t.self.includes(':') ? hostOf6(r.client) : hostOf(r.client)).toBe(nodeSelf);
            }
          }
          expect((await udpAsk(node, t.udp, 53, { timeoutMs: 2000 })).pod).toBe(`host-${node.name}`);
          await expect(udpAsk(node, t.closed, 53, { timeoutMs: 2000 }), `${t.closed} from the node`).rejects.toMatchObject({ code: 'ECONNREFUSED' });
          // From a pod on another node the same backend is remote: served as any remote backend.
          const far = answers(await httpGetMany(remote, t.http, 2, { timeoutMs: 2000 }));
          expect(far.map((r) => r.pod)).toEqual([`host-${node.name}`, `host-${node.name}`]);
        }
      } finally {
        await server.stop();
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    // ipvs mode holds every VIP as a local address (ekp-ipvs0): without kube-proxy's
    // KUBE-IPVS-FILTER, sshd or the kubelet answer on any ClusterIP.
    name: 'a daemon on the node listening on every address does not answer on a ClusterIP (a port no Service has)',
    // userspace: service addresses are local on lo, and nothing but netfilter could refuse the other ports.
    notIn: ['userspace'],
    async run({ lab }) {
      const node = lab.nodes[0]!;
      const from = lab.pods.find((p) => p.node === node.name)!;
      const server = await hostNetworkServer(node, 18081, 15354);
      try {
        // The node's own address answers; the ClusterIP on that port must not (refused, or unrouted).
        expect((await httpGet(from, `http://${node.ipv4}:18081/`, { timeoutMs: 2000 })).pod).toBe(`host-${node.name}`);
        const [o] = await httpGetMany(from, 'http://10.96.0.10:18081/', 1, { timeoutMs: 1000 });
        expect(o?.ok, 'the node\'s daemon answered on the ClusterIP').toBe(false);
      } finally {
        await server.stop();
      }
    },
  },
  {
    name: 'a ClusterIP on a port no Service has is refused at once, not left to time out',
    // iptables leaves such a packet to routing, as kube-proxy's iptables mode does (it goes out by
    // the default route); ebpf and nftables reject it as kube-proxy's nftables mode does, ipvs and
    // userspace hold the address locally and refuse the port.
    notIn: ['iptables'],
    async run({ lab }) {
      const from = lab.pods[0]!;
      // From a pod, and from the node itself (ebpf: the node device's tc egress answers).
      for (const where of [from, lab.nodes[0]!]) {
        const t0 = Date.now();
        await expect(httpGet(where, 'http://10.96.0.10:81/', { timeoutMs: 3000 }), where.name).rejects.toMatchObject({ code: 'ECONNREFUSED' });
        expect(Date.now() - t0, where.name).toBeLessThan(2500);
      }
    },
  },
  {
    name: 'an address of the ServiceCIDR that no Service holds is dropped on the node, never routed out (from a pod and from the node)',
    // kube-proxy's nftables mode drops these ("Drop traffic to unallocated ClusterIPs"), and so
    // does ebpf; kube-proxy's iptables and ipvs modes route them out by the default route, as
    // ours do.
    notIn: ['iptables', 'ipvs', 'userspace'],
    async run({ lab }) {
      // Counted where a routed packet would go: the fabric, the nodes' default gateway.
      const count = await counted(lab.fabric, 'ip ekp-e2e-seen', 'prerouting', { in: 'ip daddr 10.96.0.200', out: 'ip daddr 10.97.0.200' }, async () => {
        const send = (from: PodHost | NodeHost, ip: string) => execIn(from, [process.execPath, '-e',
          `const s = require('node:dgram').createSocket('udp4'); s.send('x', 53, '${ip}', () => process.exit(0));`]);
        for (const from of [lab.pods[0]!, lab.nodes[0]!]) {
          await send(from, '10.96.0.200'); // in the lab's ServiceCIDR (10.96.0.0/16), no Service's
          await send(from, '10.97.0.200'); // outside it: routed out, which shows that the count works
          // A ping too: ebpf answers a ClusterIP's, not one to an address no Service holds.
          expect((await tryExecIn(from, ['ping', '-n', '-c', '1', '-W', '1', '10.96.0.200'])).stdout).toMatch(/ 0 received/);
        }
      });
      expect(count.out).toBe(2);
      expect(count.in).toBe(0);
    },
  },
  {
    name: 'a ping to a ClusterIP or an ExternalIP is answered from it (from a pod, from the node, and from outside through the node the ExternalIP is routed to)',
    // ebpf answers as kube-proxy's ipvs mode does, whose node holds these addresses on a dummy
    // device. kube-proxy's iptables mode routes such a ping out (an ExternalIP's comes back to the
    // node and loops until its TTL runs out), and its nftables mode rejects one to a ClusterIP;
    // ours do the same.
    notIn: ['iptables', 'nftables'],
    async run({ lab }) {
      const pinged = async (from: PodHost | NodeHost | ClientHost, ip: string) => {
        const out = await tryExecIn(from, ['ping', '-n', '-c', '1', '-W', '2', ip]);
        expect(out.stdout, `${from.name} → ${ip}: ${out.stderr}`).toMatch(new RegExp(`bytes from ${ip.replace(/\./g, '\\.')}: icmp_seq=1`));
      };
      await pinged(lab.pods[0]!, '10.96.0.10');
      await pinged(lab.nodes[0]!, '10.96.0.10');
      await pinged(lab.client, LAB_EXTERNAL_IP);
    },
  },
  {
    name: 'a node device with a smaller MTU: the node\'s frag-needed (packet too big) about a datagram to a remote backend reaches the pod as an error about its ClusterIP (EMSGSIZE)',
    // userspace relays: the pod's datagram ends at the relay, which is where the error goes.
    notIn: ['userspace'],
    async run({ lab, setServices }) {
      const from = lab.pods[0]!;
      const node = lab.nodes.find((n) => n.name === from.node)!;
      const remote = lab.pods.filter((p) => p.node !== from.node).map((p) => p.name);
      const v6 = !!lab.spec.ipv6;
      await setServices([...exampleServices(lab), {
        name: 'far-udp', clusterIP: '10.96.0.48', ...(v6 ? { clusterIPv6: 'fd00:96::48' } : {}), type: 'ClusterIP', protocol: 'UDP', port: 53, targetPort: lab.addressing.udpPort, pods: remote,
      }]);
      const big = 'x'.repeat(1400);
      // (Not /sys/class/net: sysfs shows the namespace it was mounted in.)
      const mtu = String((JSON.parse(await execIn(node, ['ip', '-j', 'link', 'show', 'dev', node.ifname])) as { mtu: number }[])[0]!.mtu);
      await execIn(node, ['ip', 'link', 'set', 'dev', node.ifname, 'mtu', '1280']);
      try {
        for (const vip of ['10.96.0.48', ...(v6 ? ['fd00:96::48'] : [])]) {
          // Small datagrams still pass; a big one is refused by the node (DF; IPv6 never fragments on the way).
          expect((await udpAsk(from, vip, 53, { timeoutMs: 2000 })).node).not.toBe(node.name);
          // Without the translation the error names the backend, the connected socket ignores it, and the ask times out.
          await expect(udpAsk(from, vip, 53, { timeoutMs: 2000, payload: big }), vip).rejects.toMatchObject({ code: 'EMSGSIZE' });
        }
      } finally {
        await execIn(node, ['ip', 'link', 'set', 'dev', node.ifname, 'mtu', mtu]);
        await setServices(exampleServices(lab));
      }
    },
  },
  {
    name: 'an edited manifest reaches the datapath within a second or two',
    async run({ lab, setServices }) {
      const only = lab.pods[3]!.name;
      await setServices(exampleServices(lab, { web: 1 }).map((d) => (d.name === 'web' ? { ...d, pods: [only] } : d)));
      await eventually(async () => {
        const replies = answers(await httpGetMany(lab.pods[0]!, 'http://10.96.0.10/', 6));
        expect(new Set(replies.map((r) => r.pod))).toEqual(new Set([only]));
      }, 5000);
      await setServices(exampleServices(lab));
    },
  },
  {
    name: 'an endpoint removed from the Service keeps its established connection',
    async run({ lab, setServices }) {
      const conn = longLivedClient(lab.pods[0]!, '10.96.0.16', 80);
      const [pod] = await conn.answers(2);
      await setServices(exampleServices(lab).map((d) => (d.name === 'web-external' ? { ...d, pods: d.pods.filter((p) => p !== pod) } : d)));
      // New connections avoid it...
      await eventually(async () => {
        const replies = answers(await httpGetMany(lab.pods[1]!, 'http://10.96.0.16/', 8));
        expect(replies.map((r) => r.pod)).not.toContain(pod);
      });
      // ...while the old one still talks to it.
      const later = await conn.answers(3);
      expect(new Set(later)).toEqual(new Set([pod]));
      const all = await conn.stop();
      expect(all.filter((l) => l.startsWith('ERROR') || l === 'CLOSED')).toEqual([]);
      await setServices(exampleServices(lab));
    },
  },
  {
    name: 'SIGTERM stops the proxy and leaves the datapath serving until the next one adopts it',
    notIn: ['userspace'],
    async run({ lab, stopProxy, startProxy }) {
      const node = lab.nodes[1]!;
      await stopProxy(node, 'SIGTERM');
      answers(await httpGetMany(lab.client, `http://${node.ipv4}:30080/`, 6));
      answers(await httpGetMany(lab.pods.find((p) => p.node === node.name)!, 'http://10.96.0.10/', 6));
      await startProxy(node);
      answers(await httpGetMany(lab.client, `http://${node.ipv4}:30081/`, 4));
    },
  },
  {
    name: 'kill -9 of the proxy: established and new connections keep working, and a restart adopts the datapath',
    notIn: ['userspace'],
    async run({ lab, restartProxy, setServices }) {
      const node = lab.nodes[0]!;
      const conn = longLivedClient(lab.pods[0]!, '10.96.0.10', 80);
      await conn.answers(2);
      await restartProxy(node, 'SIGKILL');
      // restartProxy returns once the new instance is healthy; the old flows never noticed.
      answers(await httpGetMany(lab.client, `http://${node.ipv4}:30080/`, 6));
      answers(await httpGetMany(lab.pods[0]!, 'http://10.96.0.10/', 6));
      await conn.answers(3);
      const lines = await conn.stop();
      expect(lines.filter((l) => l.startsWith('ERROR') || l === 'CLOSED')).toEqual([]);
      // And the new instance programs changes.
      const only = lab.pods[1]!.name;
      await setServices(exampleServices(lab).map((d) => (d.name === 'web' ? { ...d, pods: [only] } : d)));
      await eventually(async () => {
        const replies = answers(await httpGetMany(lab.pods[0]!, 'http://10.96.0.10/', 4));
        expect(new Set(replies.map((r) => r.pod))).toEqual(new Set([only]));
      });
      await setServices(exampleServices(lab));
    },
  },
];

export { execIn, manifestsDir, writeManifests };
