// The contract inside the Kubernetes source: what a wire transport must do (list, watch),
// what a ResourceWatcher needs injected (clock, backoff, log), and the errors that carry
// protocol meaning (410 Gone). The wire format lives behind `Transport` so a protobuf
// encoding can replace JSON without touching the list/watch/relist logic.

import type { ObjectKind } from '../types.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** Time as the watchers see it; tests inject one that does not sleep for real. */
export interface Clock {
  /** Milliseconds, monotonic enough for measuring how long a connection stayed up. */
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

export interface BackoffOptions {
  /** First retry delay, ms. */
  initialMs: number;
  /** Ceiling for the delay, ms. */
  maxMs: number;
  factor: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter] so many proxies do not reconnect in step. */
  jitter: number;
  /** A watch that stayed up this long (ms) counts as healthy and resets the delay to `initialMs`. */
  resetAfterMs: number;
  /** [0, 1); injectable so tests get exact delays. */
  random: () => number;
}

export interface Backoff {
  /** The delay before the next attempt, ms; grows with each call until reset. */
  next(): number;
  reset(): void;
}

/** What one list+watch covers: a resource path plus the selectors kube-proxy puts on it. */
export interface ResourceDescriptor {
  kind: ObjectKind;
  /** Used to fill in items of a list, which the API server sends without their TypeMeta. */
  apiVersion: string;
  /** Collection path for all namespaces, e.g. /api/v1/services. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * The API server may not serve it (an API version it does not have, or RBAC that does not
   * grant it): a 404 or 403 on list then counts as an empty list, so that it never holds the
   * first sync back, and the list is tried again now and then.
   */
  optional?: boolean;
}

export interface ListRequest {
  resource: ResourceDescriptor;
  signal: AbortSignal;
  /**
   * '0' for any version the server has cached (a watch-cache read, not a quorum read of etcd:
   * client-go's first list); unset for the latest.
   */
  resourceVersion?: string;
}

export interface ListResult {
  resourceVersion: string;
  /** Raw objects, TypeMeta (apiVersion, kind) filled in. */
  items: unknown[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  type: WatchEventType;
  /** The object, or a Status for ERROR, or an object with only metadata.resourceVersion for BOOKMARK. */
  object: unknown;
}

export interface WatchRequest {
  resource: ResourceDescriptor;
  resourceVersion: string;
  /** Asks the server to end the watch cleanly after this long, so a silently dead connection is noticed. */
  timeoutSeconds: number;
  signal: AbortSignal;
  onEvent: (event: WatchEvent) => void;
}

/** How a watch stream ended when it was not refused outright. */
export type WatchEnd =
  /** The server finished the response (its timeout ran out); resuming is routine. */
  | { kind: 'closed' }
  /** The connection broke mid-stream. */
  | { kind: 'dropped'; error: Error };

export interface Transport {
  /** A consistent list of everything the descriptor selects, with the resourceVersion to watch from. */
  list(req: ListRequest): Promise<ListResult>;
  /**
   * Streams events to `onEvent` until the stream ends. Rejects when the request is refused
   * (ApiStatusError, e.g. 410 when the resourceVersion is too old), cannot connect, the
   * stream is not understood, or `signal` aborts.
   */
  watch(req: WatchRequest): Promise<WatchEnd>;
}

/** A non-success answer from the API server, with its Status reason when it sent one. */
export class ApiStatusError extends Error {
  readonly status: number;
  readonly reason: string | undefined;

  constructor(status: number, reason: string | undefined, message: string) {
    super(message);
    this.name = 'ApiStatusError';
    this.status = status;
    this.reason = reason;
  }
}

/** A response we could not decode; the stream it came from cannot be trusted to be complete. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** 410 Gone: the resourceVersion (or continue token) has been compacted away; only a relist recovers. */
export function isGone(err: unknown): boolean {
  return err instanceof ApiStatusError && err.status === 410;
}
