// Maglev table population (pure TypeScript) and the datapath indexing it.
import { describe, expect, it } from 'vitest';
import { MAGLEV_PRIMES, maglevTable, maglevTableSize, type MaglevBackend } from '../../src/dataplane/ebpf/maglev.js';

const backends = (n: number, from = 0): MaglevBackend[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i + 1, name: `10.244.${Math.floor((from + i) / 250)}.${((from + i) % 250) + 1}:8080` }));

function moved(a: Uint32Array, b: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n / a.length;
}

describe('maglev', () => {
  it('picks the smallest listed prime with at least 100 slots per backend, capped', () => {
    expect(maglevTableSize(1)).toBe(251);
    expect(maglevTableSize(3)).toBe(509);
    expect(maglevTableSize(10)).toBe(1021);
    expect(maglevTableSize(100)).toBe(16381);
    expect(maglevTableSize(1000)).toBe(16381);
    expect(maglevTableSize(1000, 65521)).toBe(65521);
    expect(() => maglevTableSize(1, 100)).toThrow(RangeError);
    for (const p of MAGLEV_PRIMES) for (let d = 2; d * d <= p; d++) expect(p % d).not.toBe(0);
  });

  it('fills every slot and gives each backend floor(M/N) or ceil(M/N) slots', () => {
    for (const n of [1, 2, 3, 7, 50]) {
      const t = maglevTable(backends(n));
      expect(t.length).toBe(maglevTableSize(n));
      const count = new Map<number, number>();
      for (const id of t) count.set(id, (count.get(id) ?? 0) + 1);
      expect(count.size).toBe(n);
      for (const c of count.values()) {
        expect(c).toBeGreaterThanOrEqual(Math.floor(t.length / n));
        expect(c).toBeLessThanOrEqual(Math.ceil(t.length / n));
      }
    }
  });

  it('does not depend on input order', () => {
    const b = backends(9);
    expect(maglevTable([...b].reverse())).toEqual(maglevTable(b));
  });

  it('removing one of N backends moves about 1/N of the slots', () => {
    for (const n of [5, 10, 40]) {
      const b = backends(n);
      const size = maglevTableSize(n);
      const before = maglevTable(b, { size });
      const after = maglevTable(b.filter((_, i) => i !== 2), { size });
      const frac = moved(before, after);
      expect(frac).toBeGreaterThanOrEqual(1 / n - 0.01);
      expect(frac).toBeLessThan(1 / n * 1.5 + 0.01);
      // The removed backend's slots must all move; others mostly stay.
      for (let i = 0; i < before.length; i++) if (before[i] === b[2]!.id) expect(after[i]).not.toBe(b[2]!.id);
    }
  });

  it('adding a backend moves about 1/(N+1) of the slots', () => {
    const n = 20;
    const size = maglevTableSize(n + 1);
    const frac = moved(maglevTable(backends(n), { size }), maglevTable(backends(n + 1), { size }));
    expect(frac).toBeGreaterThanOrEqual(1 / (n + 1) - 0.01);
    expect(frac).toBeLessThan(1.5 / (n + 1) + 0.01);
  });

  it('rejects duplicate names and returns an empty table for no backends', () => {
    expect(maglevTable([])).toHaveLength(0);
    expect(() => maglevTable([{ id: 1, name: 'a' }, { id: 2, name: 'a' }])).toThrow(/unique/);
  });
});
