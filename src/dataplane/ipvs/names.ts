// Names of everything the ipvs mode creates. kube-proxy's ipvs mode uses kube-ipvs0 and KUBE-*
// sets and chains; ours carry an ekp/EKP prefix so the two never touch each other's state, and a
// user who knows `ipset list KUBE-CLUSTER-IP` finds the same thing under EKP-CLUSTER-IP.
import type { IPFamily } from '../../model/index.js';

/** The dummy interface that holds every ClusterIP, external IP and load-balancer IP (kube-ipvs0). */
export const IPVS_DEVICE = 'ekp-ipvs0';

/** A comment on the jumps we add to built-in chains; no spaces, so save output needs no unquoting. */
export const RULE_COMMENT = 'ebpf-kube-proxy-ipvs';

/** The ipsets of one family (kube-proxy pkg/proxy/ipvs/ipset.go, with our prefix). */
export const SET_KINDS = {
  /** ClusterIP frontends: ip,proto:port. */
  clusterIP: 'CLUSTER-IP',
  /** External IPs of eTP=Cluster services (masqueraded). */
  externalIP: 'EXTERNAL-IP',
  /** External IPs of eTP=Local services (client address kept). */
  externalIPLocal: 'EXTERNAL-IP-LOCAL',
  loadBalancer: 'LOAD-BALANCER',
  loadBalancerLocal: 'LOAD-BALANCER-LOCAL',
  /** Load-balancer frontends with loadBalancerSourceRanges. */
  loadBalancerFW: 'LOAD-BALANCER-FW',
  /** ip,proto:port,cidr: sources admitted to a firewalled load-balancer frontend. */
  loadBalancerSourceCIDR: 'LOAD-BALANCER-SOURCE-CIDR',
  /**
   * NodePort frontends: ip,proto:port per node address (kube-proxy keys KUBE-NODE-PORT-TCP by port
   * alone; our nodePortAddresses are resolved per address already). Also our record of which
   * virtual servers on node addresses are ours.
   */
  nodePort: 'NODE-PORT',
  nodePortLocal: 'NODE-PORT-LOCAL',
  /** ep,proto:port,ep: a backend reaching itself through a service (hairpin), masqueraded. */
  loopBack: 'LOOP-BACK',
  /** Frontends with no endpoint anywhere: REJECT (ICMP port unreachable). */
  reject: 'REJECT',
  /**
   * Frontends whose policy-local set is empty while other nodes have endpoints, and which have no
   * other set to fall back on (iTP Local ClusterIPs; see plan.ts): DROP.
   */
  drop: 'DROP',
  /**
   * healthCheckNodePorts of eTP Local load balancers, ports alone (bitmap:port, as
   * KUBE-HEALTH-CHECK-NODE-PORT): the health check server answers on every address, the LB IP
   * included, which a cloud load balancer probes.
   */
  healthCheckNodePort: 'HEALTH-CHECK-NODE-PORT',
  /**
   * Addresses local only through ekp-ipvs0 (KUBE-IPVS-IPS): a new connection to one that is no
   * frontend is refused, so the node's own daemons (sshd, the kubelet) do not answer on VIPs.
   */
  vipAddress: 'IPVS-IPS',
} as const;

export type SetKind = keyof typeof SET_KINDS;

export type SetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export const SET_TYPE: Readonly<Record<SetKind, SetType>> = {
  clusterIP: 'hash:ip,port',
  externalIP: 'hash:ip,port',
  externalIPLocal: 'hash:ip,port',
  loadBalancer: 'hash:ip,port',
  loadBalancerLocal: 'hash:ip,port',
  loadBalancerFW: 'hash:ip,port',
  loadBalancerSourceCIDR: 'hash:ip,port,net',
  nodePort: 'hash:ip,port',
  nodePortLocal: 'hash:ip,port',
  loopBack: 'hash:ip,port,ip',
  reject: 'hash:ip,port',
  drop: 'hash:ip,port',
  healthCheckNodePort: 'bitmap:port',
  vipAddress: 'hash:ip',
};

export const SET_KIND_LIST = Object.keys(SET_KINDS) as SetKind[];

/** EKP-… for IPv4, EKP6-… for IPv6 (ipset names are at most 31 characters). */
export function setName(kind: SetKind, family: IPFamily): string {
  return `${family === 4 ? 'EKP-' : 'EKP6-'}${SET_KINDS[kind]}`;
}

/** One of our sets, by name (either family). */
export function isOurSet(name: string): boolean {
  return /^EKP6?-[A-Z-]+$/.test(name) && SET_KIND_LIST.some((k) => name === setName(k, 4) || name === setName(k, 6));
}

export const CHAINS = {
  nat: { services: 'EKP-SERVICES', postrouting: 'EKP-POSTROUTING', markMasq: 'EKP-MARK-MASQ', offCluster: 'EKP-MASQ-OFF-CLUSTER' },
  filter: { firewall: 'EKP-FIREWALL', forward: 'EKP-FORWARD', healthCheck: 'EKP-HEALTH-CHECK' },
  mangle: { outFirewall: 'EKP-OUT-FIREWALL' },
} as const;

export const OUR_CHAINS: readonly string[] = [...Object.values(CHAINS.nat), ...Object.values(CHAINS.filter), ...Object.values(CHAINS.mangle)];
