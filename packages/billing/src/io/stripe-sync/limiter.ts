import type { StripePriority } from './priority.js';

export interface TokenBucketOptions {
  /** Sustained rate. */
  ratePerSecond: number;
  /**
   * Tokens that may be spent at once after an idle period. Defaults to a fifth of a second's worth:
   * enough to absorb small fan-outs, small enough that a burst never exceeds Stripe's per-second limit.
   */
  burst?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface TokenBucket {
  /**
   * Resolves when the caller may send one request. Waiters are served in arrival order within a
   * priority, every `high` waiter before any `low` one (default `high`).
   */
  take(priority?: StripePriority): Promise<void>;
  readonly ratePerSecond: number;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function checkRate(rate: number): void {
  if (!(rate > 0) || !Number.isFinite(rate))
    throw new RangeError(`ratePerSecond must be a positive number, got ${rate}`);
}

/**
 * One bucket for every Stripe call a service makes: Stripe's limit is per account, not per
 * endpoint, so separate buckets would let their sum exceed it. In-process; with Redis the
 * deployment shares one budget instead (redis-limiter.ts), this bucket being its fallback.
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const rate = options.ratePerSecond;
  checkRate(rate);
  const capacity = Math.max(1, options.burst ?? Math.ceil(rate / 5));
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  let tokens = capacity;
  let refilledAt = now();
  const waiters: Record<StripePriority, Array<() => void>> = { high: [], low: [] };
  let pumping = false;

  function refill() {
    const t = now();
    tokens = Math.min(capacity, tokens + ((t - refilledAt) * rate) / 1000);
    refilledAt = t;
  }

  // One pump hands out tokens as they accrue, so no two waiters compute a wait from the same count.
  async function pump() {
    pumping = true;
    try {
      for (;;) {
        refill();
        while (tokens >= 1 && (waiters.high.length > 0 || waiters.low.length > 0)) {
          tokens -= 1;
          (waiters.high.shift() ?? waiters.low.shift())!();
        }
        if (waiters.high.length === 0 && waiters.low.length === 0) return;
        await sleep(Math.ceil(((1 - tokens) * 1000) / rate));
      }
    } finally {
      pumping = false;
    }
  }

  return {
    ratePerSecond: rate,
    take(priority = 'high') {
      return new Promise<void>((resolve) => {
        waiters[priority].push(resolve);
        if (!pumping) void pump();
      });
    },
  };
}
