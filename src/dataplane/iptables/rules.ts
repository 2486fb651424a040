// DesiredService → iptables rules, kube-proxy's chain structure (pkg/proxy/iptables/proxier.go
// syncProxyRules), and the iptables-restore input of one sync. Pure: no I/O, so golden files and
// the packet tracer test exactly what the kernel gets.
//
// Every token comes from the validated model (canonical IPs and CIDRs, numbers, DNS-label names);
// comments are additionally reduced to a safe character set, so no Service field can end a rule,
// start another line or unbalance a quote in the restore input.
import type { Backend, DesiredService } from '../../model/index.js';
import { servicePortNameString } from '../../model/index.js';
import {
  endpointChain, interfaceArg, joinHostPort, serviceChains, TOP_LEVEL,
  KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_FIREWALL, KUBE_MARK_MASQ, KUBE_MASQ_OFF_CLUSTER, KUBE_NODEPORTS, KUBE_POSTROUTING,
  KUBE_PROXY_CANARY, KUBE_PROXY_FIREWALL, KUBE_SERVICES, type Table,
} from './names.js';
import { nfacctMatch } from './nfacct.js';

/** kube-proxy's largeClusterEndpointsThreshold: above it, rules carry no comments. */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

export interface GenOptions {
  /** 1 << masqueradeBit, as hex ("0x4000"). */
  readonly mark: string;
  /** False in large-cluster mode. */
  readonly comments: boolean;
  /** Localhost NodePorts with their nfacct counter: each NodePort gets its counted 127.0.0.0/8 rule first. */
  readonly localhostCounter?: boolean;
}

/** What one service port contributes to the tables. */
export interface ServiceRules {
  readonly key: string;
  /** Its own nat chains (SVC, SVL, EXT, FW, SEP): name → rules, in write order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Rules in the shared chains, which every sync rewrites whole. */
  readonly natServices: readonly string[];
  readonly natNodePorts: readonly string[];
  readonly filterServices: readonly string[];
  readonly filterExternal: readonly string[];
  readonly filterNodePorts: readonly string[];
  readonly filterFirewall: readonly string[];
  /** Destinations of this service's NodePorts: the jumps from KUBE-SERVICES to KUBE-NODEPORTS. */
  readonly nodePortAddresses: readonly string[];
}

export function markOf(masqueradeBit: number): string {
  return `0x${((1 << masqueradeBit) >>> 0).toString(16)}`;
}

/** A comment as one quoted token; anything outside a conservative set becomes '_'. */
export function comment(text: string): string[] {
  return ['-m', 'comment', '--comment', `"${text.replace(/[^A-Za-z0-9 ._:;,/@>[\]-]/g, '_').slice(0, 255)}"`];
}

const host = (ip: string) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`);
export const probability = (n: number) => (1 / n).toFixed(10);

/**
 * The two policy chains' endpoint sets. kube-proxy: usesClusterPolicyChain = cluster endpoints > 0
 * && (iTP Cluster || externally accessible); usesLocalPolicyChain = local endpoints > 0 && (iTP Local || eTP Local).
 */
function policySets(s: DesiredService): { clusterSet: readonly Backend[] | null; localSet: readonly Backend[] | null } {
  const cluster = !s.internalPolicyLocal ? s.internalBackends.backends : s.externallyAccessible ? s.shortCircuitBackends.backends : [];
  const local = s.internalPolicyLocal ? s.internalBackends.backends : s.externalPolicyLocal ? s.externalBackends.backends : [];
  return { clusterSet: cluster.length > 0 ? cluster : null, localSet: local.length > 0 ? local : null };
}

export function serviceRules(s: DesiredService, o: GenOptions): ServiceRules {
  const name = servicePortNameString(s.name);
  const proto = s.protocol.toLowerCase();
  const c = serviceChains(name, proto);
  const cm = (text: string) => (o.comments ? comment(text) : []);
  const p = ['-m', proto, '-p', proto];
  const line = (chain: string, ...args: (string | readonly string[])[]) => ['-A', chain, ...args.flat()].join(' ');

  const chains = new Map<string, string[]>();
  const natServices: string[] = [];
  const natNodePorts: string[] = [];
  const filterServices: string[] = [];
  const filterExternal: string[] = [];
  const filterNodePorts: string[] = [];
  const filterFirewall: string[] = [];
  const nodePortAddresses: string[] = [];

  const { clusterSet, localSet } = policySets(s);
  const hasEndpoints = !s.rejectWhenNoEndpoints;
  const hasInternal = s.internalBackends.backends.length > 0;
  const hasExternal = s.externalBackends.backends.length > 0;
  const internalChain = s.internalPolicyLocal ? c.svl : c.svc;
  const externalPolicyChain = s.externalPolicyLocal ? c.svl : c.svc;
  const usesExt = hasEndpoints && s.externallyAccessible;
  const lbs = s.frontends.filter((f) => f.kind === 'loadBalancer');
  const ranges = lbs.find((f) => f.sourceRanges && f.sourceRanges.length > 0)?.sourceRanges ?? [];
  const usesFw = hasEndpoints && ranges.length > 0;
  const filterVerdict = (drop: boolean) => ({
    target: drop ? 'DROP' : 'REJECT',
    text: drop ? `${name} has no local endpoints` : `${name} has no endpoints`,
  });
  const internalFilter = filterVerdict(s.internalBackends.dropWhenEmpty);
  const externalFilter = filterVerdict(s.externalBackends.dropWhenEmpty);

  // Declared first so that SVC/SVL come before EXT/FW/SEP in the restore input.
  if (clusterSet) chains.set(c.svc, []);
  if (localSet) chains.set(c.svl, []);

  // ClusterIP: masquerade in the internal chain, the capture in KUBE-SERVICES, or a REJECT/DROP.
  const clusterIP = s.frontends.find((f) => f.kind === 'clusterIP');
  if (clusterIP) {
    const dst = [...p, '-d', host(clusterIP.address), '--dport', String(clusterIP.port)];
    const args = [...cm(`${name} cluster IP`), ...dst];
    if (hasInternal) {
      const rules = chains.get(internalChain)!;
      const m = s.masquerade;
      if (m.clusterIP === 'all') rules.push(line(internalChain, args, '-j', KUBE_MARK_MASQ));
      else if (m.clusterIP === 'offCluster' && m.podInterface) rules.push(line(internalChain, args, '!', '-i', interfaceArg(m.podInterface), '-j', KUBE_MARK_MASQ));
      else if (m.clusterIP === 'offCluster' && m.clusterCIDRs.length === 1) rules.push(line(internalChain, args, '!', '-s', m.clusterCIDRs[0]!, '-j', KUBE_MARK_MASQ));
      else if (m.clusterIP === 'offCluster' && m.clusterCIDRs.length > 1) rules.push(line(internalChain, args, '-j', KUBE_MASQ_OFF_CLUSTER));
      natServices.push(line(KUBE_SERVICES, args, '-j', internalChain));
    } else {
      filterServices.push(line(KUBE_SERVICES, cm(internalFilter.text), dst, '-j', internalFilter.target));
    }
  }

  // External IPs and load-balancer VIPs.
  for (const f of s.frontends) {
    if (f.kind !== 'externalIP' && f.kind !== 'loadBalancer') continue;
    const what = f.kind === 'externalIP' ? 'external IP' : 'loadbalancer IP';
    const dst = [...p, '-d', host(f.address), '--dport', String(f.port)];
    if (hasEndpoints) natServices.push(line(KUBE_SERVICES, cm(`${name} ${what}`), dst, '-j', f.kind === 'loadBalancer' && usesFw ? c.fw : c.ext));
    if (f.kind === 'loadBalancer' && usesFw) filterFirewall.push(line(KUBE_PROXY_FIREWALL, cm(`${name} traffic not accepted by ${c.fw}`), dst, '-j', 'DROP'));
    if (!hasExternal) filterExternal.push(line(KUBE_EXTERNAL_SERVICES, cm(externalFilter.text), dst, '-j', externalFilter.target));
  }

  // NodePorts: KUBE-SERVICES jumps to KUBE-NODEPORTS once per node address (last rules there).
  const nodePorts = s.frontends.filter((f) => f.kind === 'nodePort');
  if (nodePorts.length > 0) {
    const port = String(nodePorts[0]!.port);
    // kube-proxy's: the same jump for 127.0.0.0/8, first, only to count it (nfacct.ts).
    if (hasEndpoints && o.localhostCounter) natNodePorts.push(line(KUBE_NODEPORTS, '-d', LOCALNET, cm(name), p, '--dport', port, nfacctMatch('localhost'), '-j', c.ext));
    if (hasEndpoints) natNodePorts.push(line(KUBE_NODEPORTS, cm(name), p, '--dport', port, '-j', c.ext));
    for (const f of nodePorts) nodePortAddresses.push(f.address);
    // kube-proxy's: on every local address, whichever nodePortAddresses serves it on.
    if (!hasExternal) filterExternal.push(line(KUBE_EXTERNAL_SERVICES, cm(externalFilter.text), '-m', 'addrtype', '--dst-type', 'LOCAL', p, '--dport', port, '-j', externalFilter.target));
  }
  if (s.healthCheckNodePort && s.externalPolicyLocal) {
    filterNodePorts.push(line(KUBE_NODEPORTS, cm(`${name} health check node port`), '-m', 'tcp', '-p', 'tcp', '--dport', String(s.healthCheckNodePort), '-j', 'ACCEPT'));
  }

  // KUBE-EXT: masquerade and short-circuit, then the external policy chain.
  if (usesExt) {
    const ext: string[] = [];
    if (s.masquerade.external === 'all') {
      ext.push(line(c.ext, cm(`masquerade traffic for ${name} external destinations`), '-j', KUBE_MARK_MASQ));
    } else {
      if (clusterSet) {
        const pods = s.masquerade.podInterface ? [['-i', interfaceArg(s.masquerade.podInterface)]] : s.masquerade.clusterCIDRs.map((cidr) => ['-s', cidr]);
        for (const from of pods) ext.push(line(c.ext, cm(`pod traffic for ${name} external destinations`), ...from, '-j', c.svc));
      }
      ext.push(line(c.ext, cm(`masquerade LOCAL traffic for ${name} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL', '-j', KUBE_MARK_MASQ));
      if (clusterSet) ext.push(line(c.ext, cm(`route LOCAL traffic for ${name} external destinations`), '-m', 'addrtype', '--src-type', 'LOCAL', '-j', c.svc));
    }
    if (hasExternal) ext.push(line(c.ext, '-j', externalPolicyChain));
    chains.set(c.ext, ext);
  }

  // KUBE-FW: allowed sources go on to KUBE-EXT; the rest falls through to KUBE-PROXY-FIREWALL's DROP.
  if (usesFw) {
    const fw: string[] = [];
    const args = cm(`${name} loadbalancer IP`);
    // The model's list: the ranges, then the LB IPs when a range holds the node (allowFromNode).
    for (const cidr of ranges) fw.push(line(c.fw, args, '-s', cidr, '-j', c.ext));
    fw.push(line(c.fw, cm(`other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`)));
    chains.set(c.fw, fw);
  }

  // Policy chains (affinity first, then the random spread) and endpoint chains.
  const sticky = s.affinity.type === 'ClientIP' ? s.affinity.timeoutSeconds : 0;
  const endpoints = new Map<string, Backend>();
  const toEndpoints = (chain: string, set: readonly Backend[]) => {
    const rules = chains.get(chain)!;
    const named = set.map((b) => {
      const hp = joinHostPort(b.ip, b.port);
      const sep = endpointChain(name, proto, hp);
      endpoints.set(sep, b);
      return { sep, text: `${name} -> ${hp}` };
    });
    if (sticky > 0) {
      for (const e of named) rules.push(line(chain, cm(e.text), '-m', 'recent', '--name', e.sep, '--rcheck', '--seconds', String(sticky), '--reap', '-j', e.sep));
    }
    named.forEach((e, i) => {
      const stat = i < named.length - 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(named.length - i)] : [];
      rules.push(line(chain, cm(e.text), stat, '-j', e.sep));
    });
  };
  if (clusterSet) toEndpoints(c.svc, clusterSet);
  if (localSet) toEndpoints(c.svl, localSet);
  for (const [sep, b] of endpoints) {
    chains.set(sep, [
      line(sep, cm(name), '-s', host(b.ip), '-j', KUBE_MARK_MASQ),
      line(sep, cm(name), sticky > 0 ? ['-m', 'recent', '--name', sep, '--set'] : [], p, '-j', 'DNAT', '--to-destination', joinHostPort(b.ip, b.port)),
    ]);
  }

  return { key: s.key, chains, natServices, natNodePorts, filterServices, filterExternal, filterNodePorts, filterFirewall, nodePortAddresses };
}

// ---- CIDR containment (is a node address in a source range) ----------------------------------------

function ipBits(ip: string): bigint | null {
  if (!ip.includes(':')) {
    const parts = ip.split('.').map(Number);
    if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
    return parts.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
  }
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  if (groups.length !== 8) return null;
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

export function cidrHas(cidr: string, ip: string): boolean {
  const [net, len] = cidr.split('/');
  if (net === undefined || net.includes(':') !== ip.includes(':')) return false;
  const width = ip.includes(':') ? 128 : 32;
  const bits = len === undefined ? width : Number(len);
  const a = ipBits(net);
  const b = ipBits(ip);
  if (a === null || b === null || !(bits >= 0 && bits <= width)) return false;
  const shift = BigInt(width - bits);
  return a >> shift === b >> shift;
}

// ---- one family's restore input ------------------------------------------------------------------

/** A jump from a built-in chain to one of ours (kube-proxy's iptablesJumpChains). */
export interface Jump {
  readonly table: Table;
  readonly from: string;
  readonly to: string;
  readonly comment: string;
  readonly extra: readonly string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];
export const JUMPS: readonly Jump[] = [
  { table: 'filter', from: 'INPUT', to: KUBE_EXTERNAL_SERVICES, comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', from: 'FORWARD', to: KUBE_EXTERNAL_SERVICES, comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', from: 'INPUT', to: KUBE_NODEPORTS, comment: 'kubernetes health check service ports', extra: [] },
  { table: 'filter', from: 'FORWARD', to: KUBE_SERVICES, comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', from: 'OUTPUT', to: KUBE_SERVICES, comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', from: 'FORWARD', to: KUBE_FORWARD, comment: 'kubernetes forwarding rules', extra: [] },
  { table: 'filter', from: 'INPUT', to: KUBE_PROXY_FIREWALL, comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', from: 'OUTPUT', to: KUBE_PROXY_FIREWALL, comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', from: 'FORWARD', to: KUBE_PROXY_FIREWALL, comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'nat', from: 'OUTPUT', to: KUBE_SERVICES, comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', from: 'PREROUTING', to: KUBE_SERVICES, comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', from: 'POSTROUTING', to: KUBE_POSTROUTING, comment: 'kubernetes postrouting rules', extra: [] },
];

/** Into KUBE-FIREWALL, with localhost NodePorts only; as kube-proxy's, without a comment. */
export const LOCALNET_JUMPS: readonly Jump[] = [
  { table: 'filter', from: 'INPUT', to: KUBE_FIREWALL, comment: '', extra: [] },
  { table: 'filter', from: 'OUTPUT', to: KUBE_FIREWALL, comment: '', extra: [] },
];

/** The restore line that inserts a jump at the top of its built-in chain. */
export function jumpLine(j: Jump): string {
  return ['-I', j.from, '1', ...j.extra, ...(j.comment ? comment(j.comment) : []), '-j', j.to].join(' ');
}

/** 127.0.0.0/8, where localhost NodePorts are served (IPv4 only, as in kube-proxy). */
export const LOCALNET = '127.0.0.0/8';

export interface RenderInput {
  /** Every service port of this family, in key order. */
  readonly services: ReadonlyMap<string, ServiceRules>;
  /** Whose own chains to write: every service (full sync) or the changed ones (partial). */
  readonly write: ReadonlySet<string> | 'all';
  /** nat chains to flush and delete (stale). */
  readonly deleteChains: readonly string[];
  /** Jumps to insert (the ones missing from the built-in chains). */
  readonly jumps: readonly Jump[];
  readonly mark: string;
  /** This family's clusterCIDRs; more than one needs KUBE-MASQ-OFF-CLUSTER. */
  readonly clusterCIDRs: readonly string[];
  readonly comments: boolean;
  /**
   * Drop ct-INVALID packets in KUBE-FORWARD; kube-proxy leaves that out when conntrack is liberal
   * about TCP windows (nf_conntrack_tcp_be_liberal, conntrack.tcpBeLiberal): those who set it
   * want out-of-window packets through. Default true.
   */
  readonly dropInvalid?: boolean;
  /** Count that drop in its nfacct counter (nfacct.ts). */
  readonly countInvalid?: boolean;
  /** Put LIST_ALL_LINE in the nat table (iptables-nft full syncs; see there). */
  readonly listAll?: boolean;
  /**
   * Declare the nat chains in descending name order (the legacy backend only). libiptc inserts a
   * new chain into its sorted chain list by walking up from an index point, so a name below every
   * earlier one is placed at once: 10,000 services cold in 4.3 s instead of 7.3 s. Never for nft:
   * there the kernel keeps chains in creation order, and iptables-nft-save sorts them with a
   * first-element-pivot quicksort that recurses once per chain on sorted input; at 110,000 chains
   * it overflows the stack (segfault).
   */
  readonly descendingChains?: boolean;
  /**
   * Write KUBE-SERVICES and KUBE-NODEPORTS in descending order of their jump targets (iptables-nft).
   * Each target goes into the --noflush cache request's sorted list (LIST_ALL_LINE), searched from
   * its head: a name below every earlier one is placed at once, where ascending names walk the
   * whole list (10,000 services: 1.2-1.5 s of a partial sync that adds a service). The order of
   * these rules means nothing: each matches its own destination (kube-proxy writes them in Go map order).
   */
  readonly descendingTargets?: boolean;
  /** Declare KUBE_PROXY_CANARY in filter and nat (full syncs; see index.ts). */
  readonly canary?: boolean;
  /**
   * kube-proxy's localhostNodePorts (IPv4): NodePorts are served on 127.0.0.0/8 too, which
   * route_localnet lets leave through another device once DNATed (index.ts sets it); KUBE-FIREWALL
   * drops what comes to 127.0.0.0/8 from elsewhere unless it is one of those connections.
   */
  readonly localhostNodePorts?: boolean;
  /**
   * nodePortAddresses unset: KUBE-SERVICES sends every local address of this family to
   * KUBE-NODEPORTS (`-m addrtype --dst-type LOCAL`, kube-proxy's rule, which follows addresses as
   * they come and go), but ::1, and 127.0.0.0/8 unless localhostNodePorts. Otherwise one jump per
   * node address nodePortAddresses selects.
   */
  readonly nodePortsOnLocal?: 4 | 6;
  /**
   * Which tables' shared chains (KUBE-SERVICES, KUBE-NODEPORTS, …) to rewrite; default both. A
   * partial sync whose services' lines there are unchanged (an endpoint moved) leaves them alone:
   * rewriting KUBE-SERVICES names every service chain, and iptables-nft's --noflush cache request
   * costs lines × chains (see LIST_ALL_LINE), 1.2 s at 10,000 services for one endpoint. Full
   * syncs (jumps, canary, listing) always write both.
   */
  readonly shared?: { readonly filter: boolean; readonly nat: boolean };
}

/**
 * A line without a chain, for iptables-nft (1.8.8+) under --noflush. There, every chain a line names
 * goes into the restore's cache request: a sorted linked list searched from its head on every line,
 * then one netlink GETCHAIN per entry. A full sync names every chain of ours, so that is
 * O(lines × chains): 1,000 services × 10 endpoints took 7 s, 10,000 over 240 s. One line that names
 * no chain makes it fetch the table's whole chain list in one dump instead, and `-S` only lists the
 * table (to stdout, which restore() discards). It must come after the jumps into built-in chains:
 * the listing caches an absent built-in chain as present, and a later rule in it would fail (ENOENT).
 * Partial syncs do without: the listing reads every rule of the table, which costs more than the
 * few thousand names a partial sync carries.
 */
export const LIST_ALL_LINE = '-S';

export interface RenderStats {
  /** Chains declared (created or flushed and rewritten). */
  chains: number;
  rules: number;
  /** The rules, by table (kube-proxy's sync_proxy_rules_iptables_last). */
  rulesByTable: Record<Table, number>;
  deleted: number;
}

/** The input of one `iptables-restore --noflush`: the filter table, then nat. */
export function renderRestore(r: RenderInput): { text: string; stats: RenderStats } {
  const out: string[] = [];
  const stats: RenderStats = { chains: 0, rules: 0, rulesByTable: { filter: 0, nat: 0 }, deleted: r.deleteChains.length };
  let table: Table = 'filter';
  const cm = (t: string) => (r.comments ? comment(t) : []);
  const svcs = [...r.services.values()];
  const jumpsOf = (t: Table) => r.jumps.filter((j) => j.table === t).map(jumpLine);
  const rules = (lines: readonly string[]) => {
    stats.rules += lines.length;
    stats.rulesByTable[table] += lines.length;
    for (const l of lines) out.push(l);
  };
  const declare = (name: string) => {
    stats.chains++;
    out.push(`:${name} - [0:0]`);
  };
  const byTarget = (lines: string[]): string[] => {
    if (!r.descendingTargets) return lines;
    const keyed = lines.map((l) => [l.slice(l.lastIndexOf(' -j ') + 4), l] as const);
    return keyed.sort((a, b) => descending(a[0], b[0])).map((x) => x[1]);
  };

  const shared = r.shared ?? { filter: true, nat: true };

  // filter: top-level chains only, whole, or not at all when nothing in them changed.
  if (shared.filter) {
    out.push('*filter');
    for (const ch of TOP_LEVEL.filter) declare(ch);
    // Before the jumps into it.
    if (r.localhostNodePorts) declare(KUBE_FIREWALL);
    if (r.canary) out.push(`:${KUBE_PROXY_CANARY} - [0:0]`);
    out.push(...jumpsOf('filter'));
    for (const s of svcs) rules(s.filterNodePorts);
    for (const s of svcs) rules(s.filterServices);
    for (const s of svcs) rules(s.filterExternal);
    rules([
      ...(r.dropInvalid === false ? [] : [['-A', KUBE_FORWARD, '-m', 'conntrack', '--ctstate', 'INVALID', ...(r.countInvalid ? nfacctMatch('invalid') : []), '-j', 'DROP'].join(' ')]),
      ['-A', KUBE_FORWARD, ...cm('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${r.mark}/${r.mark}`, '-j', 'ACCEPT'].join(' '),
      ['-A', KUBE_FORWARD, ...cm('kubernetes forwarding conntrack rule'), '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'].join(' '),
    ]);
    for (const s of svcs) rules(s.filterFirewall);
    if (r.localhostNodePorts) {
      rules([['-A', KUBE_FIREWALL, ...comment('block incoming localnet connections'), '-d', LOCALNET, '!', '-s', LOCALNET,
        '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'DROP'].join(' ')]);
    }
    out.push('COMMIT');
  }

  // nat: top-level chains whole (unless unchanged), the chains of the services being written,
  // stale chains deleted.
  out.push('*nat');
  table = 'nat';
  const multiCIDR = r.clusterCIDRs.length > 1;
  if (shared.nat) {
    for (const ch of TOP_LEVEL.nat) declare(ch);
    if (multiCIDR) declare(KUBE_MASQ_OFF_CLUSTER);
    if (r.canary) out.push(`:${KUBE_PROXY_CANARY} - [0:0]`);
    out.push(...jumpsOf('nat'));
    if (r.listAll) out.push(LIST_ALL_LINE);
  }
  const written = r.write === 'all' ? svcs : svcs.filter((s) => (r.write as ReadonlySet<string>).has(s.key));
  const declared = written.flatMap((s) => [...s.chains.keys()]);
  const stale = [...r.deleteChains];
  if (r.descendingChains) {
    declared.sort(descending);
    stale.sort(descending);
  }
  for (const ch of declared) declare(ch);
  for (const ch of stale) out.push(`:${ch} - [0:0]`);
  if (shared.nat) {
    rules(byTarget(svcs.flatMap((s) => s.natServices)));
    const last = cm('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
    if (r.nodePortsOnLocal) {
      const loopback = r.nodePortsOnLocal === 6 ? ['!', '-d', '::1/128'] : r.localhostNodePorts ? [] : ['!', '-d', LOCALNET];
      rules([['-A', KUBE_SERVICES, ...last, '-m', 'addrtype', '--dst-type', 'LOCAL', ...loopback, '-j', KUBE_NODEPORTS].join(' ')]);
    } else {
      const dsts = [...new Set(svcs.flatMap((s) => s.nodePortAddresses))].map(host);
      if (r.localhostNodePorts && dsts.length > 0) dsts.push(LOCALNET);
      rules(dsts.map((d) => ['-A', KUBE_SERVICES, ...last, '-d', d, '-j', KUBE_NODEPORTS].join(' ')));
    }
    rules(byTarget(svcs.flatMap((s) => s.natNodePorts)));
    rules([
      `-A ${KUBE_POSTROUTING} -m mark ! --mark ${r.mark}/${r.mark} -j RETURN`,
      `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${r.mark}`,
      ['-A', KUBE_POSTROUTING, ...cm('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully'].join(' '),
      `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${r.mark}`,
    ]);
    if (multiCIDR) {
      rules([...r.clusterCIDRs.map((c) => `-A ${KUBE_MASQ_OFF_CLUSTER} -s ${c} -j RETURN`), `-A ${KUBE_MASQ_OFF_CLUSTER} -j ${KUBE_MARK_MASQ}`]);
    }
  }
  for (const s of written) for (const lines of s.chains.values()) rules(lines);
  for (const ch of r.deleteChains) out.push(`-X ${ch}`);
  out.push('COMMIT', '');
  return { text: out.join('\n'), stats };
}

const sameLines = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((l, i) => l === b[i]);

/** Whether a service port's lines in the shared chains of `table` are the same in both renderings (absent: none). */
export function sameShared(table: 'filter' | 'nat', a: ServiceRules | undefined, b: ServiceRules | undefined): boolean {
  const lists = (x: ServiceRules | undefined): (readonly string[])[] => {
    if (!x) return [];
    return table === 'nat' ? [x.natServices, x.natNodePorts, x.nodePortAddresses] : [x.filterServices, x.filterExternal, x.filterNodePorts, x.filterFirewall];
  };
  const la = lists(a);
  const lb = lists(b);
  const empty = (l: (readonly string[])[]) => l.every((x) => x.length === 0);
  if (la.length === 0 || lb.length === 0) return empty(la) && empty(lb);
  return la.every((l, i) => sameLines(l, lb[i]!));
}

/** Whether two renderings of a service port are identical (nothing to write). */
export function sameRules(a: ServiceRules, b: ServiceRules): boolean {
  if (a.chains.size !== b.chains.size) return false;
  for (const [name, lines] of a.chains) {
    const other = b.chains.get(name);
    if (!other || !sameLines(lines, other)) return false;
  }
  return sameLines(a.natServices, b.natServices) && sameLines(a.natNodePorts, b.natNodePorts)
    && sameLines(a.filterServices, b.filterServices) && sameLines(a.filterExternal, b.filterExternal)
    && sameLines(a.filterNodePorts, b.filterNodePorts) && sameLines(a.filterFirewall, b.filterFirewall)
    && sameLines(a.nodePortAddresses, b.nodePortAddresses);
}

const descending = (a: string, b: string): number => (a < b ? 1 : a > b ? -1 : 0);

/** Endpoints as kube-proxy counts them for large-cluster mode (above 1000: no comments). */
export function endpointCount(services: Iterable<DesiredService>): number {
  let n = 0;
  for (const s of services) {
    n += Math.max(s.internalBackends.backends.length, s.externalBackends.backends.length, s.shortCircuitBackends.backends.length);
  }
  return n;
}
