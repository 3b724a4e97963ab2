import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BillingMetrics } from './types.js';

export interface PrometheusMetricsOptions {
  /** Register into this registry (e.g. the host's own); a new one by default, never prom-client's global. */
  registry?: Registry;
  /** Prefix of every metric name (default `billing_`). */
  prefix?: string;
  /** Also collect Node.js process metrics (CPU, memory, event loop lag) into the registry (default false). */
  processMetrics?: boolean;
}

/** The webhook inbox's depth as one statement reads it (webhooks' `inboxStats`). */
export interface InboxDepth {
  pending: number;
  processing: number;
  failed: number;
  oldestPendingMs: number;
}

export interface PrometheusMetrics {
  metrics: BillingMetrics;
  registry: Registry;
  /**
   * Gauges of the webhook inbox (`webhook_inbox_events{status}`, `webhook_inbox_oldest_pending_seconds`),
   * read by `read` at scrape time only: one statement per scrape, nothing when nobody scrapes.
   * Once per registry; a later call replaces the reader.
   */
  observeInbox(read: () => Promise<InboxDepth>): void;
  /** The text exposition format, as served by `GET /metrics`. */
  render(): Promise<string>;
  readonly contentType: string;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Stripe delivers within seconds normally, but retries for days: the lag buckets reach a day.
const LAG_SECONDS = [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21_600, 86_400];

/**
 * BillingMetrics backed by prom-client. Each call owns its registry, so two instances (two tests,
 * or a host running two billing setups) never collide on metric names.
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  const p = options.prefix ?? 'billing_';
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: p });

  // Registered in this order, which is the order of the exposition text.
  const webhook = webhookMetrics(p, registers);
  const stripe = stripeMetrics(p, registers);
  const cache = cacheMetrics(p, registers);
  const usage = usageMetrics(p, registers);
  const sync = syncMetrics(p, registers);
  const http = new Histogram({
    name: `${p}http_request_duration_seconds`,
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS,
    registers,
  });
  const metrics: BillingMetrics = {
    ...webhook,
    ...stripe,
    ...cache,
    ...sync,
    httpRequest: (method, route, status, ms) =>
      http.observe({ method, route, status: String(status) }, ms / 1000),
    ...usage,
  };

  return {
    metrics,
    registry,
    observeInbox: inboxObserver(p, registers),
    render: () => registry.metrics(),
    get contentType() {
      return registry.contentType;
    },
  };
}

type Registers = Registry[];

/** Webhook deliveries by type and outcome, refusals by code, and the processing lag. */
function webhookMetrics(
  p: string,
  registers: Registers,
): Pick<
  BillingMetrics,
  'webhookReceived' | 'webhookProcessed' | 'webhookDuplicate' | 'webhookFailed' | 'webhookRejected'
> {
  const webhooks = new Counter({
    name: `${p}webhooks_total`,
    help: 'Stripe webhook deliveries by event type and outcome (received, processed, duplicate, failed)',
    labelNames: ['type', 'outcome'] as const,
    registers,
  });
  const rejected = new Counter({
    name: `${p}webhooks_rejected_total`,
    help: 'Webhook deliveries refused before processing, by error code',
    labelNames: ['code'] as const,
    registers,
  });
  const lag = new Histogram({
    name: `${p}webhook_processing_lag_seconds`,
    help: 'Time from Stripe creating an event to its processing committing',
    labelNames: ['type'] as const,
    buckets: LAG_SECONDS,
    registers,
  });
  return {
    webhookReceived: (type) => webhooks.inc({ type, outcome: 'received' }),
    webhookProcessed: (type, lagMs) => {
      webhooks.inc({ type, outcome: 'processed' });
      // A clock ahead of Stripe's would give a negative lag; it means "no measurable lag".
      lag.observe({ type }, Math.max(0, lagMs) / 1000);
    },
    webhookDuplicate: (type) => webhooks.inc({ type, outcome: 'duplicate' }),
    webhookFailed: (type) => webhooks.inc({ type, outcome: 'failed' }),
    webhookRejected: (code) => rejected.inc({ code }),
  };
}

/** Stripe call attempts and their duration, the rate limiter's waits, failed attempts by code. */
function stripeMetrics(
  p: string,
  registers: Registers,
): Pick<BillingMetrics, 'stripeRequest' | 'rateLimiterWait' | 'stripeError'> {
  const stripeRequests = new Histogram({
    name: `${p}stripe_request_duration_seconds`,
    help: 'Stripe API call attempts and their duration, by operation',
    labelNames: ['operation'] as const,
    buckets: SECONDS,
    registers,
  });
  const limiterWait = new Histogram({
    name: `${p}stripe_rate_limiter_wait_seconds`,
    help: 'Time Stripe calls waited for the rate limiter, by operation',
    labelNames: ['operation'] as const,
    buckets: [0, ...SECONDS],
    registers,
  });
  const stripeErrors = new Counter({
    name: `${p}stripe_errors_total`,
    help: 'Failed Stripe call attempts by operation and error code',
    labelNames: ['operation', 'code'] as const,
    registers,
  });
  return {
    stripeRequest: (operation, ms) => stripeRequests.observe({ operation }, ms / 1000),
    rateLimiterWait: (operation, ms) => limiterWait.observe({ operation }, ms / 1000),
    stripeError: (operation, code) => stripeErrors.inc({ operation, code }),
  };
}

/** The feature cache tiers: reads by result, evictions, the hit ratio and each tier's size. */
function cacheMetrics(
  p: string,
  registers: Registers,
): Pick<BillingMetrics, 'cacheHit' | 'cacheMiss' | 'cacheEviction' | 'observeCacheSize'> {
  const cache = new Counter({
    name: `${p}feature_cache_requests_total`,
    help: 'Feature reads by cache tier and result (hit, miss)',
    labelNames: ['tier', 'result'] as const,
    registers,
  });
  const evictions = new Counter({
    name: `${p}feature_cache_evictions_total`,
    help: 'Entries a feature cache tier evicted to stay within its memory budget, by tier',
    labelNames: ['tier'] as const,
    registers,
  });
  new Gauge({
    name: `${p}feature_cache_hit_ratio`,
    help: 'Share of feature reads a cache tier answered since the process started, by tier',
    labelNames: ['tier'] as const,
    registers,
    async collect() {
      const totals = new Map<string, { hit: number; miss: number }>();
      for (const { labels, value } of (await cache.get()).values) {
        const tier = String(labels.tier);
        const t = totals.get(tier) ?? { hit: 0, miss: 0 };
        if (labels.result === 'hit') t.hit += value;
        else t.miss += value;
        totals.set(tier, t);
      }
      this.reset();
      for (const [tier, { hit, miss }] of totals) if (hit + miss > 0) this.set({ tier }, hit / (hit + miss));
    },
  });
  const cacheSizes = new Map<string, () => { entries: number; bytes: number }>();
  const sizeGauge = (name: string, help: string, field: 'entries' | 'bytes') =>
    new Gauge({
      name,
      help,
      labelNames: ['tier'] as const,
      registers,
      collect() {
        this.reset();
        for (const [tier, read] of cacheSizes) this.set({ tier }, read()[field]);
      },
    });
  sizeGauge(`${p}feature_cache_entries`, 'Entries held by an in-process feature cache tier', 'entries');
  sizeGauge(
    `${p}feature_cache_bytes`,
    'Estimated bytes held by an in-process feature cache tier (its budget is FEATURE_CACHE_MEMORY_MB)',
    'bytes',
  );
  return {
    cacheHit: (tier) => cache.inc({ tier, result: 'hit' }),
    cacheMiss: (tier) => cache.inc({ tier, result: 'miss' }),
    cacheEviction: (tier) => evictions.inc({ tier }),
    observeCacheSize: (tier, read) => void cacheSizes.set(tier, read),
  };
}

/** Metered usage: tracks, reservations, alert deliveries and Stripe meter events, by outcome. */
function usageMetrics(
  p: string,
  registers: Registers,
): Pick<BillingMetrics, 'usageTracked' | 'usageReservation' | 'usageAlertDelivery' | 'usageMeterEvent'> {
  const usageTracks = new Counter({
    name: `${p}usage_tracks_total`,
    help: 'Usage tracks by outcome (allowed, refused, replayed)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const usageReservations = new Counter({
    name: `${p}usage_reservations_total`,
    help: 'Usage reservations by outcome (reserved, refused, finalize, release)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const usageAlerts = new Counter({
    name: `${p}usage_alert_deliveries_total`,
    help: 'Usage alert webhook delivery attempts by outcome (delivered, failed, dropped)',
    labelNames: ['outcome'] as const,
    registers,
  });
  const usageMeterEvents = new Counter({
    name: `${p}usage_meter_events_total`,
    help: 'Stripe meter events sent for metered usage by outcome (sent, duplicate, failed)',
    labelNames: ['outcome'] as const,
    registers,
  });
  return {
    usageTracked: (outcome) => usageTracks.inc({ outcome }),
    usageReservation: (outcome) => usageReservations.inc({ outcome }),
    usageAlertDelivery: (outcome) => usageAlerts.inc({ outcome }),
    usageMeterEvent: (outcome) => usageMeterEvents.inc({ outcome }),
  };
}

/** Bulk sync runs by result, the tenants they changed and how long they took. */
function syncMetrics(p: string, registers: Registers): Pick<BillingMetrics, 'syncRun'> {
  const syncRuns = new Counter({
    name: `${p}sync_runs_total`,
    help: 'Bulk sync runs by result (ok, failures, aborted)',
    labelNames: ['result'] as const,
    registers,
  });
  const tenantsChanged = new Counter({
    name: `${p}sync_tenants_changed_total`,
    help: 'Tenants whose features a bulk sync changed',
    registers,
  });
  const syncDuration = new Histogram({
    name: `${p}sync_duration_seconds`,
    help: 'Duration of bulk sync runs',
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers,
  });
  return {
    syncRun: (result) => {
      syncRuns.inc({ result: result.aborted ? 'aborted' : result.failed > 0 ? 'failures' : 'ok' });
      tenantsChanged.inc(result.tenantsChanged);
      syncDuration.observe(result.durationMs / 1000);
    },
  };
}

/** PrometheusMetrics.observeInbox: the inbox gauges, registered on the first call. */
function inboxObserver(p: string, registers: Registers): PrometheusMetrics['observeInbox'] {
  let readInbox: (() => Promise<InboxDepth>) | undefined;
  let inboxGauges = false;
  return function observeInbox(read: () => Promise<InboxDepth>) {
    readInbox = read;
    if (inboxGauges) return;
    inboxGauges = true;
    // One read serves both gauges of a scrape.
    let current: Promise<InboxDepth | null> | undefined;
    const depth = () => {
      current ??= (readInbox?.() ?? Promise.resolve(null))
        .catch(() => null)
        .finally(() => setTimeout(() => (current = undefined), 0).unref());
      return current;
    };
    new Gauge({
      name: `${p}webhook_inbox_events`,
      help: 'Webhook events in the inbox by status (pending: waiting, processing: leased, failed: needs a replay)',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const d = await depth();
        if (!d) return;
        this.set({ status: 'pending' }, d.pending);
        this.set({ status: 'processing' }, d.processing);
        this.set({ status: 'failed' }, d.failed);
      },
    });
    new Gauge({
      name: `${p}webhook_inbox_oldest_pending_seconds`,
      help: 'Age of the oldest pending webhook event (0 when none): how far processing is behind',
      registers,
      async collect() {
        const d = await depth();
        if (d) this.set(d.oldestPendingMs / 1000);
      },
    });
  };
}
