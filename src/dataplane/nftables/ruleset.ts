// The nftables ruleset: pure text generation, no kernel access.
//
// Design (why 10,000 services program in seconds): the kernel cost of a big nftables transaction
// is not rules or elements but *map bindings*. Every rule that looks a value up in a map
// (`vmap @m`, `dnat to … map @m`) binds the map to its chain, and binding a map from a chain that
// has not bound it before walks every element of the map (nf_tables_bind_set → loop checks);
// an anonymous `numgen … vmap { … }` per service is a new set per service, and allocating each
// anonymous set's name scans every set of the table. Both are quadratic in the number of services.
// So per-service data lives only in map *elements*, and the number of chains and maps does not grow
// with services:
//
//   services:  daddr . l4proto . dport  vmap @service-ips   → goto a shared "variant" chain
//   variant:   masquerade marks as the service's policy says (cip-*, ext-*, loc-*), then goto pick-tcp-N
//   pick-tcp-N: dnat to daddr . l4proto . dport . (numgen random mod N) map @pick-tcp-N
//
// One pick-PROTO-N chain and map per protocol and distinct endpoint count N (and xpick-PROTO-N for
// the local set of eTP=Local external frontends), each map bound from exactly one chain. Dispatch stays
// O(1): two hash lookups and a random number. The frontend itself is the service's identity in the
// key, so no service id is needed in the packet. Hairpin masquerading is one postrouting lookup
// (saddr . daddr in @hairpin, elements ep . ep), source ranges are two set lookups, no-endpoint
// reject/drop one vmap lookup. Only ClientIP session affinity uses per-service chains and
// per-endpoint timeout sets (as kube-proxy does); they exist for affinity services only.
//
// Everything that goes into the text is re-validated here: addresses and CIDRs through the model's
// parsers (canonical text), ports and timeouts as integers in range, protocols from a fixed list.
// Object names are ours: fixed words, numbers and hex hashes, never a Service field.

import { createHash } from 'node:crypto';
import { parseCIDR, parseIP, type Backend, type DesiredService, type DesiredState, type Frontend, type IPFamily } from '../../model/index.js';

export const TABLE = 'ekp-proxy';
export const FAMILIES: readonly IPFamily[] = [4, 6];
export const nftFamily = (f: IPFamily): 'ip' | 'ip6' => (f === 4 ? 'ip' : 'ip6');

export interface RulesetOptions {
  /** kube-proxy's masqueradeBit (default 14 → 0x4000). */
  masqueradeBit: number;
}

/** A set or map: its declaration body (without braces). */
export type SetDecl = string;
/** A chain: base-chain header (or '') and rules. */
export interface ChainDecl {
  readonly header: string;
  readonly rules: readonly string[];
}

/** What one service port adds to its family's table. */
export interface Contribution {
  readonly family: IPFamily;
  /** Shared objects (same name ⇒ same content), created once, garbage-collected at full syncs. */
  readonly sharedChains: ReadonlyMap<string, ChainDecl>;
  readonly sharedSets: ReadonlyMap<string, SetDecl>;
  /** Objects of this service alone (session affinity). */
  readonly ownChains: ReadonlyMap<string, ChainDecl>;
  readonly ownSets: ReadonlyMap<string, SetDecl>;
  /** Elements: `set\tkey\tvalue` ids are built by elementId. */
  readonly elements: readonly Element[];
  /** Keys (`addr . proto . port`) of the frontends it programs: one service per frontend. */
  readonly frontendKeys: readonly string[];
  /**
   * The desired state it was built from, unless a frontend was left out for a conflict: a
   * sync handed this same object (the tracker keeps it while its inputs are unchanged)
   * has nothing new for the service. A conflicted one is always rebuilt: the other owner may be gone.
   */
  readonly source?: DesiredService;
}

export interface Element {
  readonly set: string;
  readonly key: string;
  /** '' for plain sets. */
  readonly value: string;
}

const PROTOS: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/** Family-specific words. */
function fam(f: IPFamily) {
  return f === 4 ? { nf: 'ip', addr: 'ipv4_addr', a: 'ip' } : { nf: 'ip6', addr: 'ipv6_addr', a: 'ip6' };
}

const ipCache = new Map<string, string | null>();
/** Canonical text of an address of this family, or throws. */
export function checkIP(s: string, f: IPFamily): string {
  let c = ipCache.get(s);
  if (c === undefined) {
    const r = typeof s === 'string' ? parseIP(s) : null;
    c = r && r.ok ? `${r.ip.family}|${r.ip.text}` : null;
    if (ipCache.size > 200_000) ipCache.clear();
    ipCache.set(s, c);
  }
  if (c === null || c[0] !== String(f)) throw new Error(`not an IPv${f} address: ${JSON.stringify(s)}`);
  return c.slice(2);
}

export function checkCIDR(s: string, f: IPFamily): string {
  const r = typeof s === 'string' ? parseCIDR(s) : null;
  if (!r || !r.ok || r.cidr.family !== f) throw new Error(`not an IPv${f} CIDR: ${JSON.stringify(s)}`);
  return r.cidr.text;
}

export function checkPort(p: number): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`not a port: ${JSON.stringify(p)}`);
  return p;
}

function checkProto(p: string): string {
  const v = PROTOS[p];
  if (!v) throw new Error(`unsupported protocol ${JSON.stringify(p)}`);
  return v;
}

function hash(s: string, n = 16): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

export function markOf(bit: number): string {
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new Error(`masqueradeBit must be 0-31, got ${bit}`);
  return `0x${(2 ** bit).toString(16).padStart(8, '0')}`;
}

/** The objects every family table has, whatever the services; `serviceCIDRs` are this family's. */
export function staticObjects(f: IPFamily, opts: RulesetOptions, serviceCIDRs: readonly string[] = []): { chains: Map<string, ChainDecl>; sets: Map<string, SetDecl> } {
  const { addr, a } = fam(f);
  const mark = markOf(opts.masqueradeBit);
  const fk = `${a} daddr . meta l4proto . th dport`;
  const sets = new Map<string, SetDecl>([
    ['cluster-cidrs', `type ${addr}; flags interval;`],
    ['service-ips', `type ${addr} . inet_proto . inet_service : verdict;`],
    ['no-endpoint', `type ${addr} . inet_proto . inet_service : verdict;`],
    ['firewall-ips', `type ${addr} . inet_proto . inet_service;`],
    ['firewall-allow', `type ${addr} . inet_proto . inet_service . ${addr}; flags interval;`],
    ['hairpin', `type ${addr} . ${addr};`],
    ['cluster-ips', `type ${addr};`],
  ]);
  const c = (header: string, rules: string[]): ChainDecl => ({ header, rules });
  const chains = new Map<string, ChainDecl>([
    ['mark-for-masquerade', c('', [`meta mark set meta mark or ${mark}`])],
    ['masquerading', c('', [`meta mark & ${mark} == 0 return`, `meta mark set meta mark xor ${mark}`, 'masquerade fully-random'])],
    ['services', c('', [`${fk} vmap @service-ips`])],
    ['nat-prerouting', c('type nat hook prerouting priority -100; policy accept;', ['jump services'])],
    ['nat-output', c('type nat hook output priority -100; policy accept;', ['jump services'])],
    ['nat-postrouting', c('type nat hook postrouting priority 100; policy accept;', [
      `ct status dnat ${a} saddr . ${a} daddr @hairpin jump mark-for-masquerade`,
      'jump masquerading',
    ])],
    ['firewall-check', c('', [`${fk} @firewall-ips ${fk} . ${a} saddr != @firewall-allow drop`])],
    ['filter-prerouting', c('type filter hook prerouting priority -110; policy accept;', ['ct state new jump firewall-check'])],
    ['filter-output', c('type filter hook output priority -110; policy accept;', ['ct state new jump firewall-check'])],
    ['endpoints-check', c('', [`${fk} vmap @no-endpoint`])],
    ['filter-input', c('type filter hook input priority -1; policy accept;', ['ct state new jump endpoints-check'])],
    // After DNAT: a packet still bound for a ClusterIP matched none of its ports (kube-proxy's
    // cluster-ips-check). Refused at once, where it would otherwise wander off to the default route.
    // One bound for a ServiceCIDR's address that no Service holds is dropped, as kube-proxy's: no
    // Service to refuse on behalf of.
    ['cluster-ips-check', c('', [
      `${a} daddr @cluster-ips reject`,
      ...(serviceCIDRs.length ? [`${a} daddr { ${serviceCIDRs.map((x) => checkCIDR(x, f)).join(', ')} } drop`] : []),
    ])],
    ['filter-forward', c('type filter hook forward priority -1; policy accept;', ['ct state new jump endpoints-check', 'ct state new jump cluster-ips-check'])],
    ['filter-output-post-dnat', c('type filter hook output priority -1; policy accept;', ['ct state new jump endpoints-check', 'ct state new jump cluster-ips-check'])],
    // kube-proxy's reject-chain is a plain reject: an ICMP port unreachable for every protocol,
    // which a TCP client takes as ECONNREFUSED as it would a RST.
    ['reject-chain', c('', ['reject'])],
  ]);
  return { chains, sets };
}

export const STATIC_SET_NAMES = new Set(['cluster-cidrs', 'service-ips', 'no-endpoint', 'firewall-ips', 'firewall-allow', 'hairpin', 'cluster-ips']);

/** Sets whose elements the kernel writes (affinity): a full sync keeps their contents. */
export const isDynamicSet = (name: string): boolean => name.startsWith('aff-');

interface Builder {
  sharedChains: Map<string, ChainDecl>;
  sharedSets: Map<string, SetDecl>;
  ownChains: Map<string, ChainDecl>;
  ownSets: Map<string, SetDecl>;
  elements: Element[];
  frontendKeys: string[];
}

/** Where a backend set is chosen: pick-N (shared) or the service's affinity chain (own). */
function target(b: Builder, d: DesiredService, backends: readonly Backend[], cls: 'cluster' | 'local', map: 'pick' | 'xpick'): { chain: string; own: boolean } {
  const f = d.family;
  const { addr, a } = fam(f);
  const n = backends.length;
  if (d.affinity.type === 'ClientIP') {
    const timeout = d.affinity.timeoutSeconds;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 86400 * 365) throw new Error(`bad affinity timeout ${timeout}`);
    const proto = checkProto(d.protocol);
    const h = hash(`${d.key}|${cls}`);
    const eps = backends.map((be) => {
      const ip = checkIP(be.ip, f);
      const port = checkPort(be.port);
      const eh = hash(`${d.key}|${ip}|${port}|${timeout}`);
      const dst = f === 4 ? `${ip}:${port}` : `[${ip}]:${port}`;
      b.ownSets.set(`aff-${eh}`, `type ${addr}; flags dynamic,timeout; timeout ${timeout}s;`);
      b.ownChains.set(`affep-${eh}`, { header: '', rules: [`update @aff-${eh} { ${a} saddr }`, `meta l4proto ${proto} dnat to ${dst}`] });
      return eh;
    });
    const rules = eps.map((eh) => `${a} saddr @aff-${eh} goto affep-${eh}`);
    rules.push(n === 1 ? `goto affep-${eps[0]}` : `numgen random mod ${n} vmap { ${eps.map((eh, i) => `${i} : goto affep-${eh}`).join(', ')} }`);
    b.ownChains.set(`aff-${h}`, { header: '', rules });
    return { chain: `aff-${h}`, own: true };
  }
  // One map per protocol: nft 1.0.x cannot add a rule that uses an existing typeof map whose data
  // is `th dport` after a protocol match, so the data names the protocol (`tcp dport`).
  const proto = checkProto(d.protocol);
  const name = `${map}-${proto}-${n}`;
  if (!b.sharedChains.has(name)) {
    b.sharedSets.set(name, `typeof ${a} daddr . meta l4proto . th dport . numgen random mod ${n} : ${a} daddr . ${proto} dport;`);
    b.sharedChains.set(name, {
      header: '',
      rules: [`meta l4proto ${proto} dnat to ${a} daddr . meta l4proto . th dport . numgen random mod ${n} map @${name}`],
    });
  }
  return { chain: name, own: false };
}

function addChain(b: Builder, name: string, own: boolean, rules: string[]): void {
  (own ? b.ownChains : b.sharedChains).set(name, { header: '', rules });
}

/** Everything one service port puts into its family's table. Throws on data it cannot express safely. */
export function contribution(d: DesiredService): Contribution {
  const f = d.family;
  if (f !== 4 && f !== 6) throw new Error(`bad family ${String(f)}`);
  const { a } = fam(f);
  const b: Builder = { sharedChains: new Map(), sharedSets: new Map(), ownChains: new Map(), ownSets: new Map(), elements: [], frontendKeys: [] };
  const el = (set: string, key: string, value = '') => b.elements.push({ set, key, value });
  const proto = checkProto(d.protocol);
  const m = d.masquerade;
  const cidrs = m.clusterCIDRs.map((c) => checkCIDR(c, f));
  for (const c of cidrs) el('cluster-cidrs', c);
  el('cluster-ips', checkIP(d.clusterIP, f));
  const hairpin = (bs: readonly Backend[]) => {
    for (const be of bs) {
      const ip = checkIP(be.ip, f);
      el('hairpin', `${ip} . ${ip}`);
    }
  };
  const picks = (fk: string, map: string, bs: readonly Backend[]) => {
    bs.forEach((be, i) => el(map, `${fk} . ${i}`, `${checkIP(be.ip, f)} . ${checkPort(be.port)}`));
  };
  // The "from a pod" test: the interface detector's (nft matches a prefix with a trailing *), else the CIDRs'.
  const iface = m.podInterface && `"${m.podInterface.name}${m.podInterface.prefix ? '*' : ''}"`;
  const pods = iface ? `iifname ${iface}` : cidrs.length > 0 ? `${a} saddr @cluster-cidrs` : null;
  const notPods = iface ? `iifname != ${iface}` : `${a} saddr != @cluster-cidrs`;
  const masqRule = m.clusterIP === 'all' ? ['jump mark-for-masquerade'] : m.clusterIP === 'offCluster' && pods ? [`${notPods} jump mark-for-masquerade`] : [];

  for (const fe of d.frontends) {
    const fk = frontendKey(fe, f, proto);
    b.frontendKeys.push(fk);
    if (d.rejectWhenNoEndpoints) {
      el('no-endpoint', fk, 'goto reject-chain');
      continue;
    }
    if (fe.kind === 'loadBalancer' && fe.sourceRanges && fe.sourceRanges.length > 0) {
      el('firewall-ips', fk);
      for (const r of fe.sourceRanges) el('firewall-allow', `${fk} . ${checkCIDR(r, f)}`);
    }
    if (fe.kind === 'clusterIP') {
      const set = d.internalBackends;
      if (set.backends.length === 0) {
        el('no-endpoint', fk, 'drop');
        continue;
      }
      const t = target(b, d, set.backends, d.internalPolicyLocal ? 'local' : 'cluster', 'pick');
      const name = `cip-${m.clusterIP}-${t.chain}`;
      addChain(b, name, t.own, [...masqRule, `goto ${t.chain}`]);
      if (!t.own) picks(fk, t.chain, set.backends);
      hairpin(set.backends);
      el('service-ips', fk, `goto ${name}`);
      continue;
    }
    // External frontends: nodePort, externalIP, loadBalancer.
    const ext = d.externalBackends;
    if (m.external === 'all') {
      if (ext.backends.length === 0) {
        el('no-endpoint', fk, 'drop');
        continue;
      }
      const t = target(b, d, ext.backends, 'cluster', 'pick');
      const name = `ext-${t.chain}`;
      addChain(b, name, t.own, ['jump mark-for-masquerade', `goto ${t.chain}`]);
      if (!t.own) picks(fk, t.chain, ext.backends);
      hairpin(ext.backends);
      el('service-ips', fk, `goto ${name}`);
      continue;
    }
    // eTP Local: pods and the node itself short-circuit to the cluster set; others get local endpoints only.
    const sc = d.shortCircuitBackends.backends;
    const rules: string[] = [];
    let scChain = '';
    let own = false;
    if (sc.length > 0) {
      const t = target(b, d, sc, 'cluster', 'pick');
      scChain = t.chain;
      own ||= t.own;
      if (!t.own) picks(fk, t.chain, sc);
      hairpin(sc);
      if (pods) rules.push(`${pods} goto ${t.chain}`);
      rules.push('fib saddr type local jump mark-for-masquerade', `fib saddr type local goto ${t.chain}`);
    }
    let localChain = 'none';
    if (ext.backends.length > 0) {
      const t = target(b, d, ext.backends, 'local', 'xpick');
      localChain = t.chain;
      own ||= t.own;
      if (!t.own) picks(fk, t.chain, ext.backends);
      hairpin(ext.backends);
      rules.push(`goto ${t.chain}`);
    } else {
      // Not DNATed here: endpoints-check drops it in the filter hooks.
      el('no-endpoint', fk, 'drop');
    }
    if (rules.length === 0) continue;
    const name = `loc-${scChain || 'none'}-${localChain}`;
    addChain(b, name, own, rules);
    el('service-ips', fk, `goto ${name}`);
  }
  return { family: f, ...b, source: d };
}

export function frontendKey(fe: Frontend, f: IPFamily, proto: string): string {
  return `${checkIP(fe.address, f)} . ${proto} . ${checkPort(fe.port)}`;
}

export const elementId = (e: Element): string => `${e.set}\t${e.key}`;

// ---------------------------------------------------------------- transaction text

export function tableRef(f: IPFamily): string {
  return `${nftFamily(f)} ${TABLE}`;
}

export function declareSet(f: IPFamily, name: string, decl: SetDecl): string {
  const kind = decl.includes(' : ') ? 'map' : 'set';
  return `add ${kind} ${tableRef(f)} ${name} { ${decl} }`;
}

export function declareChain(f: IPFamily, name: string, c: ChainDecl): string {
  return c.header ? `add chain ${tableRef(f)} ${name} { ${c.header} }` : `add chain ${tableRef(f)} ${name}`;
}

export function chainRules(f: IPFamily, name: string, c: ChainDecl): string[] {
  return c.rules.map((r) => `add rule ${tableRef(f)} ${name} ${r}`);
}

const CHUNK = 2000;

/** `add|delete element` lines, grouped per set and chunked so no line gets huge. */
export function elementLines(verb: 'add' | 'delete', f: IPFamily, els: Iterable<Element>): string[] {
  const bySet = new Map<string, string[]>();
  for (const e of els) {
    let l = bySet.get(e.set);
    if (!l) bySet.set(e.set, (l = []));
    l.push(verb === 'add' && e.value ? `${e.key} : ${e.value}` : e.key);
  }
  const out: string[] = [];
  for (const set of [...bySet.keys()].sort()) {
    const items = bySet.get(set)!;
    for (let i = 0; i < items.length; i += CHUNK) out.push(`${verb} element ${tableRef(f)} ${set} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  }
  return out;
}

// ---------------------------------------------------------------- whole-state model

/** The table of one family as we want it. */
export interface FamilyModel {
  chains: Map<string, ChainDecl>;
  sets: Map<string, SetDecl>;
  /** elementId → element, with the number of services that want it. */
  elements: Map<string, { el: Element; refs: number }>;
  /** Frontend key → the service port that programs it. */
  owners: Map<string, string>;
}

export interface StateModel {
  families: Record<IPFamily, FamilyModel>;
  contributions: Map<string, Contribution>;
  problems: string[];
}

export function emptyFamilyModel(f: IPFamily, opts: RulesetOptions, serviceCIDRs: readonly string[] = []): FamilyModel {
  const s = staticObjects(f, opts, serviceCIDRs);
  return { chains: s.chains, sets: s.sets, elements: new Map(), owners: new Map() };
}

/** Adds a contribution's elements to a model (reference-counted: several services share some). */
export function addElements(m: FamilyModel, c: Contribution, key: string): void {
  for (const fk of c.frontendKeys) m.owners.set(fk, key);
  for (const e of c.elements) {
    const id = elementId(e);
    const cur = m.elements.get(id);
    if (!cur) m.elements.set(id, { el: e, refs: 1 });
    else cur.refs++;
  }
}

export function buildModel(state: DesiredState, opts: RulesetOptions): StateModel {
  const cidrs = (f: IPFamily) => state.serviceCIDRs?.[f] ?? [];
  const families = { 4: emptyFamilyModel(4, opts, cidrs(4)), 6: emptyFamilyModel(6, opts, cidrs(6)) } as Record<IPFamily, FamilyModel>;
  const contributions = new Map<string, Contribution>();
  const problems: string[] = [];
  for (const [key, d] of state.services) {
    let c: Contribution;
    try {
      c = contribution(d);
    } catch (e) {
      problems.push(`${key}: left out: ${(e as Error).message}`);
      continue;
    }
    const m = families[c.family];
    c = dropConflicts(c, (fk) => m.owners.get(fk), problems, key);
    contributions.set(key, c);
    mergeObjects(m, c);
    addElements(m, c, key);
  }
  return { families, contributions, problems };
}

/**
 * Leaves out the frontends of `c` that another service port already programs (two Services
 * claiming one external IP and port): the first one in key order keeps it, as in a full sync.
 */
function dropConflicts(c: Contribution, owner: (fk: string) => string | undefined, problems: string[], key: string): Contribution {
  const taken = c.frontendKeys.filter((fk) => {
    const o = owner(fk);
    return o !== undefined && o !== key;
  });
  if (taken.length === 0) return c;
  const gone = new Set(taken);
  problems.push(`${key}: ${taken.join(', ')} already belongs to another service; left out`);
  const elements = c.elements.filter((e) => {
    if (e.set === 'service-ips' || e.set === 'no-endpoint' || e.set === 'firewall-ips') return !gone.has(e.key);
    if (e.set === 'firewall-allow' || /^x?pick-/.test(e.set)) return !taken.some((fk) => e.key.startsWith(`${fk} . `));
    return true;
  });
  return { ...c, elements, frontendKeys: c.frontendKeys.filter((fk) => !gone.has(fk)), source: undefined };
}

export function mergeObjects(m: FamilyModel, c: Contribution): void {
  for (const [n, d] of c.sharedChains) m.chains.set(n, d);
  for (const [n, d] of c.ownChains) m.chains.set(n, d);
  for (const [n, d] of c.sharedSets) m.sets.set(n, d);
  for (const [n, d] of c.ownSets) m.sets.set(n, d);
}

/** Names of the chains and sets of one of our tables, as the kernel has them. */
export interface KernelTable {
  chains: Set<string>;
  /** Sets and maps. */
  sets: Set<string>;
  /** The names in `sets` that are maps (nft wants `flush map`/`delete map` for those). */
  maps: Set<string>;
}

/**
 * The tables an `nft list chains` shows, as "family name" ("ip kube-proxy"): the cheap way to see
 * which tables exist (`nft list tables` fetches every set element first; Nft.ourTables).
 */
export function tablesOfChainListing(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^table (\S+) (\S+) \{$/.exec(line.trim());
    if (m) out.add(`${m[1]} ${m[2]}`);
  }
  return out;
}

/** Parses `nft -t list table …` output (our own names only: no quoting to undo). */
export function parseListing(text: string): KernelTable {
  const chains = new Set<string>();
  const sets = new Set<string>();
  const maps = new Set<string>();
  for (const line of text.split('\n')) {
    const mm = /^\s*(chain|set|map)\s+(\S+)\s*\{/.exec(line);
    if (!mm) continue;
    (mm[1] === 'chain' ? chains : sets).add(mm[2]!);
    if (mm[1] === 'map') maps.add(mm[2]!);
  }
  return { chains, sets, maps };
}

/**
 * The full-sync transaction for one family: makes the table exactly the model, whatever it held
 * (`kernel` is null when the table does not exist). Affinity sets that stay keep their entries.
 */
export function fullTransaction(f: IPFamily, m: FamilyModel, kernel: KernelTable | null): string[] {
  const out: string[] = [`add table ${tableRef(f)}`];
  const sets = [...m.sets.keys()].sort();
  const chains = [...m.chains.keys()].sort();
  for (const n of sets) if (!kernel?.sets.has(n)) out.push(declareSet(f, n, m.sets.get(n)!));
  for (const n of chains) out.push(declareChain(f, n, m.chains.get(n)!));
  if (kernel) {
    for (const n of [...kernel.chains].sort()) out.push(`flush chain ${tableRef(f)} ${n}`);
    const kind = (n: string) => (kernel.maps.has(n) ? 'map' : 'set');
    for (const n of [...kernel.sets].sort()) if (m.sets.has(n) && !isDynamicSet(n)) out.push(`flush ${kind(n)} ${tableRef(f)} ${n}`);
    // Elements of flushed maps no longer jump anywhere and chains are empty: now old objects can go.
    for (const n of [...kernel.chains].sort()) if (!m.chains.has(n)) out.push(`delete chain ${tableRef(f)} ${n}`);
    for (const n of [...kernel.sets].sort()) if (!m.sets.has(n)) out.push(`delete ${kind(n)} ${tableRef(f)} ${n}`);
    // A set we keep but whose declaration changed (e.g. an affinity timeout) is made new; such
    // sets carry the timeout in their name, so this only happens across versions.
  }
  for (const n of chains) out.push(...chainRules(f, n, m.chains.get(n)!));
  out.push(...elementLines('add', f, [...m.elements.values()].map((e) => e.el)));
  return out;
}

/** Text of a whole ruleset as a readable file (golden files, `nft -c`). */
export function renderFull(state: DesiredState, opts: RulesetOptions): string {
  const model = buildModel(state, opts);
  const lines: string[] = [];
  for (const f of FAMILIES) lines.push(...fullTransaction(f, model.families[f], null));
  if (model.problems.length) lines.unshift(...model.problems.map((p) => `# ${p.replace(/[^\x20-\x7e]/g, '?')}`));
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- applied state and syncs

export interface Transaction {
  /** The `nft -f -` input. */
  readonly text: string;
  /** Records the transaction as applied; call only after nft succeeded. */
  commit(): void;
  readonly problems: readonly string[];
  readonly stats: { elementsAdded: number; elementsDeleted: number; chainsWritten: number };
}

const serviceCIDRsKey = (state: DesiredState): string => JSON.stringify([state.serviceCIDRs?.[4] ?? [], state.serviceCIDRs?.[6] ?? []]);

/** What we last put into the kernel, and the transactions that move it to a new state. */
export class RulesetState {
  private families: Record<IPFamily, FamilyModel>;
  private contributions = new Map<string, Contribution>();
  private synced = false;
  private cidrs = serviceCIDRsKey({ services: new Map() });

  constructor(private readonly opts: RulesetOptions) {
    this.families = { 4: emptyFamilyModel(4, opts), 6: emptyFamilyModel(6, opts) } as Record<IPFamily, FamilyModel>;
  }

  /** Every service port whose rules were written and not since removed. */
  programmedKeys(): Iterable<string> {
    return this.contributions.keys();
  }

  /** Whether the tables hold other ServiceCIDRs than `state` has: only a full sync rewrites them. */
  serviceCIDRsDiffer(state: DesiredState): boolean {
    return serviceCIDRsKey(state) !== this.cidrs;
  }

  /** False until a full sync succeeded: partial syncs need to know what the kernel holds. */
  get hasSynced(): boolean {
    return this.synced;
  }

  /** Rewrites both tables from `state`; `kernel` is what a listing found (null: no table). */
  full(state: DesiredState, kernel: Record<IPFamily, KernelTable | null>): Transaction {
    const model = buildModel(state, this.opts);
    const lines: string[] = [];
    let chainsWritten = 0;
    let elementsAdded = 0;
    for (const f of FAMILIES) {
      lines.push(...fullTransaction(f, model.families[f], kernel[f]));
      chainsWritten += model.families[f].chains.size;
      elementsAdded += model.families[f].elements.size;
    }
    return {
      text: `${lines.join('\n')}\n`,
      problems: model.problems,
      stats: { elementsAdded, elementsDeleted: 0, chainsWritten },
      commit: () => {
        this.families = model.families;
        this.contributions = model.contributions;
        this.synced = true;
        this.cidrs = serviceCIDRsKey(state);
      },
    };
  }

  /** Only the changed service ports: their elements, their own chains, shared objects they need first. */
  partial(state: DesiredState, changed: Iterable<string>): Transaction {
    const problems: string[] = [];
    type Pending = { el: Element | null; refs: number };
    const pend = { 4: new Map<string, Pending>(), 6: new Map<string, Pending>() } as Record<IPFamily, Map<string, Pending>>;
    const view = (f: IPFamily, id: string): Pending => {
      let p = pend[f].get(id);
      if (!p) {
        const cur = this.families[f].elements.get(id);
        p = cur ? { el: cur.el, refs: cur.refs } : { el: null, refs: 0 };
        pend[f].set(id, p);
      }
      return p;
    };
    const unchanged = (k: string) => {
      const src = this.contributions.get(k)?.source;
      return src !== undefined && src === state.services.get(k);
    };
    const keys = [...new Set(changed)].filter((k) => !unchanged(k)).sort();
    const olds = new Map<string, Contribution | undefined>();
    const news = new Map<string, Contribution | undefined>();
    const owners = { 4: new Map<string, string | undefined>(), 6: new Map<string, string | undefined>() } as Record<IPFamily, Map<string, string | undefined>>;
    const ownerOf = (f: IPFamily, fk: string) => (owners[f].has(fk) ? owners[f].get(fk) : this.families[f].owners.get(fk));
    // Removals first, so that services swapping a frontend do not conflict.
    for (const k of keys) {
      const old = this.contributions.get(k);
      olds.set(k, old);
      if (!old) continue;
      for (const e of old.elements) view(old.family, elementId(e)).refs--;
      for (const fk of old.frontendKeys) owners[old.family].set(fk, undefined);
    }
    for (const k of keys) {
      const d = state.services.get(k);
      if (!d) {
        news.set(k, undefined);
        continue;
      }
      let c: Contribution | undefined;
      try {
        c = contribution(d);
      } catch (e) {
        problems.push(`${k}: left out: ${(e as Error).message}`);
        news.set(k, undefined);
        continue;
      }
      const fam = c.family;
      c = dropConflicts(c, (fk) => ownerOf(fam, fk), problems, k);
      for (const fk of c.frontendKeys) owners[fam].set(fk, k);
      for (const e of c.elements) {
        const p = view(fam, elementId(e));
        if (p.refs <= 0) {
          p.el = e;
          p.refs = 1;
        } else p.refs++;
      }
      news.set(k, c);
    }

    const lines: Record<'del' | 'flush' | 'drop' | 'decl' | 'rules' | 'add', string[]> = { del: [], flush: [], drop: [], decl: [], rules: [], add: [] };
    const objects: Array<() => void> = [];
    let elementsAdded = 0;
    let elementsDeleted = 0;
    let chainsWritten = 0;
    for (const f of FAMILIES) {
      const m = this.families[f];
      const dels: Element[] = [];
      const adds: Element[] = [];
      for (const [id, p] of pend[f]) {
        const orig = m.elements.get(id);
        const keep = p.refs > 0 && p.el !== null;
        if (orig && (!keep || p.el!.value !== orig.el.value)) dels.push(orig.el);
        if (keep && (!orig || p.el!.value !== orig.el.value)) adds.push(p.el!);
      }
      elementsAdded += adds.length;
      elementsDeleted += dels.length;
      lines.del.push(...elementLines('delete', f, dels));
      lines.add.push(...elementLines('add', f, adds));

      const newShared = { chains: new Map<string, ChainDecl>(), sets: new Map<string, SetDecl>() };
      const ownNow = { chains: new Map<string, ChainDecl>(), sets: new Map<string, SetDecl>() };
      const ownGone = { chains: new Set<string>(), sets: new Set<string>() };
      for (const k of keys) {
        const o = olds.get(k);
        const n = news.get(k);
        if (o?.family === f) {
          for (const name of o.ownChains.keys()) ownGone.chains.add(name);
          for (const name of o.ownSets.keys()) ownGone.sets.add(name);
        }
        if (n?.family === f) {
          for (const [name, c] of n.sharedChains) if (!m.chains.has(name)) newShared.chains.set(name, c);
          for (const [name, s] of n.sharedSets) if (!m.sets.has(name)) newShared.sets.set(name, s);
          for (const [name, c] of n.ownChains) ownNow.chains.set(name, c);
          for (const [name, s] of n.ownSets) ownNow.sets.set(name, s);
        }
      }
      const t = tableRef(f);
      for (const name of [...ownGone.chains].sort()) {
        const now = ownNow.chains.get(name);
        const was = m.chains.get(name);
        if (now && was && sameChain(now, was)) continue;
        if (was) lines.flush.push(`flush chain ${t} ${name}`);
        if (!now && was) lines.drop.push(`delete chain ${t} ${name}`);
      }
      for (const name of [...ownGone.sets].sort()) if (!ownNow.sets.has(name) && m.sets.has(name)) lines.drop.push(`delete set ${t} ${name}`);
      for (const [name, s] of [...newShared.sets].sort()) lines.decl.push(declareSet(f, name, s));
      for (const [name, s] of [...ownNow.sets].sort()) if (!m.sets.has(name)) lines.decl.push(declareSet(f, name, s));
      const write = new Map<string, ChainDecl>(newShared.chains);
      for (const [name, c] of ownNow.chains) {
        const was = m.chains.get(name);
        if (!was || !sameChain(was, c)) write.set(name, c);
      }
      for (const [name, c] of [...write].sort()) {
        if (!m.chains.has(name)) lines.decl.push(declareChain(f, name, c));
        lines.rules.push(...chainRules(f, name, c));
      }
      chainsWritten += write.size;
      objects.push(() => {
        for (const name of ownGone.chains) if (!ownNow.chains.has(name)) m.chains.delete(name);
        for (const name of ownGone.sets) if (!ownNow.sets.has(name)) m.sets.delete(name);
        for (const [name, c] of write) m.chains.set(name, c);
        for (const [name, s] of newShared.sets) m.sets.set(name, s);
        for (const [name, s] of ownNow.sets) m.sets.set(name, s);
        for (const [id, p] of pend[f]) {
          if (p.refs > 0 && p.el !== null) m.elements.set(id, { el: p.el, refs: p.refs });
          else m.elements.delete(id);
        }
        for (const [fk, o] of owners[f]) {
          if (o === undefined) m.owners.delete(fk);
          else m.owners.set(fk, o);
        }
      });
    }
    const all = [...lines.del, ...lines.flush, ...lines.drop, ...lines.decl, ...lines.rules, ...lines.add];
    return {
      text: all.length ? `${all.join('\n')}\n` : '',
      problems,
      stats: { elementsAdded, elementsDeleted, chainsWritten },
      commit: () => {
        for (const o of objects) o();
        for (const k of keys) {
          const n = news.get(k);
          if (n) this.contributions.set(k, n);
          else this.contributions.delete(k);
        }
      },
    };
  }
}

function sameChain(a: ChainDecl, b: ChainDecl): boolean {
  return a.header === b.header && a.rules.length === b.rules.length && a.rules.every((r, i) => r === b.rules[i]);
}
