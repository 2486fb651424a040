import { afterAll, beforeAll, describe, expect } from 'vitest';
import { native, type BpfObject } from '../../src/native/index.js';
import { mountPrivateBpffs, type PrivateBpffs } from '../support/bpffs.js';
import { kernelIt } from '../support/capability.js';
import { openFixture, sumPerCpu, u32, u64 } from './fixture.js';

const it = kernelIt();

describe('map operations on every map type the datapath uses', () => {
  let obj: BpfObject;
  let fs: PrivateBpffs;
  beforeAll(() => {
    fs = mountPrivateBpffs();
    // A common LRU map hands out free entries to each CPU 128 at a time and evicts once its global free
    // list runs dry, so it holds n entries for sure only with room for n + 128 per CPU: 1,024 did not on
    // a CI machine (872 of the 1,000 batch entries survived).
    obj = openFixture({ pinRoot: fs.path }, (o) => o.setMaxEntries('fx_lru', 1024 + 128 * native().possibleCpus()));
  });
  afterAll(() => {
    obj?.close();
    fs?.dispose();
  });

  it.each(['fx_hash', 'fx_lru'])('%s: update, lookup, overwrite, delete', (name) => {
    const m = obj.map(name);
    expect(m.lookup(u32(7))).toBeNull();
    m.update(u32(7), u64(70));
    expect(m.lookup(u32(7))?.readBigUInt64LE(0)).toBe(70n);
    expect(() => m.update(u32(7), u64(71), 'noexist')).toThrow(/EEXIST|exists/);
    m.update(u32(7), u64(71), 'exist');
    expect(m.lookup(u32(7))?.readBigUInt64LE(0)).toBe(71n);
    expect(m.delete(u32(7))).toBe(true);
    expect(m.delete(u32(7))).toBe(false);
    expect(() => m.update(u32(8), u64(1), 'exist')).toThrow(/ENOENT|No such/);
  });

  it.each(['fx_hash', 'fx_lru'])('%s: batch update, iterate, batch delete of 1000 entries', (name) => {
    const m = obj.map(name);
    const n = 1000;
    const keys = Buffer.alloc(n * 4);
    const values = Buffer.alloc(n * 8);
    for (let i = 0; i < n; i++) {
      keys.writeUInt32LE(10_000 + i, i * 4);
      values.writeBigUInt64LE(BigInt(i * 3), i * 8);
    }
    expect(m.updateBatch(keys, values)).toBe(n);
    const seen = new Map<number, bigint>();
    for (const [k, v] of m.entries()) seen.set(k.readUInt32LE(0), v.readBigUInt64LE(0));
    expect(seen.size).toBe(n);
    expect(seen.get(10_500)).toBe(1500n);
    expect([...m.keys()].length).toBe(n);
    // Deleting more keys than exist is fine: absent keys are the goal.
    const extra = Buffer.concat([keys, u32(99_999)]);
    expect(m.deleteBatch(extra)).toBe(n);
    expect([...m.entries()].length).toBe(0);
  });

  it('array: every index exists, updates stick, delete is refused', () => {
    const m = obj.map('fx_array');
    expect(m.lookup(u32(63))?.readBigUInt64LE(0)).toBe(0n);
    const keys = Buffer.concat([u32(1), u32(2), u32(3)]);
    m.updateBatch(keys, Buffer.concat([u64(11), u64(22), u64(33)]));
    expect(m.lookup(u32(2))?.readBigUInt64LE(0)).toBe(22n);
    expect([...m.entries()].length).toBe(64);
    expect(() => m.update(u32(64), u64(1))).toThrow(/E2BIG|Argument list too long/);
    expect(() => m.delete(u32(1))).toThrow(/EINVAL/);
    // A part of it in one read, from any index; past the end reads as zeros.
    expect(m.arrayValues(1, 3)).toEqual(Buffer.concat([u64(11), u64(22), u64(33)]));
    expect(m.arrayValues(2, 1)).toEqual(u64(22));
    expect(m.arrayValues(62, 4)).toEqual(Buffer.alloc(32));
    expect(m.arrayValues(0, 64).length).toBe(64 * 8);
  });

  it('per-CPU array: one value per possible CPU', () => {
    const m = obj.map('fx_pcpu');
    expect(m.perCpu).toBe(true);
    const cpus = m.valueBytes / 8;
    expect(cpus).toBeGreaterThanOrEqual(1);
    const value = Buffer.alloc(m.valueBytes);
    for (let c = 0; c < cpus; c++) value.writeBigUInt64LE(BigInt(c + 1), c * 8);
    m.update(u32(3), value);
    const back = m.lookup(u32(3))!;
    expect(sumPerCpu(m.splitPerCpu(back))).toBe(BigInt((cpus * (cpus + 1)) / 2));
    m.updateBatch(Buffer.concat([u32(3)]), Buffer.alloc(m.valueBytes));
    expect(sumPerCpu(m.splitPerCpu(m.lookup(u32(3))!))).toBe(0n);
  });

  it('LPM trie: longest prefix wins; batch falls back to one-by-one', () => {
    const m = obj.map('fx_lpm');
    const key = (prefix: number, a: string) => {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(prefix, 0);
      Buffer.from(a.split('.').map(Number)).copy(b, 4);
      return b;
    };
    const keys = Buffer.concat([key(8, '10.0.0.0'), key(24, '10.1.2.0')]);
    expect(m.updateBatch(keys, Buffer.concat([u32(8), u32(24)]))).toBe(2);
    expect(m.lookup(key(32, '10.1.2.3'))?.readUInt32LE(0)).toBe(24);
    expect(m.lookup(key(32, '10.9.9.9'))?.readUInt32LE(0)).toBe(8);
    expect(m.lookup(key(32, '11.0.0.1'))).toBeNull();
    expect([...m.entries()].length).toBe(2);
    expect(m.deleteBatch(keys)).toBe(2);
  });

  it('wrong key or value sizes are refused in TypeScript, naming the map', () => {
    const m = obj.map('fx_hash');
    expect(() => m.lookup(Buffer.alloc(3))).toThrow(/map fx_hash: key must be 4 bytes, got 3/);
    expect(() => m.update(u32(1), Buffer.alloc(4))).toThrow(/map fx_hash: values must be 8 bytes/);
    expect(() => m.updateBatch(Buffer.alloc(8), Buffer.alloc(8))).toThrow(/values must be 16 bytes \(2 × 8\)/);
    expect(() => m.deleteBatch(Buffer.alloc(5))).toThrow(/multiple of 4 bytes/);
  });

  it('unknown map or program names list what the object has', () => {
    expect(() => obj.map('nope')).toThrow(/no map named nope .*fx_hash/);
    expect(() => obj.program('nope')).toThrow(/no program named nope .*fx_xdp/);
  });
});
