/**
 * What the library reports about its own work. Code that has something to count calls these
 * methods and never imports prom-client: the Prometheus implementation (prometheus.ts) is one
 * implementation, `noopMetrics` the default, and a host may bring its own (StatsD, OpenTelemetry).
 *
 * Label values are bounded by construction: event types and Stripe operations are names from
 * our code or Stripe's closed lists, error codes are our closed codes, routes are route patterns.
 */
export interface BillingMetrics {
  /** A webhook whose signature verified (type from the event). */
  webhookReceived(type: string): void;
  /** Committed; `lagMs` is the time from Stripe creating the event to the commit. */
  webhookProcessed(type: string, lagMs: number): void;
  /** A verified event already processed before (Stripe's at-least-once delivery). */
  webhookDuplicate(type: string): void;
  /** A verified event whose processing threw (Stripe will retry it). */
  webhookFailed(type: string): void;
  /** A delivery refused before processing: bad signature, bad payload, body parsed by the host. */
  webhookRejected(code: string): void;
  /** One attempt of a Stripe API call, after the rate limiter let it through. */
  stripeRequest(operation: string, durationMs: number): void;
  /** Time a Stripe call waited for the rate limiter. */
  rateLimiterWait(operation: string, waitMs: number): void;
  /** A Stripe call that failed, by our error code (`stripe_rate_limited`, `stripe_api_error`, ...). */
  stripeError(operation: string, code: string): void;
  /** A feature read answered by a cache tier. */
  cacheHit(tier: string): void;
  /** A feature read that a cache tier could not answer. */
  cacheMiss(tier: string): void;
  /** An entry a cache tier evicted to stay within its memory budget (optional for hosts' own implementations). */
  cacheEviction?(tier: string): void;
  /**
   * Registers how to read a cache tier's size (entries, estimated bytes), read when metrics are
   * collected; a later call for the same tier replaces the reader.
   */
  observeCacheSize?(tier: string, read: () => { entries: number; bytes: number }): void;
  /** One bulk sync run finished. */
  syncRun(result: { tenantsChanged: number; failed: number; aborted: boolean; durationMs: number }): void;
  /** One HTTP request answered by our server or one of the adapters; `route` is the route pattern. */
  httpRequest(method: string, route: string, status: number, durationMs: number): void;
  /** A usage `track`: `allowed`, `refused` or `replayed` (an idempotency key seen before). Optional for hosts' own implementations. */
  usageTracked?(outcome: 'allowed' | 'refused' | 'replayed'): void;
  /** A usage reservation: `reserved`, `refused`, `finalize` or `release`. */
  usageReservation?(outcome: 'reserved' | 'refused' | 'finalize' | 'release'): void;
  /** An alert webhook delivery attempt: `delivered`, `failed` (retried later) or `dropped` (gave up). */
  usageAlertDelivery?(outcome: 'delivered' | 'failed' | 'dropped'): void;
  /** A meter event sent to Stripe for a metered key's usage: `sent`, `duplicate` (sent before) or `failed`. */
  usageMeterEvent?(outcome: 'sent' | 'duplicate' | 'failed'): void;
}

const ignore = () => {};

/** The default wherever metrics are optional: every call does nothing. */
export const noopMetrics: BillingMetrics = Object.freeze({
  webhookReceived: ignore,
  webhookProcessed: ignore,
  webhookDuplicate: ignore,
  webhookFailed: ignore,
  webhookRejected: ignore,
  stripeRequest: ignore,
  rateLimiterWait: ignore,
  stripeError: ignore,
  cacheHit: ignore,
  cacheMiss: ignore,
  cacheEviction: ignore,
  observeCacheSize: ignore,
  syncRun: ignore,
  httpRequest: ignore,
  usageTracked: ignore,
  usageReservation: ignore,
  usageAlertDelivery: ignore,
  usageMeterEvent: ignore,
});
