import { join } from 'node:path';
import { BpfObject, packageRoot, type OpenOptions } from '../../src/native/index.js';

export const FIXTURE = join(packageRoot(), 'build', 'Release', 'bpf', 'native_fixture.bpf.o');

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export function openFixture(opts: OpenOptions = {}, configure?: (o: BpfObject) => void): BpfObject {
  const obj = BpfObject.open(FIXTURE, opts);
  configure?.(obj);
  return obj.load();
}

/** Sum of a per-CPU u64 counter value. */
export function sumPerCpu(values: Buffer[]): bigint {
  return values.reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
}
