import { native } from '../native/index.js';

/** An address as rtnetlink reports it (native ifAddrs). */
export interface KernelAddress {
  ifindex: number;
  ifname: string;
  family: 4 | 6;
  address: string;
  prefixLen: number;
  scope: number;
  /** IFA_F_* */
  flags: number;
}

/** A route to 0.0.0.0/0 or ::/0 (native defaultRoutes). */
export interface KernelDefaultRoute {
  family: 4 | 6;
  table: number;
  priority: number;
  oif: number;
  prefsrc: string | null;
}

export interface KernelView {
  addresses(): KernelAddress[];
  defaultRoutes(): KernelDefaultRoute[];
}

const realKernel: KernelView = {
  addresses: () => native().ifAddrs(),
  defaultRoutes: () => native().defaultRoutes(),
};

/**
 * IPv6 addresses that take no traffic, or are not the node's to publish (IFA_F_*). For IPv4, 0x01
 * is IFA_F_SECONDARY, a second address in a subnet: as much ours as the first.
 */
const IFA_F_TEMPORARY = 0x01; // rotates away within days
/** Takes no traffic (yet, or ever): not even local. */
const IFA_F_NOT_UP = 0x08 /* DADFAILED */ | 0x40 /* TENTATIVE */;
const IFA_F_UNUSABLE_V6 = IFA_F_TEMPORARY | IFA_F_NOT_UP;
/** Still local, but not to send from (preferred_lft 0, how an IPv6 VIP is often added): never the primary. */
const IFA_F_DEPRECATED = 0x20;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;
const RT_TABLE_MAIN = 254;

/**
 * This node's addresses, from the kernel of the network namespace we run in: every device's but
 * lo's, or only the --devices' given; IPv4 addresses of interfaces without carrier included
 * (still local; IPv6 ones stay tentative there). Left out: link-local IPv6 (no NodePort address),
 * IPv6 addresses that are temporary, tentative or failed DAD, and host addresses (/32, /128) but
 * the primary. A host address is a VIP more often than the node's own (kube-vip's LB VIPs,
 * NodeLocal DNS's, a CNI's tunnel end), and a NodePort on each would cost a service entry per
 * NodePort per VIP; the Node object's addresses are added back by the caller.
 *
 * IPv4 first; the first address of a family is its primary one (our SNAT address, and
 * kube-proxy's 'primary' without a Node object): the main table's default route's preferred
 * source, else the first address of its device, else the first the kernel lists; never a
 * deprecated one while there is another.
 */
export function interfaceAddresses(devices: readonly string[] | null, kernel: KernelView = realKernel, opts: { hostAddresses?: boolean } = {}): string[] {
  const usable = kernel.addresses().filter((a) =>
    // ekp-* interfaces are ours (ipvs mode's ekp-ipvs0 holds service VIPs, not node addresses);
    // kube-ipvs0 is the same, left by upstream kube-proxy's ipvs mode.
    a.ifname !== 'lo' && !a.ifname.startsWith('ekp-') && a.ifname !== 'kube-ipvs0' && (!devices || devices.includes(a.ifname))
    && a.scope < (a.family === 6 ? RT_SCOPE_LINK : RT_SCOPE_HOST)
    && (a.family === 4 || (a.flags & IFA_F_UNUSABLE_V6) === 0));
  const routes = kernel.defaultRoutes().filter((r) => r.table === RT_TABLE_MAIN);
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    const mine = usable.filter((a) => a.family === family);
    const route = routes.filter((r) => r.family === family).sort((a, b) => a.priority - b.priority)[0];
    const candidates = mine.filter((a) => (a.flags & IFA_F_DEPRECATED) === 0);
    const primary = candidates.find((a) => a.address === route?.prefsrc) ?? candidates.find((a) => a.ifindex === route?.oif) ?? candidates[0] ?? mine[0];
    const host = family === 4 ? 32 : 128;
    if (primary) out.push(primary.address);
    for (const a of mine) if (a !== primary && (opts.hostAddresses || a.prefixLen !== host)) out.push(a.address);
  }
  return [...new Set(out)];
}

/**
 * Every address that is this node's in the kernel's eyes (all devices but lo, VIPs held here
 * included), for "is this frontend a local address?"; order means nothing.
 */
export function localAddresses(kernel: KernelView = realKernel): string[] {
  return [...new Set(kernel.addresses()
    .filter((a) => a.ifname !== 'lo' && a.scope < RT_SCOPE_HOST && (a.family === 4 || (a.flags & IFA_F_NOT_UP) === 0))
    .map((a) => a.address))];
}
