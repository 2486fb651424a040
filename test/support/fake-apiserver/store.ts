// The fake API server's etcd: objects per kind, one global resourceVersion counter, and an
// event history that compact() truncates, after which watches and continue tokens from
// before the compaction point are answered with 410 Gone.

import { randomUUID } from 'node:crypto';
import type { ObjectKind } from '../../../src/sources/types.js';
import type { Obj } from './selectors.js';

export interface StoredEvent {
  rv: number;
  kind: ObjectKind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** null for ADDED. */
  previous: Obj | null;
  /** The object as of this event (for DELETED: its last state, with the deletion's resourceVersion). */
  object: Obj;
}

export class GoneError extends Error {}

const API_VERSIONS: Record<ObjectKind, string> = {
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Node: 'v1',
  ServiceCIDR: 'networking.k8s.io/v1',
};

const CLUSTER_SCOPED: ReadonlySet<ObjectKind> = new Set(['Node', 'ServiceCIDR']);

export function apiVersionOf(kind: ObjectKind): string {
  return API_VERSIONS[kind];
}

export function keyOf(kind: ObjectKind, obj: Obj): string {
  const meta = (obj.metadata ?? {}) as { name?: string; namespace?: string };
  if (!meta.name) throw new Error(`${kind} without metadata.name`);
  return CLUSTER_SCOPED.has(kind) ? meta.name : `${meta.namespace ?? 'default'}/${meta.name}`;
}

function setRV(obj: Obj, rv: number): Obj {
  obj.metadata = { ...(obj.metadata as Obj), resourceVersion: String(rv) };
  return obj;
}

type Snapshot = Map<ObjectKind, Map<string, Obj>>;

function emptySnapshot(): Snapshot {
  return new Map([
    ['Service', new Map()],
    ['EndpointSlice', new Map()],
    ['Node', new Map()],
    ['ServiceCIDR', new Map()],
  ]);
}

function copySnapshot(s: Snapshot): Snapshot {
  return new Map([...s].map(([k, m]) => [k, new Map(m)]));
}

export class ObjectStore {
  /** The last resourceVersion handed out. */
  rv: number;
  /** History before (and at) this RV is gone. */
  compactedRV: number;
  private current: Snapshot = emptySnapshot();
  /** State at compactedRV, so older-but-not-compacted snapshots can be rebuilt for continue tokens. */
  private base: Snapshot = emptySnapshot();
  private history: StoredEvent[] = [];
  private readonly listeners = new Set<(ev: StoredEvent) => void>();

  constructor(startRV = 100) {
    this.rv = startRV;
    this.compactedRV = startRV;
  }

  subscribe(fn: (ev: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  create(kind: ObjectKind, input: Obj): Obj {
    const obj = structuredClone(input);
    const meta = { ...(obj.metadata as Obj | undefined) } as Obj;
    if (!CLUSTER_SCOPED.has(kind) && !meta.namespace) meta.namespace = 'default';
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    obj.metadata = meta;
    obj.apiVersion = apiVersionOf(kind);
    obj.kind = kind;
    const key = keyOf(kind, obj);
    if (this.objects(kind).has(key)) throw new Error(`${kind} ${key} already exists`);
    return this.record(kind, 'ADDED', null, obj);
  }

  update(kind: ObjectKind, input: Obj): Obj {
    const obj = structuredClone(input);
    if (!CLUSTER_SCOPED.has(kind)) obj.metadata = { namespace: 'default', ...(obj.metadata as Obj) };
    const key = keyOf(kind, obj);
    const previous = this.objects(kind).get(key);
    if (!previous) throw new Error(`${kind} ${key} not found`);
    const prevMeta = previous.metadata as Obj;
    obj.metadata = { ...(obj.metadata as Obj), uid: prevMeta.uid, creationTimestamp: prevMeta.creationTimestamp };
    obj.apiVersion = apiVersionOf(kind);
    obj.kind = kind;
    return this.record(kind, 'MODIFIED', previous, obj);
  }

  delete(kind: ObjectKind, keyOrObj: string | Obj): Obj {
    const key = typeof keyOrObj === 'string' ? keyOrObj : keyOf(kind, keyOrObj);
    const previous = this.objects(kind).get(key);
    if (!previous) throw new Error(`${kind} ${key} not found`);
    return this.record(kind, 'DELETED', previous, structuredClone(previous));
  }

  private record(kind: ObjectKind, type: StoredEvent['type'], previous: Obj | null, obj: Obj): Obj {
    const rv = ++this.rv;
    setRV(obj, rv);
    const key = keyOf(kind, obj);
    const objects = this.objects(kind);
    if (type === 'DELETED') objects.delete(key);
    else objects.set(key, obj);
    const ev: StoredEvent = { rv, kind, type, previous, object: obj };
    this.history.push(ev);
    for (const fn of [...this.listeners]) fn(ev);
    return structuredClone(obj);
  }

  objects(kind: ObjectKind): Map<string, Obj> {
    return this.current.get(kind)!;
  }

  /** Forgets all history up to now: watches and continue tokens from before here get 410. */
  compact(): void {
    this.compactedRV = this.rv;
    this.base = copySnapshot(this.current);
    this.history = [];
  }

  /** Events of `kind` after `rv`; throws GoneError if some of them were compacted away. */
  eventsSince(kind: ObjectKind, rv: number): StoredEvent[] {
    if (rv < this.compactedRV) throw new GoneError(`too old resource version: ${rv} (${this.compactedRV})`);
    return this.history.filter((e) => e.kind === kind && e.rv > rv);
  }

  /** The objects of `kind` as they were at `rv`. */
  stateAt(kind: ObjectKind, rv: number): Map<string, Obj> {
    if (rv === this.rv) return this.objects(kind);
    if (rv < this.compactedRV) throw new GoneError(`too old resource version: ${rv} (${this.compactedRV})`);
    const state = new Map(this.base.get(kind)!);
    for (const e of this.history) {
      if (e.rv > rv) break;
      if (e.kind !== kind) continue;
      const key = keyOf(kind, e.object);
      if (e.type === 'DELETED') state.delete(key);
      else state.set(key, e.object);
    }
    return state;
  }
}
