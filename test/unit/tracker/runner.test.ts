import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/tracker/clock.js';
import { BoundedFrequencyRunner, type RunReason } from '../../../src/tracker/runner.js';

/** Lets the runner's promise chain settle after a timer fired. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

function setup(opts: { fail?: () => boolean; runMs?: number } = {}) {
  const clock = new FakeClock();
  const runs: { at: number; reason: RunReason }[] = [];
  const runner = new BoundedFrequencyRunner(async (reason) => {
    runs.push({ at: clock.now(), reason });
    if (opts.fail?.()) throw new Error('sync failed');
  }, { minIntervalMs: 1000, maxIntervalMs: 30_000, retryIntervalMs: 500, clock });
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  return { clock, runs, runner, advance };
}

describe('BoundedFrequencyRunner', () => {
  it('runs at once on start, then every maxInterval with no requests', async () => {
    const { runs, runner, advance } = setup();
    runner.start();
    await advance(0);
    expect(runs).toEqual([{ at: 0, reason: 'requested' }]);
    await advance(30_000);
    await advance(30_000);
    expect(runs.map((r) => [r.at, r.reason])).toEqual([[0, 'requested'], [30_000, 'periodic'], [60_000, 'periodic']]);
    await runner.stop();
  });

  it('coalesces a burst of requests into one run, minInterval after the last', async () => {
    const { runs, runner, advance } = setup();
    runner.start();
    await advance(0);
    for (let i = 0; i < 50; i++) runner.request();
    await advance(999);
    expect(runs).toHaveLength(1);
    await advance(1);
    expect(runs).toHaveLength(2);
    expect(runs[1]).toEqual({ at: 1000, reason: 'requested' });
    await runner.stop();
  });

  it('a request long after the last run runs immediately', async () => {
    const { runs, runner, advance } = setup();
    runner.start();
    await advance(0);
    await advance(5000);
    runner.request();
    await advance(0);
    expect(runs.map((r) => r.at)).toEqual([0, 5000]);
    await runner.stop();
  });

  it('a failure is retried after max(minInterval, retryInterval), then periodic again', async () => {
    let failures = 2;
    const { runs, runner, advance } = setup({ fail: () => failures-- > 0 });
    runner.start();
    await advance(0);
    await advance(1000);
    await advance(1000);
    expect(runs.map((r) => [r.at, r.reason])).toEqual([[0, 'requested'], [1000, 'retry'], [2000, 'retry']]);
    await advance(30_000);
    expect(runs.at(-1)).toEqual({ at: 32_000, reason: 'periodic' });
    await runner.stop();
  });

  it('a request during a run is served after it, not concurrently', async () => {
    const clock = new FakeClock();
    let release!: () => void;
    let active = 0;
    let maxActive = 0;
    const starts: number[] = [];
    const runner = new BoundedFrequencyRunner(async () => {
      starts.push(clock.now());
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => (release = r));
      active--;
    }, { minIntervalMs: 100, maxIntervalMs: 10_000, retryIntervalMs: 100, clock });
    runner.start();
    clock.advance(0);
    await settle();
    runner.request();
    clock.advance(500);
    await settle();
    expect(starts).toEqual([0]);
    release();
    await settle();
    clock.advance(100);
    await settle();
    expect(starts).toEqual([0, 600]);
    release();
    await settle();
    expect(maxActive).toBe(1);
    await runner.stop();
  });

  it('stop cancels timers and ignores later requests', async () => {
    const { clock, runs, runner, advance } = setup();
    runner.start();
    await advance(0);
    await runner.stop();
    runner.request();
    await advance(100_000);
    expect(runs).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });
});
