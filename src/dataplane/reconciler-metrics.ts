// The conntrack reconciler's two metrics, by kube-proxy's names, help texts and buckets
// (pkg/proxy/metrics). A family's series appear with its first reconcile, as kube-proxy's do;
// both names are there from the start, because the daemon registers what it sees at startup.
import type { IPFamily } from '../model/index.js';
import { Histogram, SYNC_BUCKETS } from '../observe/metrics.js';
import type { KernelMetric } from './types.js';

export const RECONCILE_LATENCY = 'kubeproxy_conntrack_reconciler_sync_duration_seconds';
export const RECONCILE_DELETED = 'kubeproxy_conntrack_reconciler_deleted_entries_total';
const LATENCY_HELP = 'ReconcileConntrackFlowsLatency latency in seconds';
const DELETED_HELP = 'Cumulative conntrack flows deleted by conntrack reconciler';

const label = (family: IPFamily) => ({ ip_family: family === 4 ? 'IPv4' : 'IPv6' });

export class ReconcilerMetrics {
  private readonly latency = new Histogram(RECONCILE_LATENCY, LATENCY_HELP, SYNC_BUCKETS);
  private readonly deleted = new Map<IPFamily, number>();

  /** One reconcile of `family` that read the table: how long it took, and how many entries it deleted. */
  reconciled(family: IPFamily, seconds: number, deleted: number): void {
    this.latency.observe(seconds, label(family));
    this.deleted.set(family, (this.deleted.get(family) ?? 0) + deleted);
  }

  deletedTotal(family: IPFamily): number {
    return this.deleted.get(family) ?? 0;
  }

  kernelMetrics(): Record<string, KernelMetric> {
    return {
      [RECONCILE_LATENCY]: { help: LATENCY_HELP, type: 'histogram', buckets: SYNC_BUCKETS, samples: this.latency.samples() },
      [RECONCILE_DELETED]: {
        help: DELETED_HELP, type: 'counter',
        samples: ([4, 6] as const).filter((f) => this.deleted.has(f)).map((f) => ({ labels: label(f), value: this.deleted.get(f)! })),
      },
    };
  }
}
