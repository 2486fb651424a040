// The ebpf mode's deletion of stale UDP flows from its conntrack maps after each sync that
// reached them, as the netfilter modes' ../udp-cleaner.ts does for the kernel's table, in the
// same two ways:
// - the diff (../udp-conntrack.ts, swept by udp-sweep.ts), after every sync: what this sync made
//   stale. It alone knows the frontends that went away while we ran.
// - the reconciler (udp-reconcile.ts), on this process's first sync (what changed while no
//   daemon ran: the pinned maps outlive it) and on every tracker full sync (every syncPeriod,
//   30 s by default, the one after a failed apply, a node change): one walk of each family's map
//   that has UDP service ports, for what the diff missed.
// The diff goes first; the reconciler's metric counts the flows it deleted itself.
import type { DesiredService, IPFamily } from '../../model/index.js';
import { ReconcilerMetrics } from '../reconciler-metrics.js';
import type { KernelMetric } from '../types.js';
import { UdpFlowHistory } from '../udp-conntrack.js';
import { reconcileUdpFlows } from './udp-reconcile.js';
import { sweepUdpFlows, type CtMap } from './udp-sweep.js';

export interface UdpFlowSyncOptions {
  /** A tracker full sync: walk the maps too (the process's first sync always does). */
  reconcile?: boolean;
  /**
   * Service ports the writer left as they were (it ran out of ids or slots): the maps keep their
   * old backends, whose flows the reconciler must not take for stale.
   */
  notProgrammed?: ReadonlySet<string>;
}

export interface UdpFlowsDeleted {
  /** Map entries the diff's sweep deleted. */
  swept: number;
  /** Flows the reconciler deleted, if it ran. */
  reconciled: number;
}

export class UdpFlowCleaner {
  private readonly history = new UdpFlowHistory();
  private readonly metrics = new ReconcilerMetrics();
  private reconciledOnce = false;

  /** `maps`: each family's conntrack map (ekp_ct4_v2, ekp_ct_v2). */
  constructor(private readonly maps: Readonly<Record<IPFamily, CtMap>>) {}

  /**
   * Call after `services` reached the maps; `changed` is what the sync wrote ('all': every
   * service port). Throws what the maps throw; the reconciler runs again on the next full sync.
   */
  synced(services: Iterable<DesiredService>, changed: ReadonlySet<string> | 'all', opts: UdpFlowSyncOptions = {}): UdpFlowsDeleted {
    const all = [...services];
    const swept = sweepUdpFlows([this.maps[4], this.maps[6]], this.history.synced(all, changed));
    let reconciled = 0;
    if (opts.reconcile || !this.reconciledOnce) {
      this.reconciledOnce = true;
      const skip = opts.notProgrammed;
      for (const r of reconcileUdpFlows(this.maps, skip?.size ? all.filter((s) => !skip.has(s.key)) : all)) {
        this.metrics.reconciled(r.family, r.seconds, r.flows);
        reconciled += r.flows;
      }
    }
    return { swept, reconciled };
  }

  /** kubeproxy_conntrack_reconciler_*, for the dataplane's kernelMetrics. */
  kernelMetrics(): Record<string, KernelMetric> {
    return this.metrics.kernelMetrics();
  }
}
