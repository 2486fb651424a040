import { native } from '../native/index.js';

/** An address as rtnetlink reports it (native ifAddrs). */
export interface KernelAddress {
  ifindex: number;
  ifname: string;
  family: 4 | 6;
  address: string;
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
 * IPv6 addresses that cannot take traffic, or must not be given out (IFA_F_*). For IPv4, 0x01 is
 * IFA_F_SECONDARY, a second address in a subnet: as much ours as the first.
 */
const IFA_F_UNUSABLE_V6 = 0x01 /* TEMPORARY: rotates away within days */ | 0x08 /* DADFAILED */ | 0x20 /* DEPRECATED */ | 0x40 /* TENTATIVE */;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_HOST = 254;
const RT_TABLE_MAIN = 254;

/**
 * This node's addresses, from the kernel of the network namespace we run in: every device's but
 * lo's, or only the --devices' given; interfaces without carrier included (their addresses are
 * still local). Link-local IPv6 is left out (no NodePort address), and so are IPv6 addresses
 * that are temporary, deprecated, tentative or failed DAD.
 *
 * IPv4 first; the first address of a family is its primary one (our SNAT address, and
 * kube-proxy's 'primary' without a Node object): the main table's default route's preferred
 * source, else the first address of its device, else the first the kernel lists.
 */
export function interfaceAddresses(devices: readonly string[] | null, kernel: KernelView = realKernel): string[] {
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
    const primary = mine.find((a) => a.address === route?.prefsrc) ?? mine.find((a) => a.ifindex === route?.oif);
    if (primary) out.push(primary.address);
    for (const a of mine) if (a !== primary) out.push(a.address);
  }
  return [...new Set(out)];
}
