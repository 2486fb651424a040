// Upstream kube-proxy's ipvs mode, left on a node we replace without `kube-proxy --cleanup`:
// kube-ipvs0 holding every ClusterIP, external and LB IP (so the node takes their packets as
// its own), IPVS virtual servers that keep sending Services' traffic to the pods of its last
// sync, KUBE-* ipsets, and the iptables chains only that mode has. kube-proxy's own cleanup
// flushes every virtual server on the node; we remove only the ones its state says are its:
// those on kube-ipvs0's addresses, and NodePort ones (a port its KUBE-NODE-PORT-* sets list).
// kube-ipvs0 is the sign it ran here: without it nothing is looked at, and a start pays one
// read of /proc/net/dev (this namespace's devices).
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from '../observe/index.js';
import { binaries } from './iptables/exec.js';
import { parseSave, chainOf, targetOf } from './iptables/save.js';
import { deleteAll, parseIpvsSave, type KernelVirtualServer } from './ipvs/ipvsadm.js';
import { runCommand, type Runner } from './run.js';

export const KUBE_IPVS_DEVICE = 'kube-ipvs0';

/** kube-proxy's ipvs sets (pkg/proxy/ipvs/ipset.go); IPv6 ones are named KUBE-6-… instead of KUBE-…. */
const KUBE_SETS = [
  'LOOP-BACK', 'CLUSTER-IP', 'EXTERNAL-IP', 'EXTERNAL-IP-LOCAL', 'LOAD-BALANCER', 'LOAD-BALANCER-FW', 'LOAD-BALANCER-LOCAL',
  'LOAD-BALANCER-SOURCE-IP', 'LOAD-BALANCER-SOURCE-CIDR', 'NODE-PORT-TCP', 'NODE-PORT-LOCAL-TCP', 'NODE-PORT-UDP',
  'NODE-PORT-LOCAL-UDP', 'NODE-PORT-SCTP-HASH', 'NODE-PORT-LOCAL-SCTP-HASH', 'HEALTH-CHECK-NODE-PORT', 'IPVS-IPS',
].flatMap((s) => [`KUBE-${s}`, `KUBE-6-${s}`]);

/**
 * The chains of kube-proxy's ipvs mode that neither its other modes nor ours have (KUBE-SERVICES,
 * KUBE-POSTROUTING… are our iptables mode's names too: its cleaner or its syncs handle them), by
 * table. nat's KUBE-FIREWALL is an older release's; filter's is kubelet's and stays.
 */
const IPVS_ONLY_CHAINS: Readonly<Record<string, readonly string[]>> = {
  nat: ['KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-FIREWALL'],
  filter: ['KUBE-NODE-PORT', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'],
};

export interface UpstreamIpvsHost {
  run: Runner;
  exists(path: string): boolean;
  /** Whether this namespace has the device (its /proc/net/dev). */
  hasDevice(name: string): boolean;
}

const realHost: UpstreamIpvsHost = {
  run: runCommand,
  exists: existsSync,
  hasDevice: (name) => {
    try {
      return readFileSync('/proc/net/dev', 'utf8').split('\n').some((l) => l.trimStart().startsWith(`${name}:`));
    } catch {
      return false;
    }
  },
};

/** `ipset save` of kube-proxy's sets: name → entries. */
export function kubeSetsOf(save: string): Map<string, Set<string>> {
  const names = new Set(KUBE_SETS);
  const out = new Map<string, Set<string>>();
  for (const line of save.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 2 || !names.has(t[1]!)) continue;
    if (t[0] === 'create') out.set(t[1]!, new Set());
    else if (t[0] === 'add' && t[2]) out.get(t[1]!)?.add(t[2]);
  }
  return out;
}

/** kube-proxy's: a virtual server on a kube-ipvs0 address, or a NodePort its sets list (TCP and UDP by port, SCTP by address and port). */
export function isKubeProxyVirtualServer(vipAddresses: ReadonlySet<string>, sets: ReadonlyMap<string, Set<string>>) {
  const has = (names: string[], entry: string) => names.some((n) => sets.get(n)?.has(entry));
  return (vs: KernelVirtualServer): boolean => {
    if (vipAddresses.has(vs.address)) return true;
    const six = vs.family === 6 ? '6-' : '';
    if (vs.protocol === 'SCTP') return has([`KUBE-${six}NODE-PORT-SCTP-HASH`, `KUBE-${six}NODE-PORT-LOCAL-SCTP-HASH`], `${vs.address},sctp:${vs.port}`);
    const p = vs.protocol === 'TCP' ? 'TCP' : 'UDP';
    return has([`KUBE-${six}NODE-PORT-${p}`, `KUBE-${six}NODE-PORT-LOCAL-${p}`], String(vs.port));
  };
}

/**
 * The `iptables-restore --noflush` input that removes the ipvs-only chains and every rule
 * elsewhere that leads into one or matches a kube-proxy set (which would keep the set from
 * being destroyed); null when there is nothing. Rules inside a removed chain go with it.
 */
export function upstreamIpvsRestore(saveText: string): string | null {
  const sets = new Set(KUBE_SETS);
  const out: string[] = [];
  for (const [table, t] of parseSave(saveText)) {
    const gone = (IPVS_ONLY_CHAINS[table] ?? []).filter((c) => t.chains.get(c) === '-');
    const goneSet = new Set(gone);
    const deletes = t.rules.filter((r) => {
      if (goneSet.has(chainOf(r))) return false;
      const to = targetOf(r);
      if (to && goneSet.has(to)) return true;
      const m = /--match-set (\S+)/g;
      for (let x = m.exec(r); x; x = m.exec(r)) if (sets.has(x[1]!)) return true;
      return false;
    });
    if (gone.length === 0 && deletes.length === 0) continue;
    out.push(`*${table}`, ...gone.map((c) => `:${c} - [0:0]`), ...deletes.map((r) => `-D${r.slice(2)}`), ...gone.map((c) => `-X ${c}`), 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : null;
}

/**
 * Removes what upstream kube-proxy's ipvs mode left, if kube-ipvs0 says it ran here. What cannot
 * be removed (a set something else still uses) is logged and left, and so is kube-ipvs0 then, so
 * that the next start looks again.
 */
export async function cleanupUpstreamIpvs(log: Logger, host: UpstreamIpvsHost = realHost): Promise<string[]> {
  if (!host.hasDevice(KUBE_IPVS_DEVICE)) return [];
  const { run } = host;
  const removed: string[] = [];
  let failed = false;
  const dev = await run(['ip', '-j', 'addr', 'show', 'dev', KUBE_IPVS_DEVICE]);
  const vips = new Set<string>();
  if (dev.status === 0) {
    for (const link of JSON.parse(dev.stdout || '[]') as { addr_info?: { local?: string }[] }[]) {
      for (const a of link.addr_info ?? []) if (a.local) vips.add(a.local.toLowerCase());
    }
  }
  const setsSave = host.exists('/sys/module/ip_set') ? await run(['ipset', 'save']) : null;
  const sets = setsSave?.status === 0 ? kubeSetsOf(setsSave.stdout) : new Map<string, Set<string>>();
  if (host.exists('/proc/net/ip_vs')) {
    const save = await run(['ipvsadm', '-Sn']);
    const cmds = save.status === 0 ? deleteAll(parseIpvsSave(save.stdout), isKubeProxyVirtualServer(vips, sets)) : [];
    if (cmds.length) {
      const r = await run(['ipvsadm', '--restore'], `${cmds.join('\n')}\n`);
      if (r.status === 0) removed.push(...cmds.map((c) => `upstream kube-proxy's ipvs virtual server ${c.split(' ').slice(1).join(' ')}`));
      else {
        failed = true;
        log.warn("cannot remove upstream kube-proxy's IPVS virtual servers", { error: r.stderr.trim() });
      }
    }
  }
  for (const backend of ['nft', 'legacy'] as const) {
    for (const family of [4, 6] as const) {
      if (backend === 'legacy' && !host.exists(`/proc/net/${family === 4 ? 'ip' : 'ip6'}_tables_names`)) continue;
      const bin = binaries(backend, family);
      const save = await run([bin.save]);
      const text = save.status === 0 ? upstreamIpvsRestore(save.stdout) : null;
      if (!text) continue;
      const r = await run([bin.restore, '--noflush'], text);
      if (r.status === 0) removed.push(`${bin.cmd}: upstream kube-proxy's ipvs chains and the rules using its sets`);
      else {
        failed = true;
        log.warn("cannot remove upstream kube-proxy's ipvs iptables rules", { command: bin.cmd, error: r.stderr.trim() });
      }
    }
  }
  for (const name of sets.keys()) {
    const r = await run(['ipset', 'destroy', name]);
    if (r.status === 0) removed.push(`upstream kube-proxy's ipset ${name}`);
    else {
      failed = true;
      log.warn("cannot destroy upstream kube-proxy's ipset", { set: name, error: r.stderr.trim() });
    }
  }
  if (!failed && (await run(['ip', 'link', 'del', KUBE_IPVS_DEVICE])).status === 0) removed.push(`upstream kube-proxy's interface ${KUBE_IPVS_DEVICE}`);
  return removed;
}
