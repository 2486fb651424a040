import { networkInterfaces } from 'node:os';

/**
 * This node's addresses from the interfaces of the network namespace we run
 * in (manifest mode without a Node object): every device but lo, or only the
 * --devices given. Link-local IPv6 is left out: it is not a NodePort address.
 */
export function interfaceAddresses(devices: readonly string[] | null): string[] {
  const out: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    // ekp-* interfaces are ours (ipvs mode's ekp-ipvs0 holds service VIPs, not node addresses);
    // kube-ipvs0 is the same, left by upstream kube-proxy's ipvs mode.
    if (name === 'lo' || name.startsWith('ekp-') || name === 'kube-ipvs0' || (devices && !devices.includes(name))) continue;
    for (const a of addrs ?? []) {
      if (a.internal || (a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'))) continue;
      out.push(a.address);
    }
  }
  // IPv4 first: the first address of a family is its primary one.
  return [...out.filter((a) => !a.includes(':')), ...out.filter((a) => a.includes(':'))];
}
