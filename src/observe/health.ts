import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Counter } from './metrics.js';

/**
 * kube-proxy's proxier health: healthy once the first sync is in the kernel
 * and as long as no queued change has waited longer than `timeoutMs`
 * (kube-proxy uses 2 × syncPeriod).
 */
export class HealthState {
  private lastUpdated = 0;
  private oldestQueued = 0;
  /** /healthz only: the node is going away (deleted, or tainted for scale-down). */
  nodeEligible = true;

  constructor(private readonly timeoutMs: number, private readonly now: () => number = Date.now) {}

  queued(): void {
    if (this.oldestQueued === 0) this.oldestQueued = this.now();
  }

  /** A sync finished and put every queued change into the kernel. */
  updated(): void {
    this.lastUpdated = this.now();
    this.oldestQueued = 0;
  }

  healthy(): boolean {
    if (this.lastUpdated === 0) return false;
    return this.oldestQueued === 0 || this.now() - this.oldestQueued < this.timeoutMs;
  }

  body(): { lastUpdated: string; currentTime: string; nodeEligible?: boolean } {
    return { lastUpdated: new Date(this.lastUpdated).toISOString(), currentTime: new Date(this.now()).toISOString() };
  }
}

/** The cluster autoscaler's mark on a node it is about to remove. */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

/**
 * kube-proxy's NodeEligibleHandler: a Node being deleted, or tainted by the cluster autoscaler
 * for removal, makes /healthz answer 503, so that load balancers drain it before it goes
 * (/livez stays as it is: the proxy itself is fine).
 */
export function nodeEligible(node: unknown): boolean {
  const n = node as { metadata?: { deletionTimestamp?: unknown }; spec?: { taints?: unknown } } | null;
  if (typeof n !== 'object' || n === null) return true;
  if (n.metadata?.deletionTimestamp) return false;
  const taints = Array.isArray(n.spec?.taints) ? (n.spec.taints as unknown[]) : [];
  return !taints.some((t) => (t as { key?: unknown } | null)?.key === TO_BE_DELETED_TAINT);
}

export interface HttpEndpoints {
  [path: string]: (req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * Go's meaning of a listen address, which kube-proxy's config is in: 0.0.0.0, :: and "" are every
 * address of both families. Node would take 0.0.0.0 as IPv4 only, and an IPv6-only cluster's load
 * balancers would find no node healthy. '::' is both families (IPv4 mapped), unless IPv6 is off.
 */
async function listenOn(server: Server, port: number, host: string): Promise<void> {
  const attempt = (h: string) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: h, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return attempt(host);
  try {
    await attempt('::');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT' && (e as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw e;
    await attempt('0.0.0.0');
  }
}

/** Listens on "host:port" ("" disables; ":0" picks a port). */
export async function listen(bind: string, routes: HttpEndpoints): Promise<Server | null> {
  if (bind === '') return null;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(bind);
  if (!m) throw new Error(`bad bind address ${bind}`);
  const host = m[1] ?? m[2] ?? '';
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    route(req, res);
  });
  await listenOn(server, Number(m[3]), host);
  return server;
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}

/** The /healthz and /livez handlers kube-proxy serves on 10256. */
export function healthRoutes(state: HealthState, counters: { healthz: Counter; livez: Counter }): HttpEndpoints {
  const reply = (res: ServerResponse, ok: boolean, body: object, counter: Counter) => {
    const code = ok ? 200 : 503;
    counter.inc({ code: String(code) });
    res.writeHead(code, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' }).end(JSON.stringify(body));
  };
  return {
    '/healthz': (_req, res) => {
      const ok = state.healthy() && state.nodeEligible;
      reply(res, ok, { ...state.body(), nodeEligible: state.nodeEligible }, counters.healthz);
    },
    '/livez': (_req, res) => reply(res, state.healthy(), state.body(), counters.livez),
  };
}

export interface HealthCheckService {
  namespace: string;
  name: string;
  localEndpoints: number;
}

/**
 * healthCheckNodePort servers for externalTrafficPolicy=Local Services, as
 * kube-proxy serves them: a load balancer probes each node and sends traffic
 * only where there are ready local endpoints and the proxy is healthy.
 */
export class HealthCheckServers {
  private servers = new Map<number, { server: Server; svc: HealthCheckService }>();

  constructor(private readonly proxyHealthy: () => boolean, private readonly bindHost = '0.0.0.0', private readonly onError?: (port: number, e: Error) => void) {}

  async sync(wanted: ReadonlyMap<number, HealthCheckService>): Promise<void> {
    for (const [port, entry] of this.servers) {
      if (!wanted.has(port)) {
        this.servers.delete(port);
        await new Promise((r) => entry.server.close(r));
      }
    }
    for (const [port, svc] of wanted) {
      const have = this.servers.get(port);
      if (have) {
        have.svc = svc;
        continue;
      }
      const entry = { svc, server: createServer((_req, res) => this.answer(entry.svc, res)) };
      try {
        await listenOn(entry.server, port, this.bindHost);
        this.servers.set(port, entry);
      } catch (e) {
        this.onError?.(port, e as Error);
      }
    }
  }

  ports(): number[] {
    return [...this.servers.keys()];
  }

  async close(): Promise<void> {
    await this.sync(new Map());
  }

  private answer(svc: HealthCheckService, res: ServerResponse): void {
    const healthy = this.proxyHealthy();
    const ok = svc.localEndpoints > 0 && healthy;
    res.writeHead(ok ? 200 : 503, {
      'content-type': 'application/json',
      'x-content-type-options': 'nosniff',
      'x-load-balancing-endpoint-weight': String(svc.localEndpoints),
    }).end(JSON.stringify({ service: { namespace: svc.namespace, name: svc.name }, localEndpoints: svc.localEndpoints, serviceProxyHealthy: healthy }));
  }
}
