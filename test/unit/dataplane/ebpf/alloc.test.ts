import { describe, expect, it } from 'vitest';
import { SlotPool } from '../../../../src/dataplane/ebpf/alloc.js';

describe('SlotPool', () => {
  it('unaligned: first fit, exact lengths, holes coalesce', () => {
    const p = new SlotPool(10);
    expect([p.allocate(3), p.allocate(3), p.allocate(4)]).toEqual([0, 3, 6]);
    expect(() => p.allocate(1)).toThrow(/slot pool full/);
    p.release(3, 3);
    p.release(0, 3);
    expect(p.used).toBe(4);
    expect(p.allocate(6)).toBe(0);
  });

  it('aligned to 2: regions start at even slots and own their padding', () => {
    const p = new SlotPool(12, 2);
    expect(p.allocate(3)).toBe(0);
    expect(p.allocate(1)).toBe(4);
    expect(p.used).toBe(6);
    p.release(0, 3);
    expect(p.used).toBe(2);
    expect(p.allocate(4)).toBe(0);
    expect(p.allocate(6)).toBe(6);
    expect(() => p.allocate(1)).toThrow(/slot pool full/);
  });

  it('aligned to 2: claimed odd regions (adopted state) are skipped to the next even slot', () => {
    const p = new SlotPool(12, 2);
    p.claim(1, 3); // slots 1..3
    expect(p.allocate(2)).toBe(4); // slot 0 is free but alone in its entry with slot 1
    p.claim(7, 2); // slots 7..8
    expect(p.allocate(2)).toBe(10); // 6 is alone with 7; 9 starts no entry
    expect(() => p.allocate(2)).toThrow(/slot pool full/);
    p.release(1, 3);
    expect(p.allocate(4)).toBe(0);
    expect(p.used).toBe(2 + 2 + 2 + 4);
  });
});
