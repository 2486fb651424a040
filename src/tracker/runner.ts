import type { Clock } from './clock.js';

export interface RunnerOptions {
  /** Least time between the end of one run and the start of the next (kube-proxy minSyncPeriod). */
  minIntervalMs: number;
  /** A run happens at least this often even with no changes: the full resync that repairs drift (syncPeriod). */
  maxIntervalMs: number;
  /** After a failed run, the next one comes this soon (bounded below by minInterval). */
  retryIntervalMs: number;
  clock: Clock;
}

export type RunReason = 'requested' | 'periodic' | 'retry';

/**
 * kube-proxy's BoundedFrequencyRunner: many `request()` calls coalesce into one
 * run; runs are at least minInterval apart and at most maxInterval apart; a
 * failure schedules a retry. Runs never overlap: a request during a run is
 * remembered and served after it.
 */
export class BoundedFrequencyRunner {
  private readonly opts: RunnerOptions;
  private readonly fn: (reason: RunReason) => Promise<void>;
  private timer: unknown = null;
  private timerAt = Infinity;
  private timerReason: RunReason = 'periodic';
  private lastEnd = -Infinity;
  private running = false;
  private pendingReason: RunReason | null = null;
  private stopped = true;
  private idle: Promise<void> = Promise.resolve();

  constructor(fn: (reason: RunReason) => Promise<void>, opts: RunnerOptions) {
    if (opts.minIntervalMs < 0 || opts.maxIntervalMs <= 0 || opts.retryIntervalMs < 0) throw new RangeError('runner intervals must be positive');
    this.fn = fn;
    this.opts = opts;
  }

  /** Starts with an immediate first run. */
  start(): void {
    this.stopped = false;
    this.schedule(0, 'requested');
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    return this.idle;
  }

  /** Asks for a run as soon as minInterval allows. */
  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pendingReason = 'requested';
      return;
    }
    this.schedule(Math.max(0, this.lastEnd + this.opts.minIntervalMs - this.opts.clock.now()), 'requested');
  }

  /** Resolves when no run is in progress (for tests and shutdown). */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  private schedule(delayMs: number, reason: RunReason): void {
    const at = this.opts.clock.now() + delayMs;
    // Keep the earlier of an existing timer and this one.
    if (this.timer !== null && this.timerAt <= at) return;
    this.cancelTimer();
    this.timerAt = at;
    this.timerReason = reason;
    this.timer = this.opts.clock.setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      void this.runNow(this.timerReason);
    }, delayMs);
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.opts.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private async runNow(reason: RunReason): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    let done!: () => void;
    this.idle = new Promise((r) => (done = r));
    let failed = false;
    try {
      await this.fn(reason);
    } catch {
      failed = true;
    }
    this.running = false;
    this.lastEnd = this.opts.clock.now();
    done();
    if (this.stopped) return;
    const { minIntervalMs, maxIntervalMs, retryIntervalMs } = this.opts;
    this.schedule(maxIntervalMs, 'periodic');
    if (failed) this.schedule(Math.max(minIntervalMs, retryIntervalMs), 'retry');
    if (this.pendingReason) {
      this.pendingReason = null;
      this.schedule(minIntervalMs, 'requested');
    }
  }
}
