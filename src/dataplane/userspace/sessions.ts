// UDP "connections" of the userspace proxy: one session per client address
// and port on a frontend socket, each with its own socket to the chosen backend,
// closed after an idle timeout. Pure bookkeeping with an injected clock; the
// caller owns the sockets and closes what sweep() hands back.

export interface SessionTableOptions {
  idleMs: number;
  /** Most sessions held at once (new ones are refused beyond it). */
  max: number;
  now?: () => number;
}

interface Entry<S> {
  session: S;
  lastActiveMs: number;
}

export class SessionTable<S> {
  private readonly entries = new Map<string, Entry<S>>();
  private readonly now: () => number;

  constructor(private readonly opts: SessionTableOptions) {
    this.now = opts.now ?? Date.now;
  }

  static key(address: string, port: number): string {
    return `${address}|${port}`;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * This client's session, refreshed. One idle past the timeout but not swept
   * yet is still returned (and revived): the sweep alone ends sessions, so the
   * caller never has to close a session it did not get back from sweep().
   */
  get(key: string): S | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    e.lastActiveMs = this.now();
    return e.session;
  }

  /** Marks traffic on a session (a reply from the backend keeps it alive too). */
  touch(key: string): void {
    const e = this.entries.get(key);
    if (e) e.lastActiveMs = this.now();
  }

  /** false when the table is full: the caller drops the datagram. */
  add(key: string, session: S): boolean {
    if (!this.entries.has(key) && this.entries.size >= this.opts.max) return false;
    this.entries.set(key, { session, lastActiveMs: this.now() });
    return true;
  }

  delete(key: string): S | undefined {
    const e = this.entries.get(key);
    this.entries.delete(key);
    return e?.session;
  }

  /** Removes and returns the sessions idle for the timeout or longer. */
  sweep(): [string, S][] {
    const now = this.now();
    const out: [string, S][] = [];
    for (const [k, e] of this.entries) {
      if (now - e.lastActiveMs >= this.opts.idleMs) {
        this.entries.delete(k);
        out.push([k, e.session]);
      }
    }
    return out;
  }

  /** Removes and returns every session `which` selects (backends gone, the frontend closing). */
  removeWhere(which: (s: S) => boolean): [string, S][] {
    const out: [string, S][] = [];
    for (const [k, e] of this.entries) {
      if (which(e.session)) {
        this.entries.delete(k);
        out.push([k, e.session]);
      }
    }
    return out;
  }

  *sessions(): IterableIterator<S> {
    for (const e of this.entries.values()) yield e.session;
  }
}
