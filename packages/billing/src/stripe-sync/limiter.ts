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
  /** Resolves when the caller may send one request. Waiters are served in arrival order. */
  take(): Promise<void>;
  readonly ratePerSecond: number;
}

export const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One bucket for every Stripe call a service makes: Stripe's limit is per account, not per
 * endpoint, so separate buckets would let their sum exceed it.
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  const rate = options.ratePerSecond;
  if (!(rate > 0) || !Number.isFinite(rate))
    throw new RangeError(`ratePerSecond must be a positive number, got ${rate}`);
  const capacity = Math.max(1, options.burst ?? Math.ceil(rate / 5));
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  let tokens = capacity;
  let refilledAt = now();
  // A promise chain instead of a queue array: each taker waits for the previous one, so the
  // order is FIFO and no two takers compute a wait from the same token count.
  let tail: Promise<void> = Promise.resolve();

  function refill() {
    const t = now();
    tokens = Math.min(capacity, tokens + ((t - refilledAt) * rate) / 1000);
    refilledAt = t;
  }

  async function acquire() {
    refill();
    while (tokens < 1) {
      await sleep(Math.ceil(((1 - tokens) * 1000) / rate));
      refill();
    }
    tokens -= 1;
  }

  return {
    ratePerSecond: rate,
    take() {
      const turn = tail.then(acquire);
      tail = turn.catch(() => {});
      return turn;
    },
  };
}
