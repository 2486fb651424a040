import type { DesiredState } from '../model/index.js';

/** What one sync hands to the dataplane. */
export interface StateUpdate {
  /** The whole desired state after this sync. */
  readonly state: DesiredState;
  /**
   * Keys of the service ports that changed since the last successful apply
   * (added, changed or removed), or 'all' for a full sync, which must also
   * repair anything in the kernel that drifted from the state.
   */
  readonly changed: ReadonlySet<string> | 'all';
}

/** The seam between the control plane and every datapath mode. */
export interface StateConsumer {
  apply(update: StateUpdate): Promise<void>;
}

export interface SyncReport {
  full: boolean;
  durationMs: number;
  /** Service ports handed to the dataplane as changed (all of them on a full sync). */
  changedServicePorts: number;
  servicePorts: number;
  /**
   * For network-programming latency: when each endpoint change in this sync was triggered (epoch
   * ms, the slices' last-change-trigger-time), one per change, as kube-proxy observes them.
   */
  triggerTimesMs: number[];
  /**
   * Objects changed and not in the kernel after this sync, by kind: those that changed while it
   * ran (a sync takes what was queued when it starts), and, when it failed, its own too.
   */
  pending: { service: number; endpoints: number };
  error: Error | null;
}

/** Hooks for metrics, health and logs; every method optional. */
export interface SyncObserver {
  /**
   * A change arrived that is not in the kernel yet (kube-proxy's QueuedUpdate); `pending`: the
   * objects changed since the last sync started, by kind, this one included.
   */
  queued?(kind: 'service' | 'endpoints', pending: SyncReport['pending']): void;
  synced?(report: SyncReport): void;
  /** An object was left out, once per object and reason until it changes. */
  skipped?(object: string, reason: string): void;
}
