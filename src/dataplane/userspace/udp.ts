// UDP for the userspace proxy. One socket bound to the frontend address:port
// receives every client's datagrams; each client (address and port) gets a
// session: its own socket connected to the backend chosen for it, so that the
// backend's answers can be told apart. Answers go back to the client from the
// frontend socket, so the client sees them come from the VIP:port it asked.
// A session ends after the idle timeout (no datagram either way), when its
// backend leaves the Service, or when the frontend closes.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Backend } from '../../model/index.js';
import { backendKey } from './balancer.js';
import { backendSetFor, classifyClient, parsePeer, routeServes, sourceAllowed } from './routes.js';
import type { SessionTable } from './sessions.js';
import type { ProxyContext } from './tcp.js';

/** Datagrams held per session while its socket connects (more are dropped, as a full queue would). */
const MAX_PENDING = 64;

export interface UdpSession {
  readonly frontend: UdpFrontend;
  readonly serviceKey: string;
  readonly backend: string;
  readonly socket: Socket;
  /** Datagrams waiting for connect(); null once connected. */
  pending: Buffer[] | null;
}

export class UdpFrontend {
  private socket: Socket | null = null;

  constructor(
    readonly key: string,
    readonly address: string,
    readonly port: number,
    private readonly ctx: ProxyContext,
    private readonly sessions: SessionTable<UdpSession>,
  ) {}

  open(): Promise<void> {
    const v6 = this.address.includes(':');
    const socket = createSocket(v6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.address, port: this.port, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', (e) => this.ctx.log.warn('udp frontend error', { frontend: this.key, error: e.message }));
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        this.socket = socket;
        resolve();
      });
    });
  }

  /**
   * Closes the socket (the kernel then answers ICMP port unreachable, as
   * REJECT does) and ends this frontend's sessions.
   */
  close(): void {
    this.socket?.close();
    this.socket = null;
    for (const [, s] of this.sessions.removeWhere((x) => x.frontend === this)) endSession(s);
  }

  private sessionKey(rinfo: RemoteInfo): string {
    return `${this.key}|${rinfo.address}|${rinfo.port}`;
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = this.sessionKey(rinfo);
    const s = this.sessions.get(key) ?? this.newSession(key, rinfo);
    if (!s) return;
    if (s.pending) {
      if (s.pending.length < MAX_PENDING) s.pending.push(msg);
      return;
    }
    send(s.socket, msg);
  }

  /**
   * A new client: checks the source and picks a backend. Refusals drop the
   * datagram silently (kube-proxy's DROP): there is no handshake to reset.
   */
  private newSession(key: string, rinfo: RemoteInfo): UdpSession | null {
    const route = this.ctx.route(this.key);
    const peer = parsePeer(rinfo.address);
    if (!route || !peer || !routeServes(route)) {
      this.ctx.refused('noEndpoints');
      return null;
    }
    if (!sourceAllowed(route, peer)) {
      this.ctx.refused('sourceRange');
      return null;
    }
    const who = classifyClient(route, peer, this.ctx.localAddresses());
    const { scope, set } = backendSetFor(route, who.internal);
    const b: Backend | null = this.ctx.balancer.pick(route.service.key, scope, set.backends, peer.text, route.service.affinity);
    if (!b) {
      this.ctx.refused(set.dropWhenEmpty ? 'dropLocal' : 'noEndpoints');
      return null;
    }
    const socket = createSocket(b.ip.includes(':') ? 'udp6' : 'udp4');
    const s: UdpSession = { frontend: this, serviceKey: route.service.key, backend: backendKey(b), socket, pending: [] };
    if (!this.sessions.add(key, s)) {
      socket.close();
      this.ctx.refused('sessionLimit');
      return null;
    }
    this.ctx.accepted('UDP', route.service.key);
    const front = this.socket;
    socket.on('message', (reply) => {
      this.sessions.touch(key);
      if (front) send(front, reply, rinfo.port, rinfo.address);
    });
    // ECONNREFUSED (the backend's ICMP port unreachable) and the like end the
    // session; the client's next datagram starts a new one, maybe elsewhere.
    socket.on('error', () => {
      if (this.sessions.delete(key)) endSession(s);
    });
    socket.connect(b.port, b.ip, () => {
      const queued = s.pending ?? [];
      s.pending = null;
      for (const m of queued) send(socket, m);
    });
    return s;
  }
}

/** A send on a socket that just closed throws: the datagram is lost, as the network may lose it. */
function send(socket: Socket, msg: Buffer, port?: number, address?: string): void {
  try {
    if (port === undefined) socket.send(msg);
    else socket.send(msg, port, address);
  } catch {
    // closed meanwhile
  }
}

export function endSession(s: UdpSession): void {
  s.pending = null;
  try {
    s.socket.close();
  } catch {
    // already closed
  }
}
