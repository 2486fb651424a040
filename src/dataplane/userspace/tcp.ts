// TCP for the userspace proxy: a listener bound to one frontend address:port
// (a service address we made local, or a node address for NodePorts), and for
// every accepted connection a second connection to a backend, spliced to it
// with socket.pipe in both directions.
//
// Half-close: both sockets are allowHalfOpen, so a FIN from one peer ends only
// that direction (pipe calls end() on the other socket, which sends our FIN)
// while the opposite direction keeps flowing; each socket closes once both of
// its directions are done. An error (RST) on one side resets the other.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Backend } from '../../model/index.js';
import type { Logger } from '../../observe/index.js';
import { backendKey, type Balancer } from './balancer.js';
import { backendSetFor, classifyClient, parsePeer, routeServes, sourceAllowed, type Route } from './routes.js';

/** Per-attempt connect timeouts to backends; one attempt per entry, each to a backend not yet tried. */
export const DIAL_TIMEOUTS_MS = [1000, 2000, 4000] as const;

export type RefuseReason = 'sourceRange' | 'noEndpoints' | 'dropLocal' | 'dialFailed' | 'sessionLimit';

/** What a frontend needs from the dataplane at connection time (always the latest sync). */
export interface ProxyContext {
  /** The route behind a frontend key now, or undefined once it is gone. */
  route(key: string): Route | undefined;
  /** Local addresses of this node (node addresses, our service addresses, every interface's). */
  localAddresses(): ReadonlySet<string>;
  readonly balancer: Balancer;
  readonly log: Logger;
  refused(reason: RefuseReason): void;
  accepted(protocol: 'TCP' | 'UDP', serviceKey: string): void;
}

/** Ends a TCP socket with a RST when it can (an accepted or connected socket), else just destroys it. */
export function reset(s: Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/** Splices two connected sockets, both ways, keeping half-closes (see the top of this file). */
export function splice(a: Socket, b: Socket): void {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    x.on('error', () => reset(y));
    x.once('close', (hadError) => {
      if (hadError) reset(y);
    });
    x.pipe(y);
  }
}

export class TcpFrontend {
  private server: Server | null = null;
  /** Accepted client sockets still open, and their backend sockets: for close(drop) (SIGTERM) and the gauge. */
  private readonly clients = new Set<Socket>();
  private readonly upstreams = new Set<Socket>();

  constructor(readonly key: string, readonly address: string, readonly port: number, private readonly ctx: ProxyContext) {}

  get connections(): number {
    return this.clients.size;
  }

  /** Binds and listens; rejects with the bind error (EADDRINUSE, EADDRNOTAVAIL). */
  open(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (c) => this.onConnection(c));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.address, port: this.port, ipv6Only: this.address.includes(':'), backlog: 1024 }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.ctx.log.warn('listener error', { frontend: this.key, error: e.message }));
        this.server = server;
        resolve();
      });
    });
  }

  /**
   * Stops listening: the kernel then refuses new connections (RST), as
   * REJECT does. Connections already spliced stay unless `drop` is set.
   */
  close(drop = false): void {
    this.server?.close();
    this.server = null;
    if (drop) for (const s of [...this.clients, ...this.upstreams]) reset(s);
  }

  private onConnection(client: Socket): void {
    client.on('error', () => {});
    const route = this.ctx.route(this.key);
    const peer = parsePeer(client.remoteAddress);
    if (!route || !peer || !routeServes(route)) {
      this.ctx.refused('noEndpoints');
      reset(client);
      return;
    }
    if (!sourceAllowed(route, peer)) {
      // kube-proxy drops; a listener cannot refuse a handshake the kernel already
      // completed, so the client gets a reset at once (and no backend is dialled).
      this.ctx.refused('sourceRange');
      reset(client);
      return;
    }
    const who = classifyClient(route, peer, this.ctx.localAddresses());
    const { scope, set } = backendSetFor(route, who.internal);
    if (set.backends.length === 0) {
      this.ctx.refused(set.dropWhenEmpty ? 'dropLocal' : 'noEndpoints');
      reset(client);
      return;
    }
    this.clients.add(client);
    client.once('close', () => this.clients.delete(client));
    this.dial(client, route, scope, set.backends, peer.text, new Set(), 0);
  }

  /** Connects to a backend, trying others (not yet tried) when one fails or is slow. */
  private dial(client: Socket, route: Route, scope: string, backends: readonly Backend[], clientIP: string, tried: Set<string>, attempt: number): void {
    if (client.destroyed) return;
    const b = attempt < DIAL_TIMEOUTS_MS.length ? this.ctx.balancer.pick(route.service.key, scope, backends, clientIP, route.service.affinity, tried) : null;
    if (!b) {
      this.ctx.refused('dialFailed');
      reset(client);
      return;
    }
    tried.add(backendKey(b));
    const upstream = connect({ host: b.ip, port: b.port, allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('close', abort);
      upstream.destroy();
      this.ctx.log.debug('backend dial failed', { frontend: this.key, backend: `${b.ip}:${b.port}`, why });
      this.dial(client, route, scope, backends, clientIP, tried, attempt + 1);
    };
    const abort = () => {
      settled = true;
      clearTimeout(timer);
      upstream.destroy();
    };
    const timer = setTimeout(() => fail('timeout'), DIAL_TIMEOUTS_MS[attempt]);
    // `on`, not `once`: a second error must never go unhandled (fail is idempotent).
    upstream.on('error', (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
    client.once('close', abort);
    upstream.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('close', abort);
      this.ctx.accepted('TCP', route.service.key);
      this.upstreams.add(upstream);
      upstream.once('close', () => this.upstreams.delete(upstream));
      splice(client, upstream);
      client.resume();
    });
  }
}
