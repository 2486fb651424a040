// The ebpf mode's conntrack reconciler: the netfilter modes' (../udp-reconcile.ts, kube-proxy's
// since v1.32) over our own conntrack maps. The diff (../udp-conntrack.ts) only sees what changed
// while this process ran: after a restart, a FWD entry NATed to an endpoint removed while the
// daemon was down keeps sending a client's datagrams there for as long as the client keeps
// talking, and the diff's first sync knows nothing to compare with.
//
// A UDP flow is stale when its frontend (the FWD key's destination: ClusterIP, external or LB
// IP, or a NodePort on an address udpFlows lists) is a UDP frontend of a service port and its
// backend (the FWD value's address and port) is none of that port's endpoints, by the rules the
// netfilter modes use (udpEndpointsByFrontend). A frontend that serves no service port now is
// left alone: only the diff knows it went away while we ran. Unlike netfilter, the maps hold no
// un-NATed flow: a service port with no endpoint refuses or drops a new flow without an entry
// (bpf/lib/pipeline.h, handle_new), so "made before the first endpoint" does not arise here.
import type { DesiredService, IPFamily } from '../../model/index.js';
import { udpEndpointsByFrontend } from '../udp-reconcile.js';
import { deleteUdpFlows, flowId, type CtMap, type FlowTest } from './udp-sweep.js';

/** Whether a flow (frontend, backend: flowId's spelling) is stale for these service ports. */
export function staleFlowTest(services: Iterable<DesiredService>): FlowTest {
  const byFrontend = udpEndpointsByFrontend(services, flowId);
  return (frontend, backend) => {
    const endpoints = byFrontend.get(frontend);
    return !!endpoints && !endpoints.has(backend);
  };
}

export interface Reconciled {
  family: IPFamily;
  seconds: number;
  /** Flows deleted (a FWD entry and its REV partner, or a REV entry alone). */
  flows: number;
}

/**
 * Deletes the stale UDP flows from each family's conntrack map. A family with no UDP service port
 * is not walked: no flow of it can be stale, and the walk would be all the cost. That cost, on
 * the event loop: 100,000 UDP entries took 65 to 100 ms of CPU (about 40 of them reading the
 * map), a full map of 262,144 about 0.2 s; TCP entries cost little more than their read.
 */
export function reconcileUdpFlows(maps: Readonly<Record<IPFamily, CtMap>>, services: readonly DesiredService[]): Reconciled[] {
  const udp = services.filter((s) => s.protocol === 'UDP');
  const out: Reconciled[] = [];
  for (const family of [4, 6] as const) {
    const mine = udp.filter((s) => s.family === family);
    if (mine.length === 0) continue;
    const t0 = performance.now();
    const { flows } = deleteUdpFlows(maps[family], staleFlowTest(mine));
    out.push({ family, seconds: (performance.now() - t0) / 1000, flows });
  }
  return out;
}
