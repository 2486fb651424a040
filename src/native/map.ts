import { constant, native, type NativeMapDescriptor } from './binding.js';
import { naming } from './errors.js';

export type UpdateFlag = 'any' | 'noexist' | 'exist';

const PER_CPU_TYPES = ['BPF_MAP_TYPE_PERCPU_HASH', 'BPF_MAP_TYPE_PERCPU_ARRAY', 'BPF_MAP_TYPE_LRU_PERCPU_HASH'];

/** Entries asked for per batch lookup: large enough to amortise the syscall. */
const LOOKUP_BATCH = 4096;

function updateFlag(flag: UpdateFlag): number {
  switch (flag) {
    case 'any': return constant('BPF_ANY');
    case 'noexist': return constant('BPF_NOEXIST');
    case 'exist': return constant('BPF_EXIST');
  }
}

/**
 * A BPF map by file descriptor. Keys and values are packed Buffers whose layout
 * the dataplane's codec owns; this class checks only their sizes. For per-CPU
 * maps a value is `valueSize` rounded up to 8 bytes, once per possible CPU.
 */
export class BpfMap {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  /** Bytes of one lookup result: valueSize, or the per-CPU array of them. */
  readonly valueBytes: number;
  private readonly ownsFd: boolean;
  private closed = false;

  constructor(d: Pick<NativeMapDescriptor, 'name' | 'fd' | 'type' | 'keySize' | 'valueSize' | 'maxEntries'>, ownsFd = false) {
    this.name = d.name;
    this.fd = d.fd;
    this.type = d.type;
    this.keySize = d.keySize;
    this.valueSize = d.valueSize;
    this.maxEntries = d.maxEntries;
    this.perCpu = PER_CPU_TYPES.some((t) => constant(t) === d.type);
    this.valueBytes = this.perCpu ? Math.ceil(d.valueSize / 8) * 8 * native().possibleCpus() : d.valueSize;
    this.ownsFd = ownsFd;
  }

  /** Opens a map pinned at `path` (e.g. by a previous run of the daemon). */
  static openPinned(path: string): BpfMap {
    const n = native();
    const fd = naming({ map: path }, () => n.objGet(path));
    try {
      const info = n.mapInfo(fd);
      return new BpfMap({ ...info, fd }, true);
    } catch (e) {
      n.closeFd(fd);
      throw e;
    }
  }

  lookup(key: Buffer): Buffer | null {
    this.checkKey(key);
    const value = Buffer.alloc(this.valueBytes);
    return this.call(() => native().mapLookup(this.fd, key, value)) ? value : null;
  }

  update(key: Buffer, value: Buffer, flag: UpdateFlag = 'any'): void {
    this.checkKey(key);
    this.checkValue(value, 1);
    this.call(() => native().mapUpdate(this.fd, key, value, updateFlag(flag)));
  }

  /** Returns false when the key was not there. */
  delete(key: Buffer): boolean {
    this.checkKey(key);
    return this.call(() => native().mapDelete(this.fd, key));
  }

  /** Writes n packed entries in one call; returns n. */
  updateBatch(keys: Buffer, values: Buffer, flag: UpdateFlag = 'any'): number {
    const n = this.batchCount(keys);
    this.checkValue(values, n);
    if (n === 0) return 0;
    return this.call(() => native().mapUpdateBatch(this.fd, keys, values, n, this.keySize, this.valueBytes, updateFlag(flag)));
  }

  /** Deletes n packed keys in one call; absent keys are skipped. Returns how many were deleted. */
  deleteBatch(keys: Buffer): number {
    const n = this.batchCount(keys);
    if (n === 0) return 0;
    return this.call(() => native().mapDeleteBatch(this.fd, keys, n, this.keySize));
  }

  /** Every key, by walking get_next_key (safe while the map changes; may skip or repeat then). */
  *keys(): IterableIterator<Buffer> {
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      if (!this.call(() => native().mapNextKey(this.fd, prev, next))) return;
      yield next;
      prev = next;
    }
  }

  /** Every entry, read in batches of thousands where the map type allows. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    const n = native();
    const cursorSize = Math.max(this.keySize, 8);
    let inBatch: Buffer | null = null;
    let outBatch = Buffer.alloc(cursorSize);
    for (;;) {
      const keys = Buffer.alloc(this.keySize * LOOKUP_BATCH);
      const values = Buffer.alloc(this.valueBytes * LOOKUP_BATCH);
      const r = this.call(() => n.mapLookupBatch(this.fd, inBatch, outBatch, keys, values, LOOKUP_BATCH));
      if (!r.supported) {
        yield* this.entriesOneByOne();
        return;
      }
      for (let i = 0; i < r.count; i++) {
        yield [
          keys.subarray(i * this.keySize, (i + 1) * this.keySize),
          values.subarray(i * this.valueBytes, (i + 1) * this.valueBytes),
        ];
      }
      if (r.done) return;
      inBatch = outBatch;
      outBatch = Buffer.alloc(cursorSize);
    }
  }

  /**
   * An array map's values for keys [first, first + count), packed, read in batches: a part
   * of a large array without a pass over the rest. Keys past the end read as zeros.
   */
  arrayValues(first: number, count: number): Buffer {
    const out = Buffer.alloc(count * this.valueBytes);
    const n = native();
    let got = 0;
    // A batch resumes after its cursor key: to start at `first`, the cursor is the key before it.
    let cursor: Buffer | null = first > 0 ? Buffer.from(new Uint32Array([first - 1]).buffer) : null;
    while (got < count) {
      const want = Math.min(LOOKUP_BATCH, count - got);
      const keys = Buffer.alloc(4 * want);
      const next = Buffer.alloc(Math.max(this.keySize, 8));
      const r = this.call(() => n.mapLookupBatch(this.fd, cursor, next, keys, out.subarray(got * this.valueBytes, (got + want) * this.valueBytes), want));
      if (!r.supported) {
        for (; got < count; got++) this.lookup(Buffer.from(new Uint32Array([first + got]).buffer))?.copy(out, got * this.valueBytes);
        break;
      }
      got += r.count;
      if (r.done || r.count === 0) break;
      cursor = next;
    }
    return out;
  }

  /** Per-CPU values split into one Buffer per CPU. */
  splitPerCpu(value: Buffer): Buffer[] {
    if (!this.perCpu) return [value];
    const stride = Math.ceil(this.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let off = 0; off < value.length; off += stride) out.push(value.subarray(off, off + this.valueSize));
    return out;
  }

  /** Closes the descriptor if this object opened it (maps of a BpfObject close with it). */
  close(): void {
    if (this.ownsFd && !this.closed) native().closeFd(this.fd);
    this.closed = true;
  }

  private *entriesOneByOne(): IterableIterator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) yield [key, value];
    }
  }

  private call<T>(fn: () => T): T {
    if (this.closed) throw Object.assign(new Error(`map ${this.name}: closed`), { code: 'EBADF', map: this.name });
    return naming({ map: this.name }, fn);
  }

  private checkKey(key: Buffer): void {
    if (!Buffer.isBuffer(key) || key.length !== this.keySize) {
      throw new RangeError(`map ${this.name}: key must be ${this.keySize} bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
    }
  }

  private checkValue(value: Buffer, count: number): void {
    if (!Buffer.isBuffer(value) || value.length !== this.valueBytes * count) {
      const got = Buffer.isBuffer(value) ? `${value.length}` : typeof value;
      throw new RangeError(`map ${this.name}: values must be ${this.valueBytes * count} bytes (${count} × ${this.valueBytes}), got ${got}`);
    }
  }

  private batchCount(keys: Buffer): number {
    if (!Buffer.isBuffer(keys) || keys.length % this.keySize !== 0) {
      throw new RangeError(`map ${this.name}: packed keys must be a multiple of ${this.keySize} bytes, got ${Buffer.isBuffer(keys) ? keys.length : typeof keys}`);
    }
    return keys.length / this.keySize;
  }
}
