// kube-proxy's conntrack reconciler (v1.32+, kubernetes#126130): which entries of a listed
// conntrack table are stale for the desired state, whatever happened before. The diff of
// udp-conntrack.ts only sees what changed while this process ran; an entry made stale while no
// proxy ran (an endpoint removed, a Service that got its first endpoint while un-NATed entries
// to it existed) is found only here, and a client that keeps talking would never let it time out.
//
// An entry is stale when it was sent to a UDP service frontend and its replies do not come
// from one of that service port's serving endpoints (whatever topology and traffic policy
// chose for new flows, as kube-proxy's). Finer than kube-proxy's, at no cost:
// - frontends are address and port (kube-proxy: the address alone), so another port of the same
//   VIP keeps its flows;
// - endpoints are address and port, as the diff has them: a pod that keeps its IP but moves its
//   port is another endpoint, and an un-NATed entry to a NodePort of a host-network endpoint
//   (replies from the node's address, but from the NodePort) is told from a NATed one.
// A port with no endpoint has none, so every entry to it goes, the un-NATed ones too (their
// replies come from the frontend itself).
//
// NodePorts: kube-proxy matches them by destination port alone, on any address. The frontends
// here are the addresses udpFlows lists (the node addresses nodePortAddresses selects), and in
// iptables mode 127.0.0.0/8 (localhost NodePorts). iptables serves NodePorts on every local
// address (addrtype LOCAL) when nodePortAddresses is unset, so an entry to one of the others
// (a host /32 VIP's) is left to the diff and its timeout. The port alone would also take
// the node's and its pods' own flows to any remote host:port that happens to be a NodePort
// number (their replies come from that host, never an endpoint) and delete them on every
// reconcile: for a masqueraded pod flow that is a new source port, and a broken session, each time.
import type { DesiredService } from '../model/index.js';
import type { ConntrackEntry } from './conntrack-list.js';
import { udpFlows } from './udp-conntrack.js';

const isLoopback4 = (a: string) => a.startsWith('127.');

/**
 * Every UDP frontend of these service ports ("addr port"), with the endpoints ("ip port") whose
 * replies a flow to it may have, each spelt by `id` (the ebpf mode compares the addresses' bytes).
 * Shared with the ebpf mode's reconciler (ebpf/udp-reconcile.ts).
 */
export function udpEndpointsByFrontend(services: Iterable<DesiredService>): Map<string, Set<string>>;
export function udpEndpointsByFrontend<Id>(services: Iterable<DesiredService>, id: (addrPort: string) => Id): Map<Id, Set<Id>>;
export function udpEndpointsByFrontend(services: Iterable<DesiredService>, id = (t: string): unknown => t): Map<unknown, Set<unknown>> {
  const out = new Map<unknown, Set<unknown>>();
  for (const s of services) {
    if (s.protocol !== 'UDP') continue;
    const f = udpFlows(s);
    const endpoints = [...f.endpoints].map(id);
    for (const [addr, port] of f.frontends) add(out, id(`${addr} ${port}`), endpoints);
  }
  return out;
}

// Two ports sharing a frontend (an external IP that is another Service's too) keep the
// entries of either's endpoints: what the kernel does with new flows there is not ours to guess.
function add<K, E>(m: Map<K, Set<E>>, k: K, endpoints: Iterable<E>): void {
  const s = m.get(k);
  if (s) for (const e of endpoints) s.add(e);
  else m.set(k, new Set(endpoints));
}

/** The entries of `entries` that are stale for these service ports (UDP ones are looked at; any family). */
export function staleUdpEntries(entries: Iterable<ConntrackEntry>, services: Iterable<DesiredService>): ConntrackEntry[] {
  const all = [...services];
  const byFrontend = udpEndpointsByFrontend(all);
  const loopbackNodePorts = new Map<number, Set<string>>();
  for (const s of all) if (s.protocol === 'UDP' && s.family === 4 && s.nodePort) add(loopbackNodePorts, s.nodePort, udpFlows(s).endpoints);
  const out: ConntrackEntry[] = [];
  for (const e of entries) {
    const endpoints = byFrontend.get(`${e.orig.dst} ${e.orig.dport}`)
      ?? (e.family === 4 && isLoopback4(e.orig.dst) ? loopbackNodePorts.get(e.orig.dport) : undefined);
    if (endpoints && !endpoints.has(`${e.reply.src} ${e.reply.sport}`)) out.push(e);
  }
  return out;
}

/**
 * The `conntrack -D` arguments (a `-R` line) that delete this entry and no other: its original
 * tuple, which is unique, and its reply source, so that an entry the same client socket made
 * again since the listing (to a live endpoint) stays.
 */
export function entryDeleteLine(e: ConntrackEntry): string {
  return ['-D', '-p', 'udp', ...(e.family === 6 ? ['-f', 'ipv6'] : []),
    '--orig-src', e.orig.src, '--orig-dst', e.orig.dst, '--orig-port-src', String(e.orig.sport), '--orig-port-dst', String(e.orig.dport),
    '--reply-src', e.reply.src, '--reply-port-src', String(e.reply.sport)].join(' ');
}
