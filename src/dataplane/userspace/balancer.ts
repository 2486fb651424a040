// Backend choice for the userspace proxy: round-robin per service port and
// backend set (as kube-proxy's userspace LoadBalancerRR did), with ClientIP
// session affinity that expires after the Service's timeout of idleness.
// Pure: the clock is injected, nothing here touches a socket.
import type { Affinity, Backend } from '../../model/index.js';

export const backendKey = (b: Pick<Backend, 'ip' | 'port'>): string => `${b.ip}|${b.port}`;

interface Sticky {
  backend: string;
  lastUsedMs: number;
}

export interface BalancerOptions {
  /** Epoch ms (default Date.now). */
  now?: () => number;
}

export class Balancer {
  private readonly now: () => number;
  /** `${serviceKey}|${scope}` → next index. */
  private readonly cursors = new Map<string, number>();
  /** serviceKey → client IP → the backend it stuck to. */
  private readonly affinity = new Map<string, Map<string, Sticky>>();

  constructor(opts: BalancerOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * One backend of `backends` for a new connection (or UDP session) from
   * `clientIP`, or null when none is usable. `scope` separates the cursors of
   * a service port's backend sets (internal, external, short-circuit). With
   * ClientIP affinity, a client keeps its backend while that backend is still
   * in the set and the client came back within the timeout; `exclude` (backends
   * that just failed to connect) breaks the affinity.
   */
  pick(serviceKey: string, scope: string, backends: readonly Backend[], clientIP: string, affinity: Affinity, exclude?: ReadonlySet<string>): Backend | null {
    const usable = exclude?.size ? backends.filter((b) => !exclude.has(backendKey(b))) : backends;
    if (usable.length === 0) return null;
    const now = this.now();
    let table: Map<string, Sticky> | undefined;
    if (affinity.type === 'ClientIP') {
      table = this.affinity.get(serviceKey);
      if (!table) this.affinity.set(serviceKey, (table = new Map()));
      const s = table.get(clientIP);
      if (s && now - s.lastUsedMs < affinity.timeoutSeconds * 1000) {
        const b = usable.find((x) => backendKey(x) === s.backend);
        if (b) {
          s.lastUsedMs = now;
          return b;
        }
      }
    }
    const cursorKey = `${serviceKey}|${scope}`;
    const i = (this.cursors.get(cursorKey) ?? 0) % usable.length;
    this.cursors.set(cursorKey, (i + 1) % usable.length);
    const chosen = usable[i]!;
    table?.set(clientIP, { backend: backendKey(chosen), lastUsedMs: now });
    return chosen;
  }

  /**
   * Drops the state of service ports no longer in `live` and of services whose
   * affinity is gone, and expired affinity entries (timeouts by service key).
   */
  prune(live: ReadonlyMap<string, Affinity>): void {
    for (const k of this.cursors.keys()) {
      const svc = k.slice(0, k.lastIndexOf('|'));
      if (!live.has(svc)) this.cursors.delete(k);
    }
    const now = this.now();
    for (const [svc, table] of this.affinity) {
      const a = live.get(svc);
      if (!a || a.type !== 'ClientIP') {
        this.affinity.delete(svc);
        continue;
      }
      for (const [client, s] of table) if (now - s.lastUsedMs >= a.timeoutSeconds * 1000) table.delete(client);
      if (table.size === 0) this.affinity.delete(svc);
    }
  }

  /** Affinity entries held (for metrics and tests). */
  affinityEntries(): number {
    let n = 0;
    for (const t of this.affinity.values()) n += t.size;
    return n;
  }
}
