// Stale UDP conntrack entries, by what each sync changed (netfilter modes: udp-cleaner.ts; ebpf:
// ebpf/udp-cleaner.ts). UDP has no connection to end: an entry NATed to an endpoint that is gone
// keeps sending a client's datagrams to it until the entry times out (for as long as the client
// keeps talking), and an entry made while a Service had no endpoint, or before it existed, keeps
// bypassing the DNAT. After each sync that reached the kernel, the entries it made stale are
// deleted, as kube-proxy's conntrack cleanup before v1.32 did (what it cannot see, each mode's
// reconciler finds: udp-reconcile.ts, ebpf/udp-reconcile.ts). TCP entries stay: established connections keep their backend.
import type { DesiredService, IPFamily } from '../model/index.js';

/** What a UDP service port has in the kernel: where clients send, and where it sends them. */
export interface UdpFlows {
  readonly family: IPFamily;
  /** Every frontend (cluster, external, load-balancer IP, each NodePort address) as address and port. */
  readonly frontends: readonly (readonly [string, number])[];
  /** Its serving endpoints, as "ip port": a pod that keeps its IP but moves its port is another endpoint. */
  readonly endpoints: ReadonlySet<string>;
}

export function udpFlows(s: DesiredService): UdpFlows {
  // Serving endpoints, not the backend sets: a flow to a terminating pod, or to one topology or a
  // Local policy leaves out of new flows, is live (kube-proxy's conntrack cleanup ignores both).
  const endpoints = new Set<string>();
  for (const b of s.servingEndpoints) endpoints.add(`${b.ip} ${b.port}`);
  return { family: s.family, frontends: s.frontends.map((f) => [f.address, f.port] as const), endpoints };
}

const frontendId = ([a, p]: readonly [string, number]) => `${a} ${p}`;

/**
 * One set of flows a sync made stale: UDP flows to `frontend` whose replies come from
 * `replySrc`:`replySrcPort` (an endpoint), or every UDP flow to `frontend` when absent.
 */
export interface StaleUdpFlow {
  readonly family: IPFamily;
  readonly frontend: readonly [string, number];
  readonly replySrc?: string;
  readonly replySrcPort?: number;
}

/**
 * The UDP flows made stale by going, for the service ports in `keys`, from what the kernel had
 * (`before`) to what it has now (`after`):
 * - an endpoint gone: flows to each of the port's frontends whose reply comes from it
 *   (kube-proxy's ClearEntriesForNAT and ClearEntriesForPortNAT);
 * - a frontend that now has endpoints and had none (the port gained its first endpoint, is new,
 *   or got a new address): every flow to it (kube-proxy clears a newly active UDP Service's IPs
 *   and NodePort), since those were made without DNAT.
 * Unlike kube-proxy, every one names the frontend's port too, so the other ports of a VIP keep
 * their flows. `before` null (this process has not synced yet) makes nothing stale: what the
 * kernel held is not known, and a restart must not cut live flows (each mode's first sync reads
 * its conntrack table instead: udp-reconcile.ts, ebpf/udp-reconcile.ts).
 * Every mode deletes these from its own conntrack: netfilter's (staleUdpLines), ebpf's maps.
 */
export function staleUdpFlows(before: ReadonlyMap<string, UdpFlows> | null, after: ReadonlyMap<string, UdpFlows>, keys: Iterable<string>): StaleUdpFlow[] {
  if (!before) return [];
  const out = new Map<string, StaleUdpFlow>();
  const add = (f: UdpFlows, fe: readonly [string, number], endpoint?: string) => {
    const [replySrc, port] = endpoint?.split(' ') ?? [];
    out.set(`${frontendId(fe)} ${endpoint ?? ''}`, { family: f.family, frontend: fe, ...(replySrc ? { replySrc, replySrcPort: Number(port) } : {}) });
  };
  for (const key of keys) {
    const b = before.get(key);
    const a = after.get(key);
    if (b) {
      for (const ep of b.endpoints) {
        if (a?.endpoints.has(ep)) continue;
        for (const fe of b.frontends) add(b, fe, ep);
      }
    }
    if (a && a.endpoints.size > 0) {
      const active = new Set(b && b.endpoints.size > 0 ? b.frontends.map(frontendId) : []);
      for (const fe of a.frontends) if (!active.has(frontendId(fe))) add(a, fe);
    }
  }
  return [...out.values()];
}

/** `conntrack -R` lines deleting the stale flows of staleUdpFlows (same arguments). */
export function staleUdpLines(before: ReadonlyMap<string, UdpFlows> | null, after: ReadonlyMap<string, UdpFlows>, keys: Iterable<string>): string[] {
  return [...new Set(staleUdpFlows(before, after, keys).map(conntrackLine))];
}

/** The `conntrack -D` arguments (a `-R` line) deleting one stale flow's entries. */
export const conntrackLine = ({ family, frontend: [addr, port], replySrc, replySrcPort }: StaleUdpFlow): string =>
  ['-D', '-p', 'udp', ...(family === 6 ? ['-f', 'ipv6'] : []), '--orig-dst', addr, '--orig-port-dst', String(port),
    ...(replySrc ? ['--reply-src', replySrc] : []), ...(replySrcPort ? ['--reply-port-src', String(replySrcPort)] : [])].join(' ');

/**
 * The UDP service ports as the kernel has them, sync after sync: what each sync made stale.
 * Shared by the netfilter modes (udp-cleaner.ts) and ebpf, which differ only in how they delete.
 */
export class UdpFlowHistory {
  private last: Map<string, UdpFlows> | null = null;

  /** Call after `services` reached the kernel; `changed` is what the sync wrote ('all': every service port). */
  synced(services: Iterable<DesiredService>, changed: ReadonlySet<string> | 'all'): StaleUdpFlow[] {
    const now = new Map<string, UdpFlows>();
    for (const s of services) if (s.protocol === 'UDP') now.set(s.key, udpFlows(s));
    const keys = changed === 'all' ? new Set([...(this.last?.keys() ?? []), ...now.keys()]) : changed;
    const stale = staleUdpFlows(this.last, now, keys);
    if (changed === 'all' || !this.last) {
      this.last = now;
    } else {
      // What the kernel has: the ports this sync wrote as they are now, the rest as before.
      for (const key of changed) {
        const f = now.get(key);
        if (f) this.last.set(key, f);
        else this.last.delete(key);
      }
    }
    return stale;
  }
}
