import { buildDesiredState, type DesiredService, type NodeContext } from '../model/index.js';
import { OBJECT_KINDS, type ObjectChange, type ObjectKind, type SourceSink } from '../sources/types.js';
import { realClock, type Clock } from './clock.js';
import { BoundedFrequencyRunner, type RunReason } from './runner.js';
import { isNoOpChange, ObjectStore } from './store.js';
import type { StateConsumer, SyncObserver, SyncReport } from './types.js';

const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface SyncLoopOptions {
  consumer: StateConsumer;
  /** This node as the model needs it, from its Node object when there is one. */
  nodeContext: (node: unknown | null) => NodeContext;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  clock?: Clock;
  observer?: SyncObserver;
  /** Kinds that must have listed before the first sync. */
  waitFor?: readonly ObjectKind[];
}

/**
 * The control plane's core, kube-proxy's proxier minus the rule writing:
 * sources report changes into the store and mark Services dirty; the runner
 * calls sync(), which rebuilds the desired state of dirty Services only and
 * hands the dataplane what changed. A periodic or post-failure sync is full.
 */
export class SyncLoop implements SourceSink {
  private readonly opts: SyncLoopOptions;
  private readonly store = new ObjectStore();
  private readonly runner: BoundedFrequencyRunner;
  private readonly clock: Clock;
  private readonly listed = new Set<ObjectKind>();
  /** Service (namespace/name) → its desired service ports, as last computed. */
  private readonly byService = new Map<string, Map<string, DesiredService>>();
  private readonly state = new Map<string, DesiredService>();
  private dirty = new Set<string>();
  private triggers = new Map<string, number>();
  private needFull = true;
  /** Keys changed in syncs whose apply failed: they must go with the next apply. */
  private unapplied = new Set<string>();
  private readonly skipLogged = new Map<string, string>();
  private started = false;

  constructor(opts: SyncLoopOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.runner = new BoundedFrequencyRunner((reason) => this.sync(reason), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: opts.syncPeriodMs,
      retryIntervalMs: opts.minSyncPeriodMs,
      clock: this.clock,
    });
  }

  // ---- SourceSink ------------------------------------------------------

  changed(c: ObjectChange): void {
    if (isNoOpChange(c)) return;
    const touched = this.store.apply(c);
    if (c.kind === 'Node') {
      // Addresses, zone and podCIDRs shape every service.
      this.needFull = true;
    }
    for (const key of touched) {
      this.dirty.add(key);
      const t = c.kind === 'EndpointSlice' ? triggerTime(c.current ?? c.previous) : null;
      if (t !== null) this.triggers.set(key, Math.min(t, this.triggers.get(key) ?? Infinity));
    }
    this.opts.observer?.queued?.(c.kind === 'EndpointSlice' ? 'endpoints' : 'service');
    if (this.started) this.runner.request();
  }

  synced(kind: ObjectKind): void {
    this.listed.add(kind);
    this.maybeStart();
  }

  problem(): void {
    // Sources handle their own reconnects; the daemon logs these.
  }

  // ---- lifecycle -------------------------------------------------------

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** Resolves when no sync is running (tests, shutdown). */
  whenIdle(): Promise<void> {
    return this.runner.whenIdle();
  }

  private maybeStart(): void {
    const waitFor = this.opts.waitFor ?? OBJECT_KINDS;
    if (this.started || !waitFor.every((k) => this.listed.has(k))) return;
    this.started = true;
    this.runner.start();
  }

  // ---- the sync --------------------------------------------------------

  private async sync(reason: RunReason): Promise<void> {
    const start = this.clock.now();
    const full = this.needFull || reason === 'periodic';
    const node = this.opts.nodeContext(this.store.node);
    const dirty = full ? new Set(this.store.serviceKeys().concat([...this.byService.keys()])) : this.dirty;
    this.dirty = new Set();
    const triggers = this.triggers;
    this.triggers = new Map();

    const changed = new Set<string>(this.unapplied);
    for (const svcKey of dirty) {
      for (const k of this.rebuild(svcKey, node, !full)) changed.add(k);
    }

    let error: Error | null = null;
    if (full || changed.size > 0) {
      try {
        await this.opts.consumer.apply({ state: { services: this.state }, changed: full ? 'all' : changed });
        this.needFull = false;
        this.unapplied.clear();
      } catch (e) {
        error = e instanceof Error ? e : new Error(String(e));
        // kube-proxy's needFullSync: after a failed write nothing about the kernel is certain.
        this.needFull = true;
        for (const k of changed) this.unapplied.add(k);
      }
    }
    const oldest = [...triggers.values()].reduce((a, b) => Math.min(a, b), Infinity);
    const report: SyncReport = {
      full,
      durationMs: this.clock.now() - start,
      changedServicePorts: full ? this.state.size : changed.size,
      servicePorts: this.state.size,
      oldestTriggerMs: Number.isFinite(oldest) ? oldest : null,
      error,
    };
    this.opts.observer?.synced?.(report);
    if (error) throw error;
  }

  /**
   * Recomputes one Service's ports; returns the port keys whose desired state
   * changed (every key when `compare` is off: a full sync hands over all).
   */
  private rebuild(svcKey: string, node: NodeContext, compare: boolean): string[] {
    const svc = this.store.service(svcKey);
    const before = this.byService.get(svcKey) ?? new Map<string, DesiredService>();
    const after = new Map<string, DesiredService>();
    if (svc !== undefined) {
      const result = buildDesiredState({ services: [svc], endpointSlices: this.store.slicesOf(svcKey), node });
      for (const [k, v] of result.state.services) after.set(k, v);
      this.report(svcKey, result.skipped.map((s) => `${s.object}: ${s.reason}`).concat(result.problems.map((p) => `${p.object} ${p.field}: ${p.message}`)));
    } else {
      this.skipLogged.delete(svcKey);
    }
    const changed: string[] = [];
    for (const k of new Set([...before.keys(), ...after.keys()])) {
      const next = after.get(k);
      const prev = this.state.get(k);
      if (compare && next !== undefined && prev !== undefined && deepEqual(prev, next)) continue;
      changed.push(k);
      if (next === undefined) this.state.delete(k);
      else this.state.set(k, next);
    }
    if (after.size) this.byService.set(svcKey, after);
    else this.byService.delete(svcKey);
    return changed;
  }

  /** Logs each object's problems once, again only when they change. */
  private report(svcKey: string, lines: string[]): void {
    const text = lines.join('\n');
    if (this.skipLogged.get(svcKey) === text) return;
    this.skipLogged.set(svcKey, text);
    for (const line of lines) {
      const i = line.indexOf(': ');
      this.opts.observer?.skipped?.(line.slice(0, i), line.slice(i + 2));
    }
  }
}

/** Structural equality of plain data (what the model produces: objects, arrays, primitives). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

function triggerTime(slice: unknown): number | null {
  const ann = (slice as { metadata?: { annotations?: Record<string, unknown> } } | null)?.metadata?.annotations;
  const v = ann?.[TRIGGER_TIME_ANNOTATION];
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}
