import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/**
 * This node's addresses from the interfaces of the network namespace we run in: every device but
 * lo, or only the --devices given. Link-local IPv6 is left out: it is not a NodePort address.
 * IPv4 first, and within a family the device of the default route first: the first address of a
 * family is its primary one (kube-proxy's fallback when there is no Node object, and our SNAT
 * address), and the order the kernel lists devices in says nothing about which one that is.
 */
export function interfaceAddresses(devices: readonly string[] | null, routes: DefaultRoutes = readDefaultRoutes()): string[] {
  const out: { family: 4 | 6; dev: string; address: string }[] = [];
  for (const [dev, addrs] of Object.entries(networkInterfaces())) {
    // ekp-* interfaces are ours (ipvs mode's ekp-ipvs0 holds service VIPs, not node addresses);
    // kube-ipvs0 is the same, left by upstream kube-proxy's ipvs mode.
    if (dev === 'lo' || dev.startsWith('ekp-') || dev === 'kube-ipvs0' || (devices && !devices.includes(dev))) continue;
    for (const a of addrs ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue;
      out.push({ family: a.family === 'IPv6' ? 6 : 4, dev, address: a.address });
    }
  }
  const rank = (a: (typeof out)[number]) => a.family * 2 + (routes[a.family] === a.dev ? 0 : 1);
  // Array.prototype.sort is stable: within a rank, the kernel's order stays.
  return out.sort((a, b) => rank(a) - rank(b)).map((a) => a.address);
}

/** The device of each family's default route in the main table, if there is one. */
export interface DefaultRoutes {
  readonly 4?: string;
  readonly 6?: string;
}

const RTF_REJECT = 0x0200;

/** From /proc/net/route and /proc/net/ipv6_route, which show our namespace's main table. */
export function readDefaultRoutes(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): DefaultRoutes {
  const best = (rows: { dev: string; metric: number }[]) => rows.sort((a, b) => a.metric - b.metric)[0]?.dev;
  const lines = (path: string) => {
    try {
      return read(path).split('\n').map((l) => l.trim().split(/\s+/));
    } catch {
      return [];
    }
  };
  // Iface Destination Gateway Flags RefCnt Use Metric Mask …, hex.
  const v4 = lines('/proc/net/route').slice(1)
    .filter((f) => f.length >= 8 && f[0] !== '*' && f[1] === '00000000' && f[7] === '00000000' && (parseInt(f[3]!, 16) & RTF_REJECT) === 0)
    .map((f) => ({ dev: f[0]!, metric: parseInt(f[6]!, 16) }));
  // dest plen src plen nexthop metric refcnt use flags dev, hex.
  const v6 = lines('/proc/net/ipv6_route')
    .filter((f) => f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[3] === '00' && f[9] !== 'lo' && (parseInt(f[8]!, 16) & RTF_REJECT) === 0)
    .map((f) => ({ dev: f[9]!, metric: parseInt(f[5]!, 16) }));
  const d4 = best(v4);
  const d6 = best(v6);
  return { ...(d4 ? { 4: d4 } : {}), ...(d6 ? { 6: d6 } : {}) };
}
