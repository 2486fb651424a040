// Exponential backoff with jitter for reconnects and relists, in the manner of client-go's
// reflector: 100 ms doubling to 30 s, randomised so that every proxy in a cluster does not
// hit a recovering API server in the same instant.

import type { Backoff, BackoffOptions } from './types.js';

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 100,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.2,
  resetAfterMs: 60_000,
  random: Math.random,
};

export class ExponentialBackoff implements Backoff {
  private readonly opts: BackoffOptions;
  private attempt = 0;

  constructor(opts: Partial<BackoffOptions> = {}) {
    this.opts = { ...DEFAULT_BACKOFF, ...opts };
    if (!(this.opts.initialMs >= 0) || !(this.opts.maxMs >= this.opts.initialMs) || !(this.opts.factor >= 1)) {
      throw new RangeError(`invalid backoff: ${JSON.stringify({ ...this.opts, random: undefined })}`);
    }
  }

  next(): number {
    const { initialMs, maxMs, factor, jitter, random } = this.opts;
    // Cap the exponent before Math.pow so a long outage cannot overflow to Infinity.
    const base = Math.min(maxMs, initialMs * Math.pow(factor, Math.min(this.attempt, 64)));
    this.attempt++;
    const scaled = base * (1 - jitter + 2 * jitter * random());
    return Math.max(0, Math.min(maxMs, Math.round(scaled)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
