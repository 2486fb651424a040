import { buildDesiredState, serviceCIDRsOf, type DesiredService, type DesiredState, type NodeContext, type Problem, type Skipped } from '../model/index.js';
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
  /** This node's name: only its Node object is used. Unset: any (a source that lists only this node's). */
  nodeName?: string;
  /** Wall-clock time (epoch ms), which trigger-time annotations are in; Date.now by default. */
  wallNow?: () => number;
}

/**
 * The control plane's core, kube-proxy's proxier minus the rule writing:
 * sources report changes into the store and mark Services dirty; the runner
 * calls sync(), which rebuilds the desired state of dirty Services only and
 * hands the dataplane what changed. A periodic or post-failure sync is full.
 */
export class SyncLoop implements SourceSink {
  private readonly opts: SyncLoopOptions;
  private readonly store: ObjectStore;
  private readonly runner: BoundedFrequencyRunner;
  private readonly clock: Clock;
  private readonly listed = new Set<ObjectKind>();
  /** Service (namespace/name) → its desired service ports, as last computed, and what from. */
  private readonly byService = new Map<string, Built>();
  /** The node context the entries of byService were computed with. */
  private builtFor: NodeContext | null = null;
  private readonly state = new Map<string, DesiredService>();
  private dirty = new Set<string>();
  /** Per Service: when each pending endpoint change was triggered (epoch ms). */
  private triggers = new Map<string, number[]>();
  /** Objects changed since the last sync started (SyncReport.pending), by kind. */
  private pending = { service: new Set<string>(), endpoints: new Set<string>() };
  /** Changes triggered before we started are not ours to time (kube-proxy's trackerStartTime). */
  private readonly startedWallMs: number;
  private needFull = true;
  private lastFull = -Infinity;
  /** Keys changed in syncs whose apply failed: they must go with the next apply. */
  private unapplied = new Set<string>();
  private readonly skipLogged = new Map<string, string>();
  private started = false;
  /** The ServiceCIDRs as last computed; null when one changed since. */
  private serviceCIDRs: DesiredState['serviceCIDRs'] | null = null;
  private serviceCIDRProblems = '';

  constructor(opts: SyncLoopOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? realClock;
    this.store = new ObjectStore(opts.nodeName);
    this.startedWallMs = (opts.wallNow ?? Date.now)();
    this.runner = new BoundedFrequencyRunner((reason) => this.sync(reason), {
      minIntervalMs: opts.minSyncPeriodMs,
      maxIntervalMs: opts.syncPeriodMs,
      // With minSyncPeriod 0 a failed write would be retried in a loop while the kernel refuses:
      // the retry waits a second at least (kube-proxy's waits syncPeriod). A new change still
      // syncs at once.
      retryIntervalMs: Math.max(opts.minSyncPeriodMs, 1000),
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
    if (c.kind === 'ServiceCIDR') {
      // A table-wide rule, not a service's: rare, and written by a full sync.
      this.serviceCIDRs = null;
      this.needFull = true;
    }
    // A deleted slice's annotation dates from its last update, not from this change: as kube-proxy,
    // its Service's pending times are dropped rather than timed.
    const t = c.kind === 'EndpointSlice' && c.current !== null ? triggerTime(c.current) : null;
    for (const key of touched) {
      this.dirty.add(key);
      if (c.kind !== 'EndpointSlice') continue;
      if (c.current === null) this.triggers.delete(key);
      else if (t !== null && t > this.startedWallMs) {
        const times = this.triggers.get(key);
        if (times) times.push(t);
        else this.triggers.set(key, [t]);
      }
    }
    const kind = c.kind === 'EndpointSlice' ? 'endpoints' : 'service';
    this.pending[kind].add(`${c.kind}/${c.key}`);
    this.opts.observer?.queued?.(kind, this.pendingCounts());
    if (this.started) this.runner.request();
  }

  synced(kind: ObjectKind): void {
    this.listed.add(kind);
    this.maybeStart();
  }

  /**
   * Something of this node that no API object says changed (an interface's address came or
   * went): a sync asks for the node context again, and redoes everything if it differs.
   */
  nodeMayHaveChanged(): void {
    if (this.started) this.runner.request();
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
    // By time, not only by the runner's periodic timer: every run re-arms that timer, so
    // changes coming more often than syncPeriod would hold the full sync off for good.
    let full = this.needFull || reason === 'periodic' || start - this.lastFull >= this.opts.syncPeriodMs;
    const node = this.opts.nodeContext(this.store.node);
    if (this.builtFor === null || !deepEqual(this.builtFor, node)) {
      // Every Service depends on the node, which changes without a Node event too (an interface's
      // address came or went): nothing computed for another one can be reused, and all go now.
      for (const b of this.byService.values()) b.inputs = null;
      this.builtFor = node;
      full = true;
    }
    const dirty = full ? new Set(this.store.serviceKeys().concat([...this.byService.keys()])) : this.dirty;
    this.dirty = new Set();
    const triggers = this.triggers;
    this.triggers = new Map();
    const took = this.pending;
    this.pending = { service: new Set(), endpoints: new Set() };

    const changed = new Set<string>(this.unapplied);
    for (const svcKey of dirty) {
      for (const k of this.rebuild(svcKey, node, !full)) changed.add(k);
    }

    let error: Error | null = null;
    if (full || changed.size > 0) {
      try {
        await this.opts.consumer.apply({ state: { services: this.state, serviceCIDRs: this.currentServiceCIDRs() }, changed: full ? 'all' : changed });
        this.needFull = false;
        this.unapplied.clear();
        if (full) this.lastFull = start;
      } catch (e) {
        error = e instanceof Error ? e : new Error(String(e));
        // kube-proxy's needFullSync: after a failed write nothing about the kernel is certain.
        this.needFull = true;
        for (const k of changed) this.unapplied.add(k);
        for (const k of took.service) this.pending.service.add(k);
        for (const k of took.endpoints) this.pending.endpoints.add(k);
      }
    }
    const report: SyncReport = {
      full,
      durationMs: this.clock.now() - start,
      changedServicePorts: full ? this.state.size : changed.size,
      servicePorts: this.state.size,
      triggerTimesMs: [...triggers.values()].flat(),
      pending: this.pendingCounts(),
      error,
    };
    this.opts.observer?.synced?.(report);
    if (error) throw error;
  }

  private pendingCounts(): SyncReport['pending'] {
    return { service: this.pending.service.size, endpoints: this.pending.endpoints.size };
  }

  private currentServiceCIDRs(): NonNullable<DesiredState['serviceCIDRs']> {
    if (this.serviceCIDRs) return this.serviceCIDRs;
    const r = serviceCIDRsOf(this.store.serviceCIDRs());
    const text = r.problems.map((p) => `${p.object}\n${p.field}: ${p.message}`).join('\n');
    // Said once, again only when they change.
    if (text !== this.serviceCIDRProblems) for (const p of r.problems) this.opts.observer?.skipped?.(p.object, `${p.field}: ${p.message}`);
    this.serviceCIDRProblems = text;
    this.serviceCIDRs = r.cidrs;
    return r.cidrs;
  }

  /**
   * Recomputes one Service's ports; returns the port keys whose desired state
   * changed (every key when `compare` is off: a full sync hands over all).
   * The model is a pure function of the Service, its slices and the node, and
   * raw objects are never changed in place (a change is a new object), so a
   * Service whose inputs are the very same objects as last time is not rebuilt:
   * a periodic full sync costs the model next to nothing.
   */
  private rebuild(svcKey: string, node: NodeContext, compare: boolean): string[] {
    const svc = this.store.service(svcKey);
    const prev = this.byService.get(svcKey);
    const before = prev?.ports ?? NO_PORTS;
    let after: ReadonlyMap<string, DesiredService> = NO_PORTS;
    if (svc !== undefined) {
      const slices = this.store.slicesOf(svcKey);
      if (prev?.inputs && prev.inputs.svc === svc && sameItems(prev.inputs.slices, slices)) {
        return compare ? [] : [...before.keys()];
      }
      const result = buildDesiredState({ services: [svc], endpointSlices: slices, node });
      after = result.state.services;
      this.byService.set(svcKey, { ports: after, inputs: { svc, slices } });
      this.report(svcKey, result.skipped, result.problems);
    } else {
      this.skipLogged.delete(svcKey);
      this.byService.delete(svcKey);
    }
    const changed: string[] = [];
    for (const [k, next] of after) {
      const prevState = this.state.get(k);
      if (compare && prevState !== undefined && deepEqual(prevState, next)) continue;
      changed.push(k);
      this.state.set(k, next);
    }
    for (const k of before.keys()) {
      if (after.has(k)) continue;
      changed.push(k);
      this.state.delete(k);
    }
    return changed;
  }

  /** Logs each object's problems once, again only when they change. */
  private report(svcKey: string, skipped: readonly Skipped[], problems: readonly Problem[]): void {
    if (skipped.length === 0 && problems.length === 0) {
      // Nothing to say; forgetting the last text still logs it again if it comes back.
      this.skipLogged.delete(svcKey);
      return;
    }
    const lines = skipped.map((s) => `${s.object}: ${s.reason}`).concat(problems.map((p) => `${p.object} ${p.field}: ${p.message}`));
    const text = lines.join('\n');
    if (this.skipLogged.get(svcKey) === text) return;
    this.skipLogged.set(svcKey, text);
    for (const line of lines) {
      const i = line.indexOf(': ');
      this.opts.observer?.skipped?.(line.slice(0, i), line.slice(i + 2));
    }
  }
}

interface Built {
  ports: ReadonlyMap<string, DesiredService>;
  /** The raw objects the ports were computed from; null once the node changed. */
  inputs: { svc: unknown; slices: readonly unknown[] } | null;
}

const NO_PORTS: ReadonlyMap<string, DesiredService> = new Map();

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
