import type { MapLike } from '../../../../src/dataplane/ebpf/writer.js';

/** An in-memory map with the batch semantics of a BPF hash/array map, logging every operation. */
export class FakeMap implements MapLike {
  readonly data = new Map<string, Buffer>();
  constructor(readonly name: string, readonly keySize: number, readonly valueSize: number, readonly log: string[] = []) {}

  update(key: Buffer, value: Buffer): void {
    this.log.push(`${this.name} update`);
    this.data.set(key.toString('hex'), Buffer.from(value));
  }
  delete(key: Buffer): boolean {
    this.log.push(`${this.name} delete`);
    return this.data.delete(key.toString('hex'));
  }
  updateBatch(keys: Buffer, values: Buffer): number {
    const n = keys.length / this.keySize;
    this.log.push(`${this.name} updateBatch ${n}`);
    for (let i = 0; i < n; i++) {
      this.data.set(keys.subarray(i * this.keySize, (i + 1) * this.keySize).toString('hex'), Buffer.from(values.subarray(i * this.valueSize, (i + 1) * this.valueSize)));
    }
    return n;
  }
  deleteBatch(keys: Buffer): number {
    const n = keys.length / this.keySize;
    this.log.push(`${this.name} deleteBatch ${n}`);
    let d = 0;
    for (let i = 0; i < n; i++) if (this.data.delete(keys.subarray(i * this.keySize, (i + 1) * this.keySize).toString('hex'))) d++;
    return d;
  }
  /** As an array map: keys are u32 indexes, and one never written reads as zeros. */
  arrayValues(first: number, count: number): Buffer {
    this.log.push(`${this.name} arrayValues ${count}`);
    const out = Buffer.alloc(count * this.valueSize);
    for (let i = 0; i < count; i++) this.data.get(Buffer.from(new Uint32Array([first + i]).buffer).toString('hex'))?.copy(out, i * this.valueSize);
    return out;
  }
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const [k, v] of [...this.data]) yield [Buffer.from(k, 'hex'), v];
  }
}
