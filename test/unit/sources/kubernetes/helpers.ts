// Shared by the Kubernetes source tests: object builders, a sink that records what it is
// told, and a clock whose timers fire at once (or on demand) while recording the delays.

import type { ObjectChange, ObjectKind, SourceSink } from '../../../../src/sources/types.js';
import type { Clock } from '../../../../src/sources/kubernetes/index.js';
import type { Obj } from '../../../support/fake-apiserver.js';

export function service(name: string, opts: { ns?: string; labels?: Record<string, string>; port?: number } = {}): Obj {
  return {
    metadata: { name, namespace: opts.ns ?? 'default', ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: opts.port ?? 80, protocol: 'TCP' }] },
  };
}

export function slice(name: string, opts: { ns?: string; service?: string; labels?: Record<string, string>; ip?: string } = {}): Obj {
  return {
    metadata: {
      name,
      namespace: opts.ns ?? 'default',
      labels: { 'kubernetes.io/service-name': opts.service ?? name, ...opts.labels },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [opts.ip ?? '10.0.0.1'], conditions: { ready: true } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

export function node(name: string, zone = 'a'): Obj {
  return { metadata: { name, labels: { 'topology.kubernetes.io/zone': zone } }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.1' }] } };
}

/** Resolves once `cond()` holds; polls, since the events it waits for arrive over real sockets. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export type SinkEntry =
  | { type: 'changed'; change: ObjectChange }
  | { type: 'synced'; kind: ObjectKind }
  | { type: 'problem'; kind: ObjectKind | null; message: string };

export class RecordingSink implements SourceSink {
  readonly log: SinkEntry[] = [];

  changed(change: ObjectChange): void {
    this.log.push({ type: 'changed', change });
  }
  synced(kind: ObjectKind): void {
    this.log.push({ type: 'synced', kind });
  }
  problem(kind: ObjectKind | null, message: string): void {
    this.log.push({ type: 'problem', kind, message });
  }

  changes(kind?: ObjectKind, from = 0): ObjectChange[] {
    return this.log
      .slice(from)
      .flatMap((e) => (e.type === 'changed' && (kind === undefined || e.change.kind === kind) ? [e.change] : []));
  }
  problems(kind?: ObjectKind, from = 0): string[] {
    return this.log.slice(from).flatMap((e) => (e.type === 'problem' && (kind === undefined || e.kind === kind) ? [e.message] : []));
  }
  syncedKinds(): ObjectKind[] {
    return this.log.flatMap((e) => (e.type === 'synced' ? [e.kind] : []));
  }
  /** A position in the log, to look only at what came after it. */
  mark(): number {
    return this.log.length;
  }
}

/** Change → a compact description: "+key", "~key", "-key". */
export function summary(c: ObjectChange): string {
  const sign = c.previous === null ? '+' : c.current === null ? '-' : '~';
  return `${sign}${c.key}`;
}

/**
 * A clock with virtual time. Timers fire on the next turn of the event loop (advancing
 * virtual time by their delay) unless `hold` is set, in which case they wait for
 * `release()`. Every requested delay is recorded, which is how tests see the backoff.
 */
export class TestClock implements Clock {
  readonly delays: number[] = [];
  hold = false;
  private t = 0;
  private readonly held = new Set<{ ms: number; fn: () => void }>();
  private readonly immediates = new Set<NodeJS.Immediate>();

  now(): number {
    return this.t;
  }

  advance(ms: number): void {
    this.t += ms;
  }

  setTimer(ms: number, fn: () => void): () => void {
    this.delays.push(ms);
    if (this.hold) {
      const entry = { ms, fn };
      this.held.add(entry);
      return () => this.held.delete(entry);
    }
    const imm = setImmediate(() => {
      this.immediates.delete(imm);
      this.t += ms;
      fn();
    });
    this.immediates.add(imm);
    return () => {
      clearImmediate(imm);
      this.immediates.delete(imm);
    };
  }

  get pending(): number {
    return this.held.size + this.immediates.size;
  }

  /** Stops holding and fires what was held. */
  release(): void {
    this.hold = false;
    const entries = [...this.held];
    this.held.clear();
    for (const e of entries) {
      this.t += e.ms;
      e.fn();
    }
  }
}
