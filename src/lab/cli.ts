// `ebpf-kube-proxy lab …`: wire as COMMANDS.lab = runLab in src/cli/main.ts.
import { spawn } from 'node:child_process';
import { clientRouteDel, clientRouteVia, labDown, labList, labState, labStatus, labUp } from './lab.js';
import { allHosts, findHost, hostAddrs } from './plan.js';
import { httpGet, httpGetMany, udpAsk, udpAskMany, type ProbeOutcome } from './probe.js';
import { exampleServices, LAB_EXTERNAL_IP, writeManifests, type ServiceDef } from './manifests.js';
import { defaultPinBase, manifestsDir, proxyPid, startProxies } from './proxy.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsenterArgv } from './exec.js';
import type { Lab } from './types.js';

export const LAB_USAGE = `usage: ebpf-kube-proxy lab <command> [--name NAME] …

A simulated cluster network in network namespaces ekp-NAME-* (default NAME: lab).

commands:
  up [--nodes N] [--pods-per-node K] [--proxy-mode MODE|none] [--ipv6] [--json]
                                                build it (replaces a lab of the same name), write the
                                                example Services and start the proxy on every node
  curl SERVICE [--count N] [--from POD|NODE|client]
                                                requests to an example Service; a table of who answered
  scale SERVICE N                               back SERVICE with N pods (the proxies follow within 1 s)
  down                                          remove it: namespaces, servers, proxies, pins, state
  status [--json]                               what exists
  list                                          names of labs with any trace here
  exec HOST [--] CMD…                           run CMD in HOST's netns (fabric, client, node1, n1p2…)
  get HOST URL                                  HTTP GET from HOST, print the answer
  udp HOST ADDR [PORT]                          one datagram from HOST (port 5353), print the answer
  route PREFIX NODE | route --del PREFIX        route an external/LB prefix from the client via NODE
`;

interface Parsed {
  name: string;
  flags: Map<string, string | true>;
  positional: string[];
  rest: string[];
}

const VALUE_FLAGS = new Set(['--name', '--nodes', '--pods', '--pods-per-node', '--proxy-mode', '--count', '--from']);
const BOOL_FLAGS = new Set(['--ipv6', '--json', '--del']);

function parse(args: string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      rest = args.slice(i + 1);
      break;
    }
    const eq = a.indexOf('=');
    const key = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (VALUE_FLAGS.has(key)) {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`${key} needs a value`);
      flags.set(key, v);
    } else if (BOOL_FLAGS.has(a)) {
      flags.set(a, true);
    } else if (a.startsWith('-') && positional.length < 2) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
  const name = String(flags.get('--name') ?? 'lab');
  return { name, flags, positional, rest };
}

class UsageError extends Error {}

function intFlag(p: Parsed, flag: string, dflt: number): number {
  const v = p.flags.get(flag);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} must be an integer, got ${String(v)}`);
  return n;
}

function mustLab(name: string): Lab {
  const lab = labState(name);
  if (!lab) throw new Error(`lab ${name} is not up (ebpf-kube-proxy lab status --name ${name})`);
  return lab;
}

export function formatLab(lab: Lab): string {
  const extra = new Map<string, string>();
  for (const n of lab.nodes) extra.set(n.name, `pods ${[n.podCIDR, n.podCIDRv6].filter(Boolean).join(' ')}`);
  for (const p of lab.pods) extra.set(p.name, `on ${p.node}, server pid ${p.serverPid ?? '-'}`);
  const rows = allHosts(lab).map((h) => [h.name, h.netns, hostAddrs(h).join(' '), extra.get(h.name) ?? '']);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = [`lab ${lab.spec.name}: ${lab.spec.nodes} nodes x ${lab.spec.podsPerNode} pods${lab.spec.ipv6 ? ', dual-stack' : ''}; pods serve HTTP :${lab.addressing.httpPort} and UDP :${lab.addressing.udpPort}`];
  for (const r of rows) lines.push(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`.trimEnd());
  return lines.join('\n');
}

function scaleFile(lab: Lab): string {
  return join(lab.stateDir, 'scale.json');
}

function loadScale(lab: Lab): Record<string, number> {
  return existsSync(scaleFile(lab)) ? (JSON.parse(readFileSync(scaleFile(lab), 'utf8')) as Record<string, number>) : {};
}

function saveScale(lab: Lab, scale: Record<string, number>): void {
  writeFileSync(scaleFile(lab), JSON.stringify(scale));
}

/** Where a Service is reached from: its ClusterIP inside, a node address or the external IP from the client. */
function targetOf(lab: Lab, def: ServiceDef, fromClient: boolean): { addr: string; port: number } {
  if (!fromClient) return { addr: def.clusterIP, port: def.port };
  if (def.nodePort) return { addr: lab.nodes[0]!.ipv4, port: def.nodePort };
  if (def.externalIPs?.length) return { addr: def.externalIPs[0]!, port: def.port };
  throw new UsageError(`${def.name} is a ClusterIP Service: the client outside the cluster cannot reach it (use --from n1p1)`);
}

export function formatServices(lab: Lab): string {
  const rows = exampleServices(lab, existsSync(scaleFile(lab)) ? loadScale(lab) : {}).map((d) => {
    const kind = d.nodePort ? `NodePort ${d.nodePort} eTP=${d.externalTrafficPolicy}` : d.externalIPs ? `ExternalIP ${d.externalIPs.join(',')}` : 'ClusterIP';
    const extra = d.affinitySeconds ? `, affinity ${d.affinitySeconds}s` : '';
    return `  ${d.name.padEnd(13)} ${`${d.clusterIP}:${d.port}/${d.protocol.toLowerCase()}`.padEnd(20)} ${kind}${extra}; ${d.pods.length} pod(s)`;
  });
  return ['services (namespace lab):', ...rows].join('\n');
}

/** One row per request and a count per pod: who answered, what source it saw, how long it took. */
export function formatCurl(title: string, outcomes: ProbeOutcome[]): string {
  const lines = [title, '  #   answered by   node    client seen by the pod        ms'];
  const byPod = new Map<string, number>();
  outcomes.forEach((o, i) => {
    if (!o.ok) {
      lines.push(`  ${String(i + 1).padStart(2)}  ${o.code}: ${o.message}`);
      byPod.set(o.code, (byPod.get(o.code) ?? 0) + 1);
      return;
    }
    const r = o.reply;
    byPod.set(r.pod, (byPod.get(r.pod) ?? 0) + 1);
    lines.push(`  ${String(i + 1).padStart(2)}  ${r.pod.padEnd(12)}  ${r.node.padEnd(6)}  ${r.client.padEnd(28)}  ${o.ms.toFixed(2)}`);
  });
  const ms = outcomes.filter((o) => o.ok).map((o) => o.ms).sort((a, b) => a - b);
  lines.push(`  by pod: ${[...byPod].map(([k, v]) => `${k} ${v}`).join(', ')}${ms.length ? `; latency p50 ${ms[Math.floor(ms.length / 2)]!.toFixed(2)} ms` : ''}`);
  return lines.join('\n');
}

async function execInteractive(argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.on('error', (err) => {
      process.stderr.write(`lab exec: ${err.message}\n`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export async function runLab(args: string[]): Promise<number> {
  const [cmd, ...more] = args;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(LAB_USAGE);
    return cmd ? 0 : 2;
  }
  try {
    const p = parse(more);
    const out = (s: string) => process.stdout.write(`${s}\n`);
    switch (cmd) {
      case 'up': {
        const t0 = Date.now();
        const pods = intFlag(p, '--pods-per-node', intFlag(p, '--pods', 2));
        const lab = await labUp({ name: p.name, nodes: intFlag(p, '--nodes', 2), podsPerNode: pods, ipv6: p.flags.has('--ipv6') });
        const mode = String(p.flags.get('--proxy-mode') ?? 'ebpf');
        saveScale(lab, {});
        writeManifests(manifestsDir(lab), lab, exampleServices(lab));
        await clientRouteVia(lab, `${LAB_EXTERNAL_IP}/32`, lab.nodes[0]!);
        if (mode !== 'none') await startProxies(lab, { mode });
        out(p.flags.has('--json') ? JSON.stringify(lab, null, 2) : `${formatLab(lab)}\n${formatServices(lab)}\nproxy: ${mode} on every node; up in ${Date.now() - t0} ms`);
        return 0;
      }
      case 'curl': {
        const lab = mustLab(p.name);
        const [svcName] = p.positional;
        const def = exampleServices(lab, loadScale(lab)).find((d) => d.name === svcName);
        if (!def) throw new UsageError(`no example service ${JSON.stringify(svcName)} (have: ${exampleServices(lab).map((d) => d.name).join(', ')})`);
        const fromName = String(p.flags.get('--from') ?? 'client');
        const from = findHost(lab, fromName);
        if (!from) throw new UsageError(`no host ${fromName} in lab ${p.name}`);
        const count = intFlag(p, '--count', 10);
        const target = targetOf(lab, def, from.kind === 'client');
        const outcomes = def.protocol === 'UDP'
          ? await udpAskMany(from, target.addr, target.port, count, { connected: true })
          : await httpGetMany(from, `http://${target.addr}:${target.port}/`, count);
        out(formatCurl(`${def.name} (${target.addr}:${target.port}/${def.protocol.toLowerCase()}) from ${from.name}`, outcomes));
        return outcomes.every((o) => o.ok) ? 0 : 1;
      }
      case 'scale': {
        const lab = mustLab(p.name);
        const [svcName, n] = p.positional;
        const count = Number(n);
        if (!svcName || !Number.isInteger(count) || count < 0) throw new UsageError('scale needs SERVICE and a pod count');
        if (!exampleServices(lab).some((d) => d.name === svcName)) throw new UsageError(`no example service ${JSON.stringify(svcName)}`);
        const scale = { ...loadScale(lab), [svcName]: Math.min(count, lab.pods.length) };
        saveScale(lab, scale);
        writeManifests(manifestsDir(lab), lab, exampleServices(lab, scale));
        out(`${svcName}: ${scale[svcName]} pod(s)`);
        return 0;
      }
      case 'down':
        await labDown(p.name, { pinBase: defaultPinBase(p.name) });
        return 0;
      case 'status': {
        const s = labStatus(p.name);
        if (p.flags.has('--json')) out(JSON.stringify(s, null, 2));
        else if (s.state === 'absent') out(`lab ${p.name}: absent`);
        else {
          out(`lab ${p.name}: ${s.state}`);
          if (s.lab) {
            out(formatLab(s.lab));
            out(formatServices(s.lab));
            out(`proxies: ${s.lab.nodes.map((n) => `${n.name} ${proxyPid(s.lab!, n) ? `pid ${proxyPid(s.lab!, n)}` : 'not running'}`).join(', ')}`);
          }
          if (s.missingNamespaces.length) out(`missing namespaces: ${s.missingNamespaces.join(' ')}`);
          const dead = s.servers.filter((x) => !x.alive).map((x) => x.pod);
          if (dead.length) out(`pod servers not running: ${dead.join(' ')}`);
          if (!s.lab) out(`namespaces: ${s.namespaces.join(' ')} (no state: lab down --name ${p.name} removes them)`);
        }
        return s.state === 'up' ? 0 : s.state === 'absent' ? 3 : 1;
      }
      case 'list':
        for (const n of labList()) out(`${n}\t${labStatus(n).state}`);
        return 0;
      case 'exec': {
        const [hostName, ...cmdArgs] = p.positional;
        const argv = [...cmdArgs, ...p.rest];
        if (!hostName || !argv.length) throw new UsageError('exec needs HOST and a command');
        const h = findHost(mustLab(p.name), hostName);
        if (!h) throw new UsageError(`no host ${hostName} in lab ${p.name}`);
        return execInteractive(nsenterArgv(h, argv));
      }
      case 'get': {
        const [hostName, url] = p.positional;
        if (!hostName || !url) throw new UsageError('get needs HOST and URL');
        const h = findHost(mustLab(p.name), hostName);
        if (!h) throw new UsageError(`no host ${hostName} in lab ${p.name}`);
        out(JSON.stringify(await httpGet<unknown>(h, url)));
        return 0;
      }
      case 'udp': {
        const [hostName, addr, port] = p.positional;
        if (!hostName || !addr) throw new UsageError('udp needs HOST and ADDR');
        const h = findHost(mustLab(p.name), hostName);
        if (!h) throw new UsageError(`no host ${hostName} in lab ${p.name}`);
        out(JSON.stringify(await udpAsk<unknown>(h, addr, port ? Number(port) : 5353)));
        return 0;
      }
      case 'route': {
        const lab = mustLab(p.name);
        const [prefix, node] = p.positional;
        if (!prefix) throw new UsageError('route needs PREFIX');
        if (p.flags.has('--del')) await clientRouteDel(lab, prefix);
        else if (!node) throw new UsageError('route needs PREFIX and NODE (e.g. node1)');
        else await clientRouteVia(lab, prefix, node);
        return 0;
      }
      default:
        throw new UsageError(`unknown lab command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lab: ${err.message}\n${LAB_USAGE}`);
      return 2;
    }
    process.stderr.write(`lab: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
