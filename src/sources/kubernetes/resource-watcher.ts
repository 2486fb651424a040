// An informer for one kind: list, then watch from the list's resourceVersion, keeping a
// cache of what was delivered so that every reconnect or relist reports only what really
// changed. Wire-agnostic: it talks to a Transport.
//
// Recovery, as client-go's reflector does it:
//   - a watch that breaks resumes from the last resourceVersion seen (an event's or a
//     bookmark's), after an exponential backoff;
//   - a watch the server ends cleanly (its timeoutSeconds ran out) resumes at once;
//   - 410 Gone, as an HTTP status or an ERROR event in the stream, means the history
//     since that resourceVersion is compacted away: relist and diff against the cache.

import { sleep } from './clock.js';
import { objectKey, resourceVersionOf } from './resources.js';
import {
  ApiStatusError,
  isGone,
  type Backoff,
  type Clock,
  type Logger,
  type ResourceDescriptor,
  type Transport,
  type WatchEnd,
  type WatchEvent,
} from './types.js';
import type { ObjectChange, ObjectKind } from '../types.js';

export interface ResourceWatcherHandler {
  changed(change: ObjectChange): void;
  /** The first list is in the cache and delivered; called once. */
  synced(): void;
  /** A reconnect or relist is under way, and why. */
  problem(message: string): void;
}

export interface ResourceWatcherOptions {
  resource: ResourceDescriptor;
  transport: Transport;
  handler: ResourceWatcherHandler;
  clock: Clock;
  backoff: Backoff;
  /** A watch that stayed up this long (ms) resets the backoff. */
  healthyAfterMs: number;
  /** timeoutSeconds for each watch request; client-go picks 5–10 min at random. */
  watchTimeoutSeconds: () => number;
  log: Logger;
}

/** Why the current watch is being torn down from our side. */
type Interrupt = { kind: 'gone'; message: string } | { kind: 'error'; message: string } | undefined;

type WatchOutcome = { kind: 'closed' } | { kind: 'closedEarly' } | NonNullable<Interrupt>;

/** How often an optional resource the API server does not serve is looked for again. */
export const ABSENT_RELIST_MS = 5 * 60_000;

export class ResourceWatcher {
  private readonly opts: ResourceWatcherOptions;
  private readonly cache = new Map<string, unknown>();
  private rv = '';
  private hasSynced = false;
  private running: Promise<void> | undefined;
  private readonly stopping = new AbortController();
  /** Aborts the request in flight: stop() and in-stream errors both end it. */
  private attempt: AbortController | undefined;
  private interrupt: Interrupt;
  /** The status that made an optional resource absent, while it is; said once per spell. */
  private absent: number | null = null;

  constructor(opts: ResourceWatcherOptions) {
    this.opts = opts;
  }

  get kind(): ObjectKind {
    return this.opts.resource.kind;
  }

  /** The resourceVersion the next watch would resume from ('' before the first list). */
  get resourceVersion(): string {
    return this.rv;
  }

  get synced(): boolean {
    return this.hasSynced;
  }

  /** The objects delivered so far, by key; read-only. */
  get objects(): ReadonlyMap<string, unknown> {
    return this.cache;
  }

  start(): void {
    if (this.running || this.stopping.signal.aborted) throw new Error(`${this.kind} watcher already started`);
    this.running = this.run().catch((err: unknown) => {
      // run() handles every failure it expects; anything here is a bug, and stays visible.
      this.opts.log('error', `${this.kind} watcher died`, { error: String(err) });
      this.notify('problem', () => this.opts.handler.problem(`${this.kind} watcher stopped after an unexpected error: ${String(err)}`));
    });
  }

  /** Ends the request in flight and any pending retry; resolves once nothing is left running. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.attempt?.abort();
    await this.running;
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async run(): Promise<void> {
    const { backoff, clock, healthyAfterMs } = this.opts;
    let mustList = true;
    while (!this.stopped) {
      let retry: string | undefined;
      if (mustList) {
        try {
          await this.relist();
          mustList = false;
          if (this.absent !== null) this.opts.log('info', `${this.kind} is served now`, { kind: this.kind });
          this.absent = null;
        } catch (err) {
          if (this.stopped) return;
          if (this.isAbsent(err)) {
            await sleep(clock, ABSENT_RELIST_MS, this.stopping.signal);
            continue;
          }
          retry = `list failed: ${describe(err)}`;
        }
      }
      if (!mustList) {
        const started = clock.now();
        const outcome = await this.watchOnce();
        if (this.stopped) return;
        if (clock.now() - started >= healthyAfterMs) backoff.reset();
        if (outcome.kind === 'closed') {
          this.opts.log('debug', `${this.kind} watch ended by the server; resuming`, { resourceVersion: this.rv });
          continue;
        }
        if (outcome.kind === 'closedEarly') {
          // Routine resumption only for a server that kept the stream as long as we asked;
          // one that closes at once every time would otherwise be hammered in a tight loop.
          retry = `watch closed by the server after ${Math.round(clock.now() - started)} ms; resuming from resourceVersion ${this.rv}`;
        } else if (outcome.kind === 'gone') {
          mustList = true;
          retry = `${outcome.message}; relisting`;
        } else {
          retry = `${outcome.message}; resuming from resourceVersion ${this.rv}`;
        }
      }
      const delay = backoff.next();
      const message = `${this.kind}: ${retry} in ${delay} ms`;
      this.opts.log('warn', message, { kind: this.kind, resourceVersion: this.rv, delayMs: delay });
      this.notify('problem', () => this.opts.handler.problem(message));
      await sleep(clock, delay, this.stopping.signal);
    }
  }

  /**
   * An optional resource the server refuses to list as not there (404: an API version it does
   * not have) or not ours (403: RBAC from before it existed) is taken as empty: what was
   * delivered goes, and the first list counts as done.
   */
  private isAbsent(err: unknown): boolean {
    if (!this.opts.resource.optional || !(err instanceof ApiStatusError) || (err.status !== 404 && err.status !== 403)) return false;
    if (this.absent !== err.status) {
      this.opts.log(err.status === 404 ? 'info' : 'warn', `${this.kind} is not served to us (${err.status}); taken as none, looked for again every ${ABSENT_RELIST_MS / 60_000} min`, {
        kind: this.kind,
        path: this.opts.resource.path,
        error: err.message,
      });
    }
    this.absent = err.status;
    this.applyList([]);
    this.rv = '';
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.notify('synced', () => this.opts.handler.synced());
    }
    return true;
  }

  private newAttempt(): AbortController {
    this.interrupt = undefined;
    this.attempt = new AbortController();
    return this.attempt;
  }

  private async relist(): Promise<void> {
    const attempt = this.newAttempt();
    // The first list may come from the API server's cache, as client-go's does: at a DaemonSet's
    // rollout every node lists at once, and etcd need not serve each. A relist after 410 Gone must
    // not go back in time, so it reads the latest.
    const list = await this.opts.transport.list({ resource: this.opts.resource, signal: attempt.signal, ...(this.hasSynced ? {} : { resourceVersion: '0' }) });
    if (this.stopped) return;
    this.applyList(list.items);
    this.rv = list.resourceVersion;
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.notify('synced', () => this.opts.handler.synced());
    }
  }

  /** Makes the cache equal to `items`, reporting only objects that were added, changed or went away. */
  private applyList(items: unknown[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      if (key === null) {
        this.opts.log('warn', `${this.kind} without a name in list; ignored`);
        continue;
      }
      seen.add(key);
      const previous = this.cache.get(key);
      if (previous !== undefined && sameObject(previous, item)) continue;
      this.cache.set(key, item);
      this.emit(key, previous ?? null, item);
    }
    for (const [key, previous] of [...this.cache]) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.emit(key, previous, null);
    }
  }

  private async watchOnce(): Promise<WatchOutcome> {
    const attempt = this.newAttempt();
    const timeoutSeconds = this.opts.watchTimeoutSeconds();
    const started = this.opts.clock.now();
    let end: WatchEnd;
    try {
      end = await this.opts.transport.watch({
        resource: this.opts.resource,
        resourceVersion: this.rv,
        timeoutSeconds,
        signal: attempt.signal,
        onEvent: (ev) => this.onEvent(ev, attempt),
      });
    } catch (err) {
      if (this.interrupt) return this.interrupt;
      if (isGone(err)) return { kind: 'gone', message: `watch from resourceVersion ${this.rv} refused: ${describe(err)}` };
      // An optional resource switched off (404) or taken from our role (403): the relist finds it absent.
      if (this.opts.resource.optional && err instanceof ApiStatusError && (err.status === 404 || err.status === 403)) {
        return { kind: 'gone', message: `watch refused: ${describe(err)}` };
      }
      return { kind: 'error', message: `watch failed: ${describe(err)}` };
    }
    // The server closes the stream after an in-stream ERROR, so this can win the race with our abort.
    if (this.interrupt) return this.interrupt;
    if (end.kind === 'dropped') return { kind: 'error', message: `watch connection lost: ${describe(end.error)}` };
    return this.opts.clock.now() - started < (timeoutSeconds * 1000) / 2 ? { kind: 'closedEarly' } : end;
  }

  private onEvent(ev: WatchEvent, attempt: AbortController): void {
    if (attempt.signal.aborted) return;
    if (ev.type === 'ERROR') {
      const status = ev.object as { code?: unknown; reason?: unknown; message?: unknown };
      const what = `${typeof status.code === 'number' ? status.code : '?'} ${typeof status.reason === 'string' ? status.reason : ''}`.trim();
      const detail = typeof status.message === 'string' ? `: ${status.message}` : '';
      this.interrupt =
        status.code === 410
          ? { kind: 'gone', message: `watch from resourceVersion ${this.rv} expired (ERROR ${what}${detail})` }
          : { kind: 'error', message: `watch ERROR event ${what}${detail}` };
      attempt.abort();
      return;
    }
    const rv = resourceVersionOf(ev.object);
    if (ev.type === 'BOOKMARK') {
      // Nothing changed for us, but history up to here need not be replayed after a reconnect.
      if (rv) this.rv = rv;
      return;
    }
    const key = objectKey(ev.object);
    if (key === null || !rv) {
      this.interrupt = { kind: 'error', message: `${ev.type} event for an object without name or resourceVersion` };
      attempt.abort();
      return;
    }
    const previous = this.cache.get(key);
    if (ev.type === 'DELETED') {
      if (previous !== undefined) {
        this.cache.delete(key);
        this.emit(key, previous, null);
      }
    } else if (previous === undefined || resourceVersionOf(previous) !== rv) {
      this.cache.set(key, ev.object);
      this.emit(key, previous ?? null, ev.object);
    }
    this.rv = rv;
  }

  private emit(key: string, previous: unknown | null, current: unknown | null): void {
    this.notify(`change of ${key}`, () => this.opts.handler.changed({ kind: this.opts.resource.kind, key, previous, current }));
  }

  /**
   * Calls the handler, containing what it throws: the cache already holds the version it was
   * told about, so tearing the stream down to retry would not redeliver it. A sink that
   * throws is a bug to report, not a reason to reconnect.
   */
  private notify(what: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.opts.log('error', `${this.kind} sink threw on ${what}`, { error: String(err) });
    }
  }
}

/** Unchanged when the server says so (same resourceVersion) or the content is identical. */
function sameObject(a: unknown, b: unknown): boolean {
  const ra = resourceVersionOf(a);
  if (ra !== undefined && ra === resourceVersionOf(b)) return true;
  return deepEqual(a, b);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ka = Object.keys(a);
  const ob = b as Record<string, unknown>;
  if (ka.length !== Object.keys(ob).length) return false;
  const oa = a as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(ob, k) && deepEqual(oa[k], ob[k]));
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
