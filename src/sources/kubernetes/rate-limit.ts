// client-go's request rate limit (rest.Config QPS/Burst; kube-proxy's clientConnection.qps
// and burst, 5 and 10 by default): a token bucket holding up to `burst` tokens, refilled at
// `qps` per second, one token per request. A request that finds the bucket empty waits its
// turn (reservations queue in order, as golang.org/x/time/rate's Wait does) or until its
// signal aborts, which gives the token back.

export interface RateLimiter {
  /** Resolves when the request may go; rejects with the signal's reason if it aborts first. */
  take(signal: AbortSignal): Promise<void>;
}

export class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    if (!(qps > 0)) throw new RangeError(`qps must be positive, got ${qps}`);
    this.qps = qps;
    // client-go refuses burst < 1 with a positive qps; one request at a time is the least that works.
    this.burst = Math.max(1, Math.floor(burst));
    this.now = now;
    this.tokens = this.burst;
    this.last = now();
  }

  take(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.qps) / 1000);
    this.last = t;
    this.tokens -= 1;
    if (this.tokens >= 0) return Promise.resolve();
    const waitMs = (-this.tokens * 1000) / this.qps;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        this.tokens += 1;
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.ceil(waitMs));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A limiter for qps/burst as kube-proxy's configuration gives them; none for qps ≤ 0 or Infinity. */
export function rateLimiterFor(qps: number | undefined, burst: number | undefined): RateLimiter | undefined {
  if (qps === undefined || !(qps > 0) || qps === Infinity) return undefined;
  return new TokenBucket(qps, burst ?? Math.ceil(qps));
}
