import { describe, expect, it } from 'vitest';
import { ExponentialBackoff } from '../../../../src/sources/kubernetes/index.js';

describe('ExponentialBackoff', () => {
  it('doubles from 100 ms to a 30 s ceiling by default', () => {
    const b = new ExponentialBackoff({ random: () => 0.5 });
    const delays = Array.from({ length: 12 }, () => b.next());
    expect(delays).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('starts over after reset', () => {
    const b = new ExponentialBackoff({ random: () => 0.5 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads each delay by ±jitter, never past the ceiling', () => {
    expect(new ExponentialBackoff({ random: () => 0 }).next()).toBe(80);
    expect(new ExponentialBackoff({ random: () => 0.999999 }).next()).toBe(120);
    const capped = new ExponentialBackoff({ initialMs: 30_000, random: () => 0.999999 });
    expect(capped.next()).toBe(30_000);
  });

  it('survives a very long outage without overflowing', () => {
    const b = new ExponentialBackoff({ random: () => 0.5 });
    for (let i = 0; i < 10_000; i++) b.next();
    expect(b.next()).toBe(30_000);
  });

  it('rejects nonsense', () => {
    expect(() => new ExponentialBackoff({ initialMs: -1 })).toThrow(RangeError);
    expect(() => new ExponentialBackoff({ initialMs: 100, maxMs: 10 })).toThrow(RangeError);
    expect(() => new ExponentialBackoff({ factor: 0.5 })).toThrow(RangeError);
  });
});
