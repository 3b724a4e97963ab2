import { BillingError, StripeRateLimitError } from '../../core/errors.js';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import { isRetryable, mapStripeError, retryAfterMs } from './errors.js';
import { defaultSleep, type TokenBucket } from './limiter.js';
import { currentStripePriority } from './priority.js';

export interface StripeSyncStats {
  /** Requests this service sent (each of its attempts; the SDK's own network retries are not visible here). */
  stripeRequests: number;
  cacheHits: number;
  cacheMisses: number;
  /** Attempts repeated by our retry loop. */
  retries: number;
  /** Attempts Stripe answered with 429. */
  rateLimited: number;
}

export interface StripeCallerOptions {
  limiter: TokenBucket;
  stats: StripeSyncStats;
  /** Extra attempts after the first for retryable failures (default 3). */
  maxRetries?: number;
  /** First backoff step; doubles per attempt (default 250 ms). */
  retryBaseDelayMs?: number;
  /** Ceiling for one wait, Retry-After included (default 30 s). */
  maxRetryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Attempts and their duration, rate-limiter waits and errors, by operation (the call's label). */
  metrics?: BillingMetrics;
}

export type StripeCall = <T>(label: string, fn: () => Promise<T>) => Promise<T>;

/**
 * Every Stripe request goes through here: one token per attempt (retries spend tokens too, or a
 * retry storm would overrun the limit), SDK errors mapped to ours, and transient failures retried
 * with full-jitter exponential backoff that never waits less than Stripe's Retry-After.
 */
export function createStripeCaller(options: StripeCallerOptions): StripeCall {
  const maxRetries = Math.max(0, options.maxRetries ?? 3);
  const base = options.retryBaseDelayMs ?? 250;
  const cap = options.maxRetryDelayMs ?? 30_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const { stats, limiter } = options;
  const metrics = options.metrics ?? noopMetrics;

  return async function call<T>(label: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const queued = performance.now();
      await limiter.take(currentStripePriority());
      const started = performance.now();
      metrics.rateLimiterWait(label, started - queued);
      stats.stripeRequests += 1;
      try {
        const result = await fn();
        metrics.stripeRequest(label, performance.now() - started);
        return result;
      } catch (raw) {
        metrics.stripeRequest(label, performance.now() - started);
        const error = mapStripeError(raw, label);
        metrics.stripeError(label, error instanceof BillingError ? error.code : 'unexpected');
        if (error instanceof StripeRateLimitError) stats.rateLimited += 1;
        if (attempt >= maxRetries || !isRetryable(error)) throw error;
        const backoff = random() * Math.min(cap, base * 2 ** attempt);
        const delay = Math.min(cap, Math.max(backoff, retryAfterMs(error) ?? 0));
        stats.retries += 1;
        await sleep(delay);
      }
    }
  };
}
