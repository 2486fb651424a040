// The constant iptables rules of ipvs mode (kube-proxy's ipvs proxier keeps its rule count
// independent of the number of services by matching ipsets). Pure: `iptables-restore --noflush`
// input for one family, and the jumps from built-in chains read back from `iptables-save`.
//
// nat PREROUTING, OUTPUT → EKP-SERVICES: marks for masquerade what needs it
//   ClusterIP          'all': every source; 'offCluster': sources outside the clusterCIDRs (or
//                      not from the pod interface, with an interface detector)
//   NodePort, external, eTP Cluster: every source; eTP Local: only this node's own (src-type LOCAL)
//   load balancer
// nat POSTROUTING → EKP-POSTROUTING: MASQUERADE hairpin (EKP-LOOP-BACK) and marked connections
// filter INPUT (new connections) → EKP-FIREWALL: load-balancer source ranges (DROP), frontends
//   with no endpoints (REJECT) or no local endpoints under a Local policy (DROP), and anything to
//   a VIP that is no frontend or health check node port (REJECT, KUBE-IPVS-FILTER). IPVS takes
//   packets at LOCAL_IN after the filter table, so these see the frontend address.
// filter INPUT → EKP-HEALTH-CHECK: health check node ports ACCEPTed (filter KUBE-NODE-PORT).
// filter FORWARD → EKP-FORWARD: marked connections and established ones pass (KUBE-FORWARD).
// mangle OUTPUT (new connections) → EKP-OUT-FIREWALL: the source ranges for this node's own
//   connections, which IPVS takes at LOCAL_OUT and sends on without a pass through INPUT
//   (kube-proxy's KUBE-IPVS-OUT-FILTER). mangle runs before IPVS there, so the destination is
//   still the frontend and the sets apply as they do in INPUT.
import type { FamilyMasquerade } from './plan.js';
import { interfaceArg } from '../iptables/names.js';
import { CHAINS, OUR_CHAINS, RULE_COMMENT, setName } from './names.js';

export interface RulesOptions {
  family: 4 | 6;
  masqueradeBit: number;
  /** Absent when the family has no services: ClusterIP masquerading then has nothing to match. */
  masquerade?: FamilyMasquerade;
  /** As iptables mode's (RenderInput.dropInvalid): false when conntrack is liberal. Default true. */
  dropInvalid?: boolean;
}

export type Table = 'nat' | 'filter' | 'mangle';
const TABLES: readonly string[] = ['nat', 'filter', 'mangle'] satisfies Table[];

export interface Jump {
  table: Table;
  chain: string;
  /** Everything after `-A <chain>`. */
  spec: string;
}

export const JUMPS: readonly Jump[] = [
  { table: 'nat', chain: 'PREROUTING', spec: `-m comment --comment ${RULE_COMMENT} -j ${CHAINS.nat.services}` },
  { table: 'nat', chain: 'OUTPUT', spec: `-m comment --comment ${RULE_COMMENT} -j ${CHAINS.nat.services}` },
  { table: 'nat', chain: 'POSTROUTING', spec: `-m comment --comment ${RULE_COMMENT} -j ${CHAINS.nat.postrouting}` },
  { table: 'filter', chain: 'INPUT', spec: `-m conntrack --ctstate NEW -m comment --comment ${RULE_COMMENT} -j ${CHAINS.filter.firewall}` },
  { table: 'filter', chain: 'INPUT', spec: `-m comment --comment ${RULE_COMMENT} -j ${CHAINS.filter.healthCheck}` },
  { table: 'filter', chain: 'FORWARD', spec: `-m comment --comment ${RULE_COMMENT} -j ${CHAINS.filter.forward}` },
  { table: 'mangle', chain: 'OUTPUT', spec: `-m conntrack --ctstate NEW -m comment --comment ${RULE_COMMENT} -j ${CHAINS.mangle.outFirewall}` },
];

/** Which of JUMPS the `iptables-save` output lacks (a jump is known by its chain, target and comment). */
export function missingJumps(save: string): Jump[] {
  const present = new Set<string>();
  let table = '';
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m || !m[2]!.includes(RULE_COMMENT)) continue;
    const target = /(?:^|\s)-j (\S+)/.exec(m[2]!)?.[1];
    if (target) present.add(`${table} ${m[1]} ${target}`);
  }
  return JUMPS.filter((j) => !present.has(`${j.table} ${j.chain} ${/-j (\S+)$/.exec(j.spec)![1]}`));
}

/** `-A` lines of built-in (or anyone else's) chains that jump to one of ours, for --cleanup: [table, chain, spec]. */
export function jumpsToOurs(save: string): Jump[] {
  const out: Jump[] = [];
  let table: string | null = null;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m || !table || !TABLES.includes(table)) continue;
    if (OUR_CHAINS.includes(m[1]!)) continue;
    const target = /(?:^|\s)-[jg] (\S+)/.exec(m[2]!)?.[1];
    if (target && OUR_CHAINS.includes(target)) out.push({ table: table as Table, chain: m[1]!, spec: m[2]! });
  }
  return out;
}

/** Our chains present in an `iptables-save` output, per table. */
export function chainsPresent(save: string): { table: Table; chain: string }[] {
  const out: { table: Table; chain: string }[] = [];
  let table: string | null = null;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^:(\S+) /.exec(line);
    if (m && table && TABLES.includes(table) && OUR_CHAINS.includes(m[1]!)) out.push({ table: table as Table, chain: m[1]! });
  }
  return out;
}

const jumpLinesOf = (jumps: readonly Jump[], table: Table) => jumps.filter((j) => j.table === table).map((j) => `-I ${j.chain} 1 ${j.spec}`);

/** `iptables-restore --noflush` input: our chains whole (declaring a chain flushes it), plus missing jumps. */
export function rulesRestore(opts: RulesOptions, jumps: readonly Jump[]): string {
  const set = (k: Parameters<typeof setName>[0]) => setName(k, opts.family);
  const mark = `0x${(1 << opts.masqueradeBit).toString(16)}`;
  const { services, postrouting, markMasq, offCluster } = CHAINS.nat;
  const nat: string[] = [
    `-A ${markMasq} -j MARK --or-mark ${mark}`,
    `-A ${postrouting} -m set --match-set ${set('loopBack')} dst,dst,src -j MASQUERADE`,
    `-A ${postrouting} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A ${postrouting} -j MARK --xor-mark ${mark}`,
    `-A ${postrouting} -j MASQUERADE --random-fully`,
  ];
  const m = opts.masquerade;
  if (m?.clusterIP === 'all') {
    nat.push(`-A ${services} -m set --match-set ${set('clusterIP')} dst,dst -j ${markMasq}`);
  } else if (m?.clusterIP === 'offCluster') {
    nat.push(`-A ${services} -m set --match-set ${set('clusterIP')} dst,dst -j ${offCluster}`);
    if (m.podInterface) nat.push(`-A ${offCluster} -i ${interfaceArg(m.podInterface)} -j RETURN`);
    else for (const c of m.clusterCIDRs) nat.push(`-A ${offCluster} -s ${c} -j RETURN`);
    nat.push(`-A ${offCluster} -j ${markMasq}`);
  } else if (m) {
    // No cluster CIDR known: the node's own connections to a VIP leave with that VIP (local on
    // ekp-ipvs0) as their source, which a remote backend's node also holds: masquerade those
    // (kube-proxy's fallback without a local-traffic detector).
    nat.push(`-A ${services} -m set --match-set ${set('clusterIP')} src,dst -j ${markMasq}`);
  }
  for (const k of ['nodePort', 'externalIP', 'loadBalancer'] as const) {
    nat.push(`-A ${services} -m set --match-set ${set(k)} dst,dst -j ${markMasq}`);
  }
  for (const k of ['nodePortLocal', 'externalIPLocal', 'loadBalancerLocal'] as const) {
    nat.push(`-A ${services} -m set --match-set ${set(k)} dst,dst -m addrtype --src-type LOCAL -j ${markMasq}`);
  }
  const { firewall: fw, forward, healthCheck } = CHAINS.filter;
  const filter: string[] = [
    `-A ${fw} -m set --match-set ${set('loadBalancerFW')} dst,dst -m set ! --match-set ${set('loadBalancerSourceCIDR')} dst,dst,src -j DROP`,
    `-A ${fw} -m set --match-set ${set('drop')} dst,dst -j DROP`,
    `-A ${fw} -m set --match-set ${set('reject')} dst,dst -j REJECT`,
    // KUBE-IPVS-FILTER: a VIP is a local address, so any daemon listening on 0.0.0.0 would
    // answer on it. Frontends go on to IPVS; anything else to a VIP is refused (pings answered).
    ...(['clusterIP', 'externalIP', 'externalIPLocal', 'loadBalancer', 'loadBalancerLocal', 'nodePort', 'nodePortLocal'] as const)
      .map((k) => `-A ${fw} -m set --match-set ${set(k)} dst,dst -j RETURN`),
    // A load balancer may probe the LB IP itself, held here on ekp-ipvs0, at the healthCheckNodePort
    // (kubernetes#117621). TCP only: the set holds ports alone, and only the health check server
    // (TCP) is meant to be reached there.
    `-A ${fw} -p tcp -m set --match-set ${set('healthCheckNodePort')} dst -j RETURN`,
    `-A ${fw} ! -p ${opts.family === 4 ? 'icmp' : 'ipv6-icmp'} -m set --match-set ${set('vipAddress')} dst -j REJECT`,
    // kube-proxy's filter KUBE-NODE-PORT: health checks are answered on a node whose INPUT policy
    // (or a rule after ours) would drop them. Every packet, not just new connections.
    `-A ${healthCheck} -p tcp -m set --match-set ${set('healthCheckNodePort')} dst -j ACCEPT`,
    // KUBE-FORWARD: where FORWARD's policy is DROP (Docker sets it), what IPVS forwards for a
    // marked connection, and its replies, still pass.
    ...(opts.dropInvalid === false ? [] : [`-A ${forward} -m conntrack --ctstate INVALID -j DROP`]),
    `-A ${forward} -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${forward} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
  return [
    '*nat',
    ...Object.values(CHAINS.nat).map((c) => `:${c} - [0:0]`),
    ...nat,
    ...jumpLinesOf(jumps, 'nat'),
    'COMMIT',
    '*filter',
    `:${fw} - [0:0]`,
    `:${forward} - [0:0]`,
    `:${healthCheck} - [0:0]`,
    ...filter,
    ...jumpLinesOf(jumps, 'filter'),
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * `iptables-restore --noflush` input for the mangle table, apart from the rest: a kernel without
 * it (the legacy backend without iptable_mangle) must not fail the nat and filter rules.
 */
export function outFirewallRestore(family: 4 | 6, jumps: readonly Jump[]): string {
  const set = (k: Parameters<typeof setName>[0]) => setName(k, family);
  const { outFirewall } = CHAINS.mangle;
  return [
    '*mangle',
    `:${outFirewall} - [0:0]`,
    `-A ${outFirewall} -m set --match-set ${set('loadBalancerFW')} dst,dst -m set ! --match-set ${set('loadBalancerSourceCIDR')} dst,dst,src -j DROP`,
    ...jumpLinesOf(jumps, 'mangle'),
    'COMMIT',
    '',
  ].join('\n');
}

/** `iptables-restore --noflush` input that removes jumps to our chains and then the chains. */
export function cleanupRestore(save: string): string | null {
  const jumps = jumpsToOurs(save);
  const chains = chainsPresent(save);
  if (!jumps.length && !chains.length) return null;
  const out: string[] = [];
  for (const table of TABLES) {
    const mine = chains.filter((c) => c.table === table);
    const js = jumps.filter((j) => j.table === table);
    if (!mine.length && !js.length) continue;
    out.push(`*${table}`);
    // Declaring flushes, so the chains can then be deleted whatever they jump to.
    for (const c of mine) out.push(`:${c.chain} - [0:0]`);
    for (const j of js) out.push(`-D ${j.chain} ${j.spec}`);
    for (const c of mine) out.push(`-X ${c.chain}`);
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}
