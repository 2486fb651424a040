/** Small integer ids (svc_id, backend id) from [min, max], lowest free first. */
export class IdAllocator {
  /** A bit per id in [min, max]: a fixed few KB where a Set grew by an entry per backend. */
  private readonly used: Uint32Array;
  private count = 0;
  private free: number[] = [];
  private next: number;

  constructor(private readonly min: number, private readonly max: number) {
    this.next = min;
    this.used = new Uint32Array(Math.ceil((max - min + 1) / 32));
  }

  private has(id: number): boolean {
    const i = id - this.min;
    return (this.used[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private mark(id: number, on: boolean): void {
    const i = id - this.min;
    if (on) this.used[i >>> 5]! |= 1 << (i & 31);
    else this.used[i >>> 5]! &= ~(1 << (i & 31));
    this.count += on ? 1 : -1;
  }

  /** Marks an id taken (adopting state a previous instance left in the maps). */
  claim(id: number): void {
    if (!Number.isInteger(id) || id < this.min || id > this.max) throw new RangeError(`id ${id} outside ${this.min}..${this.max}`);
    if (!this.has(id)) this.mark(id, true);
    while (this.next <= this.max && this.has(this.next)) this.next++;
  }

  allocate(): number {
    while (this.free.length) {
      const id = this.free.pop()!;
      if (!this.has(id)) {
        this.mark(id, true);
        return id;
      }
    }
    while (this.next <= this.max && this.has(this.next)) this.next++;
    if (this.next > this.max) throw new RangeError(`no free id left in ${this.min}..${this.max} (raise the map size)`);
    this.mark(this.next, true);
    return this.next++;
  }

  release(id: number): void {
    if (!Number.isInteger(id) || id < this.min || id > this.max || !this.has(id)) return;
    this.mark(id, false);
    this.free.push(id);
  }

  get size(): number {
    return this.count;
  }
}

/**
 * First-fit allocator of regions in the flat slot pool (ekp_slots_v2). A
 * service's table is written to a fresh region before its entry flips to it,
 * so during a change old and new regions briefly coexist. With `align` > 1 a
 * region starts at a multiple of it and is padded to one (the pool stores that
 * many slots per map entry, and a region must own its entries whole).
 */
export class SlotPool {
  /** Free regions sorted by offset, coalesced. */
  private holes: { off: number; len: number }[];
  private usedSlots = 0;
  /** Slots reserved for each region by its offset (its length, padded). */
  private readonly reserved = new Map<number, number>();

  constructor(readonly capacity: number, private readonly align = 1) {
    this.holes = [{ off: 0, len: capacity }];
  }

  allocate(len: number): number {
    if (len <= 0) throw new RangeError('slot region length must be positive');
    const a = this.align;
    const want = Math.ceil(len / a) * a;
    const start = (h: { off: number }) => Math.ceil(h.off / a) * a;
    const i = this.holes.findIndex((h) => start(h) + want <= h.off + h.len);
    if (i < 0) {
      throw new RangeError(`slot pool full: need ${len} slots, ${this.capacity - this.usedSlots} of ${this.capacity} free but fragmented or too few (raise --bpf-slots)`);
    }
    const off = start(this.holes[i]!);
    this.take(i, off, want);
    return off;
  }

  /** Marks a region taken (adopting state); it must lie inside one hole. */
  claim(off: number, len: number): void {
    const i = this.holes.findIndex((h) => h.off <= off && off + len <= h.off + h.len);
    if (i < 0) throw new RangeError(`slot region ${off}+${len} overlaps one already in use`);
    this.take(i, off, len);
  }

  private take(i: number, off: number, len: number): void {
    const h = this.holes[i]!;
    const parts = [{ off: h.off, len: off - h.off }, { off: off + len, len: h.off + h.len - off - len }].filter((p) => p.len > 0);
    this.holes.splice(i, 1, ...parts);
    this.reserved.set(off, len);
    this.usedSlots += len;
  }

  /** Frees the region at `off` (`len` is its length as allocated or claimed; padding goes with it). */
  release(off: number, len: number): void {
    len = this.reserved.get(off) ?? len;
    this.reserved.delete(off);
    let i = this.holes.findIndex((h) => h.off > off);
    if (i < 0) i = this.holes.length;
    this.holes.splice(i, 0, { off, len });
    // Coalesce with neighbours so large tables still fit after churn.
    for (let j = Math.max(0, i - 1); j < this.holes.length - 1;) {
      const a = this.holes[j]!;
      const b = this.holes[j + 1]!;
      if (a.off + a.len === b.off) this.holes.splice(j, 2, { off: a.off, len: a.len + b.len });
      else if (j >= i) break;
      else j++;
    }
    this.usedSlots -= len;
  }

  get used(): number {
    return this.usedSlots;
  }
}
