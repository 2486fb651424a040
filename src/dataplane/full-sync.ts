/**
 * kube-proxy's FullSyncPeriod (proxyutil): how often a periodic sync really rewrites
 * everything. The tracker asks for a full sync every syncPeriod (30 s, kube-proxy's
 * retry-and-check cadence); in between, a dataplane that knows what it wrote compares
 * with that and writes only the difference. At 10,000 services a real full sync is
 * hundreds of ms of CPU in ebpf mode and tens of seconds of iptables.
 */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

/** When an 'all' update must really be a full sync: the first, one after a failure, and once per FULL_SYNC_PERIOD_MS. */
export class FullSyncSchedule {
  private fullAt: number | null = null;
  private needFull = true;

  constructor(private readonly now: () => number = Date.now) {}

  /** No apply has gone through yet, or the last one failed: even a partial update must be full. */
  get pending(): boolean {
    return this.needFull;
  }

  due(): boolean {
    return this.needFull || this.fullAt === null || this.now() - this.fullAt >= FULL_SYNC_PERIOD_MS;
  }

  /** An apply went through; `full` when it was a real full sync. */
  committed(full: boolean): void {
    this.needFull = false;
    if (full) this.fullAt = this.now();
  }

  /** After a failed write nothing about the kernel is certain (kube-proxy's needFullSync). */
  failed(): void {
    this.needFull = true;
  }
}

/** A periodic sync's work list: every service port wanted now or written before. */
export function everyPort(services: ReadonlyMap<string, unknown>, ...written: Iterable<string>[]): Set<string> {
  const out = new Set(services.keys());
  for (const w of written) for (const k of w) out.add(k);
  return out;
}
