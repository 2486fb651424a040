// What the daemon hands loadDatapath: map sizes from the proxy config and the read-only
// program config. Its own file so that a test loading the objects on another kernel
// (test/e2e/bpf-kernel.test.ts, in the VM) gets exactly what the daemon would.
import type { ProxyConfig } from '../../config/index.js';
import { MAP_DEFAULT_SIZE, familyOf, type Config } from './abi.js';
import { kernelConfigFlags } from './kernel.js';
import type { MapSizes } from './loader.js';

export function mapSizesOf(c: ProxyConfig): MapSizes {
  return {
    // Frontend entries: a service port has a ClusterIP, NodePorts on each node
    // address, external and LB IPs, and up to two scopes each.
    svc: c.bpfMaxServices * 4,
    svcStat: c.bpfMaxServices,
    backend: c.bpfMaxBackends,
    slots: c.bpfSlots,
    // conntrackMax counts connections, as nf_conntrack_max does; each NATed
    // connection holds two entries here (FWD and REV).
    ct: 2 * c.conntrackMax,
    affinity: MAP_DEFAULT_SIZE.ekp_affinity_v1,
    srcRange: MAP_DEFAULT_SIZE.ekp_srcrange_v1,
    sock: MAP_DEFAULT_SIZE.ekp_sock_v1,
    vip: c.bpfMaxServices,
  };
}

/** Read-only program config: SNAT sources are this node's primary addresses. */
export function programConfigOf(c: ProxyConfig, nodeAddresses: readonly string[], release?: string): Config {
  const v4 = nodeAddresses.find((a) => familyOf(a) === 4);
  const v6 = nodeAddresses.find((a) => familyOf(a) === 6);
  return {
    ...(v4 ? { snatV4: v4 } : {}),
    ...(v6 ? { snatV6: v6 } : {}),
    flags: kernelConfigFlags(release),
    ctTimeoutS: { established: Math.round(c.conntrack.tcpEstablishedTimeoutMs / 1000), udp: Math.round(c.conntrack.udpTimeoutMs / 1000) },
  };
}
