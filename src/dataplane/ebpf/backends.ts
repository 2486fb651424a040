import { ipv4Number } from '../../model/index.js';

/**
 * The writer's backends (address:port → backend id, with what it keeps per id) in flat arrays
 * indexed by id, and an open-addressing table for IPv4 keys: no object, map entry or key string
 * per backend, where a large cluster has a hundred thousand of them and a full sync looks each
 * up. Other addresses (IPv6) go through a Map keyed by text.
 */
export class BackendTable {
  /** Per id; ip '' means no backend. */
  private ips: string[] = [];
  private ports = new Uint16Array(0);
  /** The IPv4 address as a number, for the table's key compare. */
  private v4 = new Float64Array(0);
  private refCounts = new Int32Array(0);
  /** EKP_BE_F_*; -1 for an adopted entry whose meaning the first sync restates. */
  private flagBits = new Int16Array(0);
  private queued = new Uint32Array(0);
  /** Open addressing, linear probing: id + 1, or 0 for an empty slot. */
  private slots = new Int32Array(4096);
  private inTable = 0;
  private readonly other = new Map<string, number>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The id of ip:port, or -1. */
  find(ip: string, port: number): number {
    const n = ipv4Number(ip);
    if (n < 0) return this.other.get(`${ip}|${port}`) ?? -1;
    const mask = this.slots.length - 1;
    for (let i = hash(n, port) & mask; ; i = (i + 1) & mask) {
      const s = this.slots[i]!;
      if (s === 0) return -1;
      if (this.v4[s - 1] === n && this.ports[s - 1] === port) return s - 1;
    }
  }

  /** Adds ip:port as `id`, with no references. Adding an address twice (adopting a damaged map) keeps both ids; find gives one. */
  add(id: number, ip: string, port: number, flags: number): void {
    this.grow(id);
    this.ips[id] = ip;
    this.ports[id] = port;
    this.refCounts[id] = 0;
    this.flagBits[id] = flags;
    this.queued[id] = 0;
    this.count++;
    const n = ipv4Number(ip);
    this.v4[id] = n;
    if (n < 0) {
      this.other.set(`${ip}|${port}`, id);
      return;
    }
    // At most half full; growing fourfold keeps the rehashing of a cold sync to about one pass.
    if (2 * (this.inTable + 1) > this.slots.length) this.rehash(this.slots.length * 4);
    this.place(id);
    this.inTable++;
  }

  remove(id: number): void {
    const ip = this.ips[id];
    if (!ip) return;
    const port = this.ports[id]!;
    this.ips[id] = '';
    this.count--;
    if (this.v4[id]! < 0) {
      // A restart can adopt the same address twice (a map a crash left half-written).
      const key = `${ip}|${port}`;
      if (this.other.get(key) === id) this.other.delete(key);
      return;
    }
    const mask = this.slots.length - 1;
    let i = hash(this.v4[id]!, port) & mask;
    while (this.slots[i] !== id + 1) i = (i + 1) & mask;
    // Backward-shift deletion: move later entries of the probe run into the hole so that
    // every lookup still finds its entry before the first empty slot.
    let hole = i;
    for (let j = (i + 1) & mask; this.slots[j] !== 0; j = (j + 1) & mask) {
      const s = this.slots[j]! - 1;
      const home = hash(this.v4[s]!, this.ports[s]!) & mask;
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      if ((j > hole && (home <= hole || home > j)) || (j < hole && home <= hole && home > j)) {
        this.slots[hole] = this.slots[j]!;
        hole = j;
      }
    }
    this.slots[hole] = 0;
    this.inTable--;
  }

  ip(id: number): string {
    return this.ips[id]!;
  }

  port(id: number): number {
    return this.ports[id]!;
  }

  flags(id: number): number {
    return this.flagBits[id]!;
  }

  setFlags(id: number, flags: number): void {
    this.flagBits[id] = flags;
  }

  refs(id: number): number {
    return this.refCounts[id]!;
  }

  /** Adds `d` references; returns the new count. */
  ref(id: number, d: number): number {
    return (this.refCounts[id]! += d);
  }

  /** Marks `id` queued for writing in apply() number `gen`; false if it already was. */
  queue(id: number, gen: number): boolean {
    if (this.queued[id] === gen) return false;
    this.queued[id] = gen;
    return true;
  }

  /** Every id in use. */
  *ids(): IterableIterator<number> {
    for (let id = 0; id < this.ips.length; id++) if (this.ips[id]) yield id;
  }

  private place(id: number): void {
    const mask = this.slots.length - 1;
    let i = hash(this.v4[id]!, this.ports[id]!) & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = id + 1;
  }

  private rehash(size: number): void {
    this.slots = new Int32Array(size);
    for (let id = 0; id < this.ips.length; id++) if (this.ips[id] && this.v4[id]! >= 0) this.place(id);
  }

  private grow(id: number): void {
    if (id < this.ports.length) return;
    let n = Math.max(1024, this.ports.length);
    while (n <= id) n *= 2;
    const widen = <T extends Uint16Array | Float64Array | Int32Array | Int16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.ports = widen(this.ports, (k) => new Uint16Array(k));
    this.v4 = widen(this.v4, (k) => new Float64Array(k));
    this.refCounts = widen(this.refCounts, (k) => new Int32Array(k));
    this.flagBits = widen(this.flagBits, (k) => new Int16Array(k));
    this.queued = widen(this.queued, (k) => new Uint32Array(k));
    for (let i = this.ips.length; i < n; i++) this.ips.push('');
  }
}

/** Address and port mixed into 32 bits (murmur3's finaliser), so that the low bits index well. */
function hash(v4: number, port: number): number {
  let h = (v4 | 0) ^ Math.imul(port, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
