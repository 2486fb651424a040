// Desired state → what the kernel should hold in ipvs mode: virtual servers, the addresses on
// ekp-ipvs0, and the contents of every ipset. Pure; the diffing against the kernel is elsewhere.
//
// One virtual server per frontend address:port/protocol, as kube-proxy's ipvs proxier does:
//   ClusterIP            → real servers = internalBackends (the local set for iTP Local)
//   NodePort, external   → real servers = externalBackends (the local set for eTP Local; the
//   IP, load balancer      cluster set when this node has no local endpoint, see backendsFor)
// IPVS has one real-server list per virtual server, so the model's shortCircuitBackends (pods and
// the node reaching an eTP Local frontend get the cluster set) cannot be expressed while the node
// has a local endpoint: they get the local set like everyone else, exactly as with kube-proxy's
// ipvs mode.
import type { DesiredService, DesiredState, Frontend, IPFamily, PodInterface, Protocol } from '../../model/index.js';
import { parseCIDR } from '../../model/index.js';
import { SET_KIND_LIST, setName, type SetKind } from './names.js';

export interface RealServer {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
}

export interface VirtualServer {
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  readonly family: IPFamily;
  readonly scheduler: string;
  /** Seconds of ClientIP persistence (`-p`); 0 = none. */
  readonly persistence: number;
  /** Sorted by address then port. */
  readonly reals: readonly RealServer[];
}

export interface FamilyMasquerade {
  readonly clusterIP: 'all' | 'offCluster' | 'none';
  readonly clusterCIDRs: readonly string[];
  /** The interface detector's pod interface: instead of clusterCIDRs when set. */
  readonly podInterface?: PodInterface | null;
}

export interface IpvsPlan {
  /** Keyed by vsKey(). */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  /** Addresses to hold on ekp-ipvs0. */
  readonly vips: ReadonlySet<string>;
  /** Every set of ours (both families), with the entries it should hold. */
  readonly sets: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per family, for the constant iptables rules; absent when no service of the family exists. */
  readonly masquerade: { readonly 4?: FamilyMasquerade; readonly 6?: FamilyMasquerade };
  /** Frontends left out, with why (a second service on the same address:port…). */
  readonly skipped: readonly string[];
}

export interface PlanOptions {
  scheduler: string;
  /** Addresses local on the node's own devices (not ekp-ipvs0): never refused as a bare VIP. */
  localAddresses?: ReadonlySet<string>;
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "TCP/10.96.0.10:80", "UDP/[fd00::a]:53". */
export function vsKey(protocol: Protocol, address: string, port: number): string {
  return `${protocol}/${hostPort(address, port)}`;
}

export function realKey(address: string, port: number): string {
  return hostPort(address, port);
}

/** ipset's spelling of an ip,proto:port element. */
export function ipPortEntry(address: string, protocol: Protocol, port: number): string {
  return `${address},${protocol.toLowerCase()}:${port}`;
}

/**
 * A source range as hash:ip,port,net stores it: network address, no /32 (/128) suffix, and /0
 * (which ipset refuses) split into two halves.
 */
export function netEntries(cidr: string): string[] {
  const r = parseCIDR(cidr);
  if (!r.ok) return [];
  const { family, prefix, text } = r.cidr;
  if (prefix === 0) return family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
  if (prefix === (family === 4 ? 32 : 128)) return [text.slice(0, text.indexOf('/'))];
  return [text];
}

function backendsFor(s: DesiredService, f: Frontend) {
  if (f.kind === 'clusterIP') return s.internalBackends;
  // kube-proxy's ipvs syncEndpoint (kubernetes#97081, v1.21+): an eTP Local frontend with no local
  // endpoint gets the cluster's, so this node's pods (and the node) still reach it. Nothing drops
  // an external client: its address is kept (the -LOCAL sets), so the remote backend answers it
  // directly and the connection never completes.
  if (s.externalBackends.backends.length === 0 && s.shortCircuitBackends.backends.length > 0) return s.shortCircuitBackends;
  return s.externalBackends;
}

export function buildPlan(state: DesiredState, opts: PlanOptions): IpvsPlan {
  const virtualServers = new Map<string, VirtualServer>();
  const vips = new Set<string>();
  const sets = new Map<string, Set<string>>();
  for (const family of [4, 6] as const) for (const k of SET_KIND_LIST) sets.set(setName(k, family), new Set());
  const add = (kind: SetKind, family: IPFamily, entry: string) => sets.get(setName(kind, family))!.add(entry);
  const masquerade: { 4?: FamilyMasquerade; 6?: FamilyMasquerade } = {};
  const skipped: string[] = [];

  // VIPs first. A NodePort frontend on a ClusterIP is an artefact of a node address list that
  // took in ekp-ipvs0 (every VIP would otherwise become a NodePort address); an ExternalIP or
  // LB IP may well be a node address (k3s' ServiceLB, bare metal), and keeps its NodePorts.
  const clusterIPs = new Set<string>();
  for (const s of state.services.values()) {
    for (const f of s.frontends) {
      if (f.kind !== 'nodePort') vips.add(f.address);
      if (f.kind === 'clusterIP') clusterIPs.add(f.address);
    }
  }

  for (const s of state.services.values()) {
    masquerade[s.family] ??= { clusterIP: s.masquerade.clusterIP, clusterCIDRs: s.masquerade.clusterCIDRs, podInterface: s.masquerade.podInterface };
    const local = s.externalPolicyLocal;
    for (const f of s.frontends) {
      if (f.kind === 'nodePort' && clusterIPs.has(f.address)) continue;
      const key = vsKey(f.protocol, f.address, f.port);
      if (virtualServers.has(key)) {
        skipped.push(`${s.key}: ${f.kind} ${key} is already programmed for another service`);
        continue;
      }
      const set = backendsFor(s, f);
      const reals = new Map<string, RealServer>();
      for (const b of set.backends) reals.set(realKey(b.ip, b.port), { address: b.ip, port: b.port, weight: 1 });
      virtualServers.set(key, {
        protocol: f.protocol,
        address: f.address,
        port: f.port,
        family: f.family,
        scheduler: opts.scheduler,
        persistence: s.affinity.type === 'ClientIP' ? s.affinity.timeoutSeconds : 0,
        reals: [...reals.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port)),
      });
      const entry = ipPortEntry(f.address, f.protocol, f.port);
      switch (f.kind) {
        case 'clusterIP':
          add('clusterIP', f.family, entry);
          break;
        case 'nodePort':
          add(local ? 'nodePortLocal' : 'nodePort', f.family, entry);
          break;
        case 'externalIP':
          add(local ? 'externalIPLocal' : 'externalIP', f.family, entry);
          break;
        case 'loadBalancer':
          add(local ? 'loadBalancerLocal' : 'loadBalancer', f.family, entry);
          if (f.sourceRanges?.length) {
            add('loadBalancerFW', f.family, entry);
            for (const c of f.sourceRanges) for (const n of netEntries(c)) add('loadBalancerSourceCIDR', f.family, `${entry},${n}`);
          }
          break;
      }
      if (set.backends.length === 0) add(set.dropWhenEmpty ? 'drop' : 'reject', f.family, entry);
      for (const r of reals.values()) add('loopBack', f.family, `${r.address},${f.protocol.toLowerCase()}:${r.port},${r.address}`);
    }
    if (s.healthCheckNodePort && local) add('healthCheckNodePort', s.family, String(s.healthCheckNodePort));
  }
  for (const v of vips) if (!opts.localAddresses?.has(v)) add('vipAddress', v.includes(':') ? 6 : 4, v);
  return { virtualServers, vips, sets, masquerade, skipped };
}
