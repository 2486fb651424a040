// Chain names as kube-proxy's iptables proxier makes them (pkg/proxy/iptables/proxier.go), and
// which chains are ours: what a partial sync may skip, what a full sync and --cleanup may delete.
import { createHash } from 'node:crypto';

export type Table = 'filter' | 'nat';

/** `-i` argument for a pod interface detector: iptables matches a prefix with a trailing `+`. */
export const interfaceArg = (i: { name: string; prefix: boolean }): string => `${i.name}${i.prefix ? '+' : ''}`;

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
/**
 * kube-proxy's kubeletFirewallChain, which older kubelets wrote the same rule into: it holds the
 * drop that makes route_localnet safe (localhost NodePorts). Written, never deleted: --cleanup
 * leaves it, as it leaves route_localnet on, since a kubelet may own the same chain.
 */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';
/**
 * Not kube-proxy's: with more than one clusterCIDR of a family, "! -s A,B" is not expressible
 * (iptables refuses a negated address list), so the off-cluster test RETURNs for each CIDR here.
 */
export const KUBE_MASQ_OFF_CLUSTER = 'KUBE-MASQ-OFF-CLUSTER';

/** Chains every sync writes whole, in the order the restore input declares them. */
export const TOP_LEVEL: Readonly<Record<Table, readonly string[]>> = {
  filter: [KUBE_NODEPORTS, KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_PROXY_FIREWALL],
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
};

/**
 * kube-proxy's canary: an empty chain in mangle, nat and filter. Whoever flushes the tables
 * deletes it too, and its absence is what makes a periodic sync full again.
 */
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';

/** Not kube-proxy's: a scratch chain for a moment at start, to see whether a rule may use the nfacct match. */
export const KUBE_NFACCT_PROBE = 'KUBE-NFACCT-PROBE';

/** Every fixed-name chain of ours, for --cleanup. */
export const FIXED_CHAINS: readonly string[] = [
  KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_FORWARD, KUBE_PROXY_FIREWALL,
  KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_MASQ_OFF_CLUSTER, KUBE_PROXY_CANARY, KUBE_NFACCT_PROBE,
];

const SERVICE_CHAIN = /^KUBE-(SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16}$/;

/** A per-service or per-endpoint chain (kube-proxy's isServiceChainName). */
export function isServiceChain(name: string): boolean {
  return SERVICE_CHAIN.test(name);
}

/** A chain of ours: fixed names and per-service chains; never KUBE-FIREWALL, KUBE-KUBELET-CANARY… (kubelet's). */
export function isOurChain(name: string): boolean {
  return isServiceChain(name) || FIXED_CHAINS.includes(name);
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (Go's base32.StdEncoding), first `chars` characters only. */
function base32Prefix(bytes: Uint8Array, chars: number): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
    if (out.length >= chars) break;
  }
  return out;
}

/** base32(sha256(s))[:16], kube-proxy's portProtoHash and servicePortEndpointChainName hash. */
export function hash16(s: string): string {
  return base32Prefix(createHash('sha256').update(s).digest(), 16);
}

/** The chains of one service port: `svcPortName` is "ns/name:port", `proto` lower case. */
export function serviceChains(svcPortName: string, proto: string) {
  const h = hash16(svcPortName + proto);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** An endpoint's chain; `endpoint` is "ip:port" or "[ipv6]:port" (net.JoinHostPort). */
export function endpointChain(svcPortName: string, proto: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(svcPortName + proto + endpoint)}`;
}

export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
