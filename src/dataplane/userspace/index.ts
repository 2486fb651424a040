// The userspace mode: kube-proxy's first mode, and the last resort here. A
// proxy in this process takes every connection for a service and splices it to
// a backend (TCP), or relays datagrams per client session (UDP). It needs no
// netfilter NAT and no BPF: every service address (ClusterIPs, external IPs,
// load-balancer IPs) is made a local address of the node (a /32 or /128 on lo,
// see addresses.ts), so the kernel delivers pods' and clients' traffic for it
// to our sockets bound on VIP:port; NodePorts bind on node address:nodePort.
//
// Semantics and their limits (README, userspace mode):
// - A backend sees the node as the source, never the client (we open a new
//   connection). eTP Local still picks local backends only, but keeps no IP.
// - No endpoint anywhere: the frontend's socket is closed and the kernel
//   refuses (TCP RST, ICMP port unreachable), as REJECT does. Where kube-proxy
//   DROPs (source ranges, a Local policy with endpoints on other nodes only) the
//   socket stays: a TCP client is reset right after the handshake the kernel
//   completed; UDP is dropped silently.
// - SIGTERM (close) necessarily stops the datapath: the sockets die with the
//   process. Our addresses stay, so a VIP refuses at once instead of leaking
//   to the default route, and the next instance adopts them (start).
import { networkInterfaces } from 'node:os';
import { parseIP, type DesiredService } from '../../model/index.js';
import type { StateUpdate } from '../../tracker/index.js';
import type { Dataplane, DataplaneContext, KernelSample } from '../types.js';
import { AddressManager, ADDR_DEVICE, type CommandRunner } from './addresses.js';
import { Balancer, backendKey } from './balancer.js';
import { planRoutes, routeServes, withoutForeignAddresses, type LinkSubnet, type Route, type RoutePlan } from './routes.js';
import { SessionTable } from './sessions.js';
import { TcpFrontend, type ProxyContext, type RefuseReason } from './tcp.js';
import { endSession, UdpFrontend, type UdpSession } from './udp.js';

export { AddressManager } from './addresses.js';

/** Most UDP sessions held at once: each is a socket (a file descriptor). */
export const MAX_UDP_SESSIONS = 16_384;
/** How often failed binds are retried and expired state (affinity, UDP sessions) swept. */
const HOUSEKEEPING_MS = 2_000;

type Frontend = TcpFrontend | UdpFrontend;

export interface UserspaceOptions {
  /** `ip` runner (tests). */
  run?: CommandRunner;
  now?: () => number;
}

class UserspaceDataplane implements Dataplane {
  readonly mode = 'userspace' as const;
  private readonly addrs: AddressManager;
  private readonly balancer: Balancer;
  private readonly sessions: SessionTable<UdpSession>;
  private readonly idleMs: number;
  private sweepTimer: NodeJS.Timeout | null = null;
  private routes = new Map<string, Route>();
  private readonly frontends = new Map<string, Frontend>();
  /** Routes that should serve but whose socket could not bind (retried). */
  private readonly unbound = new Map<string, string>();
  /** Service addresses of ours on lo (adopted at start, then as we add and remove them). */
  private readonly ours = new Set<string>();
  private local = new Set<string>();
  /** This node's links, as of the last listing of its addresses. */
  private links: LinkSubnet[] = [];
  /** Frontends left out by the last sync, so that each is logged once. */
  private skippedBefore = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** apply() and the retry timer never interleave. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly refusedCount = new Map<RefuseReason, number>();
  private readonly acceptedCount = new Map<string, number>();
  private readonly ctxForFrontends: ProxyContext;

  constructor(private readonly ctx: DataplaneContext, opts: UserspaceOptions = {}) {
    this.addrs = new AddressManager(opts.run);
    this.balancer = new Balancer(opts.now ? { now: opts.now } : {});
    // udpIdleTimeout was kube-proxy's userspace proxy's own setting (default 250 ms there); without
    // it, a session lasts as the kernel's UDP conntrack entry would.
    this.idleMs = ctx.config.udpIdleTimeoutMs ?? (ctx.config.conntrack.udpTimeoutMs > 0 ? ctx.config.conntrack.udpTimeoutMs : 30_000);
    this.sessions = new SessionTable<UdpSession>({ idleMs: this.idleMs, max: MAX_UDP_SESSIONS, ...(opts.now ? { now: opts.now } : {}) });
    this.ctxForFrontends = {
      route: (key) => this.routes.get(key),
      localAddresses: () => this.local,
      balancer: this.balancer,
      log: ctx.log,
      refused: (reason) => this.refusedCount.set(reason, (this.refusedCount.get(reason) ?? 0) + 1),
      accepted: (protocol, service) => {
        const k = `${protocol}|${service}`;
        this.acceptedCount.set(k, (this.acceptedCount.get(k) ?? 0) + 1);
      },
    };
  }

  async start(): Promise<void> {
    // Adopt what a previous instance left (after SIGTERM, kill -9 or a crash):
    // the first full sync keeps what is still wanted and removes the rest.
    const found = await this.addrs.list();
    for (const a of found.ours) this.ours.add(a);
    this.links = found.links;
    this.refreshLocal(found.others);
    this.ctx.log.info('userspace proxy ready', { device: ADDR_DEVICE, adoptedAddresses: found.ours.size });
    this.timer = setInterval(() => {
      this.serialized(() => this.housekeeping()).catch((e: Error) => this.ctx.log.warn('userspace housekeeping failed', { error: e.message }));
    }, HOUSEKEEPING_MS);
    this.timer.unref();
    // Idle sessions end within a quarter of their timeout past it: kube-proxy's userspace default
    // was 250 ms, which the housekeeping's pace would stretch eightfold.
    this.sweepTimer = setInterval(() => {
      if (!this.closed) for (const [, s] of this.sessions.sweep()) endSession(s);
    }, Math.min(HOUSEKEEPING_MS, Math.max(50, Math.floor(this.idleMs / 4))));
    this.sweepTimer.unref();
  }

  apply(update: StateUpdate): Promise<void> {
    return this.serialized(() => this.sync(update));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.timer = null;
    await this.queue.catch(() => {});
    // The process is about to exit: every socket goes, connections included.
    for (const f of this.frontends.values()) f instanceof TcpFrontend ? f.close(true) : f.close();
    this.frontends.clear();
    for (const [, s] of this.sessions.removeWhere(() => true)) endSession(s);
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async sync(update: StateUpdate): Promise<void> {
    if (this.closed) throw new Error('userspace dataplane closed');
    const planned = planRoutes(update.state.services.values());
    let plan = withoutForeignAddresses(planned, this.ownAddresses(), this.links);

    // 1. Service addresses: add what is missing first, so the sockets can bind.
    const full = update.changed === 'all';
    const missing = [...plan.addresses].filter((a) => !this.ours.has(a));
    let others: Set<string> | null = null;
    if (full || missing.length > 0) {
      const listed = await this.addrs.list();
      others = listed.others;
      this.links = listed.links;
      plan = withoutForeignAddresses(planned, others, this.links);
      if (full) {
        // Repair drift: someone removed one of ours, or one is ours and we lost track.
        this.ours.clear();
        for (const a of listed.ours) this.ours.add(a);
      }
    }
    this.logSkipped(plan.skipped);
    // An address already local on another device (an external IP that is a node
    // address) is served as it is, never duplicated on lo.
    const toAdd = [...plan.addresses].filter((a) => !this.ours.has(a) && !others?.has(a));
    if (toAdd.length > 0) {
      const err = await this.addrs.add(toAdd);
      // Whatever made it, we own: re-read on failure.
      if (err) {
        const after = await this.addrs.list();
        for (const a of toAdd) if (after.ours.has(a)) this.ours.add(a);
        throw new Error(`cannot add service addresses to ${ADDR_DEVICE}: ${err}`);
      }
      for (const a of toAdd) this.ours.add(a);
    }
    this.refreshLocal(others);

    // 2. Sockets: the connection handlers read routes by key, so a changed
    // backend set takes effect for the next connection with no rebind.
    this.routes = plan.routes;
    const wanted = new Map<string, Route>();
    for (const r of plan.routes.values()) if (routeServes(r)) wanted.set(r.key, r);
    for (const [key, f] of this.frontends) {
      if (wanted.has(key)) continue;
      f.close();
      this.frontends.delete(key);
    }
    for (const key of this.unbound.keys()) if (!wanted.has(key)) this.unbound.delete(key);
    await this.openMissing(wanted);

    // 3. Addresses nobody wants any more, once their sockets are closed.
    const stale = [...this.ours].filter((a) => !plan.addresses.has(a));
    if (stale.length > 0) {
      const err = await this.addrs.remove(stale);
      for (const a of stale) this.ours.delete(a);
      if (err) this.ctx.log.warn('cannot remove service addresses', { error: err });
      this.refreshLocal(others);
    }

    // 4. UDP sessions to backends that left their Service end now (as kube-proxy
    // clears their conntrack entries); TCP connections keep going.
    const liveBackends = new Map<string, Set<string>>();
    for (const r of plan.routes.values()) if (!liveBackends.has(r.service.key)) liveBackends.set(r.service.key, backendsOf(r.service));
    for (const [, s] of this.sessions.removeWhere((x) => !liveBackends.get(x.serviceKey)?.has(x.backend))) endSession(s);
    this.balancer.prune(new Map([...update.state.services.values()].map((s) => [s.key, s.affinity])));
    for (const k of this.acceptedCount.keys()) if (!update.state.services.has(k.slice(4))) this.acceptedCount.delete(k);
  }

  private async openMissing(wanted: ReadonlyMap<string, Route>): Promise<void> {
    const opening: Promise<void>[] = [];
    for (const [key, r] of wanted) {
      if (this.frontends.has(key)) continue;
      const f = r.protocol === 'TCP'
        ? new TcpFrontend(key, r.address, r.port, this.ctxForFrontends)
        : new UdpFrontend(key, r.address, r.port, this.ctxForFrontends, this.sessions);
      opening.push(
        f.open().then(
          () => {
            this.frontends.set(key, f);
            if (this.unbound.delete(key)) this.ctx.log.info('listening after all', { frontend: key });
          },
          (e: NodeJS.ErrnoException) => {
            const why = e.code ?? e.message;
            // Logged once per frontend and reason; retried every few seconds.
            if (this.unbound.get(key) !== why) this.ctx.log.warn('cannot listen on a frontend; retrying', { frontend: key, service: r.service.key, error: why });
            this.unbound.set(key, why);
          },
        ),
      );
    }
    await Promise.all(opening);
  }

  private async housekeeping(): Promise<void> {
    if (this.closed) return;
    this.balancer.prune(new Map([...this.routes.values()].map((r) => [r.service.key, r.service.affinity])));
    this.refreshLocal(null);
    if (this.unbound.size > 0) {
      const wanted = new Map<string, Route>();
      for (const key of this.unbound.keys()) {
        const r = this.routes.get(key);
        if (r && routeServes(r)) wanted.set(key, r);
      }
      await this.openMissing(wanted);
    }
  }

  /** This node's own addresses as last known (not the service addresses of ours). */
  private ownAddresses(): ReadonlySet<string> {
    return new Set([...this.local].filter((a) => !this.ours.has(a)));
  }

  /** Frontends not served: a warning the first time one is left out for a reason of this node's, else debug. */
  private logSkipped(skipped: RoutePlan['skipped']): void {
    const now = new Set<string>();
    for (const { warn, ...s } of skipped) {
      const k = `${s.service} ${s.frontend}`;
      now.add(k);
      if (warn && !this.skippedBefore.has(k)) this.ctx.log.warn('frontend not served', s);
      else this.ctx.log.debug('frontend not served', s);
    }
    this.skippedBefore = now;
  }

  /** This node's addresses, for "is the client this node?" (canonical text). */
  private refreshLocal(others: ReadonlySet<string> | null): void {
    const out = new Set<string>(this.ours);
    for (const a of others ?? []) out.add(a);
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
    for (const a of this.ctx.nodeAddresses()) out.add(a);
    this.local = new Set([...out].map((a) => {
      const p = parseIP(a);
      return p.ok ? p.ip.text : a;
    }));
  }

  kernelMetrics(): Record<string, { help: string; type: 'counter' | 'gauge'; samples: KernelSample[] }> {
    let tcp = 0;
    let tcpListeners = 0;
    for (const f of this.frontends.values()) {
      if (f instanceof TcpFrontend) {
        tcp += f.connections;
        tcpListeners++;
      }
    }
    return {
      ekp_userspace_frontends: {
        help: 'Sockets listening for services, by protocol', type: 'gauge',
        samples: [{ labels: { protocol: 'TCP' }, value: tcpListeners }, { labels: { protocol: 'UDP' }, value: this.frontends.size - tcpListeners }],
      },
      ekp_userspace_open: {
        help: 'Connections being spliced (TCP) and sessions held (UDP)', type: 'gauge',
        samples: [{ labels: { protocol: 'TCP' }, value: tcp }, { labels: { protocol: 'UDP' }, value: this.sessions.size }],
      },
      ekp_userspace_proxied_total: {
        help: 'Connections (TCP) and sessions (UDP) handed to a backend, per service port', type: 'counter',
        samples: [...this.acceptedCount].map(([k, v]) => ({ labels: { protocol: k.slice(0, 3), service: k.slice(4) }, value: v })),
      },
      ekp_userspace_refused_total: {
        help: 'Connections reset and datagrams dropped, by reason', type: 'counter',
        samples: [...this.refusedCount].map(([reason, value]) => ({ labels: { reason }, value })),
      },
      ekp_userspace_unbound_frontends: {
        help: 'Frontends that should listen but could not bind (retried)', type: 'gauge',
        samples: [{ labels: {}, value: this.unbound.size }],
      },
    };
  }
}

function backendsOf(s: DesiredService): Set<string> {
  const out = new Set<string>();
  for (const set of [s.internalBackends, s.shortCircuitBackends, s.externalBackends]) for (const b of set.backends) out.add(backendKey(b));
  return out;
}

export async function createUserspaceDataplane(ctx: DataplaneContext, opts: UserspaceOptions = {}): Promise<Dataplane> {
  return new UserspaceDataplane(ctx, opts);
}

/** --cleanup: every service address of ours on lo. The node's own addresses are never touched. */
export async function cleanupUserspace(_ctx: DataplaneContext, opts: UserspaceOptions = {}): Promise<string[]> {
  const m = new AddressManager(opts.run);
  let ours: Set<string>;
  try {
    ours = (await m.list()).ours;
  } catch {
    return []; // no `ip`: nothing of ours can exist either
  }
  if (ours.size === 0) return [];
  const err = await m.remove(ours);
  const left = err ? (await m.list()).ours : new Set<string>();
  if (left.size > 0) throw new Error(`cannot remove ${[...left].join(', ')} from ${ADDR_DEVICE}: ${err}`);
  return [...ours].map((a) => `address ${a} on ${ADDR_DEVICE}`);
}
