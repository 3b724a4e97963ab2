import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { databaseCatalog, isCatalogSource, type PlanCatalog } from '../../io/catalog/registry.js';
import { meterReportOf, type UsageMeterReport } from '../../core/index.js';
import { messageOf } from '../../core/errors.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import { sqlThroughPool, sqlThroughPrisma, type RunSql, type SqlPool } from '../../io/sql-runner.js';
import type { StripeCall } from '../../io/stripe-sync/client.js';
import { withStripePriority } from '../../io/stripe-sync/priority.js';
import type { FeatureCatalog } from '../../core/types.js';
import { pollLoop } from '../../io/process/poll-loop.js';
import {
  claimDueCounters,
  recordMeterOutcomes,
  type Claimed,
  type Meterable,
  type MeterOutcome,
} from './stripe-meter-outbox.js';

/**
 * Stripe Billing Meters (docs/usage.md, Stripe meters): the usage of keys with `usage.stripeMeter`
 * is reported to Stripe as meter events. The counters are the outbox: usage_apply marks a counter
 * `stripe_due` in the UPDATE that counts, and `stripe_reported` says how much of it Stripe has been
 * sent, so one meter event carries every unit counted since the last (batched by counter, not one
 * event per track) and the hot path writes nothing more.
 *
 * A round: one statement claims due counters (FOR UPDATE SKIP LOCKED, a lease in `stripe_next_at`)
 * and fixes each one's range `[stripe_reported, stripe_sending_to)`; the sends happen after that
 * commit, with no lock or connection held, each through the shared Stripe limiter with an
 * `identifier` derived from the range; one statement records the outcomes. A process killed
 * mid-send leaves the range claimed: the next round sends the same range under the same identifier,
 * which Stripe refuses as a duplicate ("An event already exists with identifier …"), taken as sent.
 */

export interface UsageMeterReporterOptions {
  stripe: Stripe;
  /** The shared limiter, retries and error mapping: `stripeSync.call`. */
  call: StripeCall;
  pool?: SqlPool;
  catalog?: PlanCatalog;
  metrics?: BillingMetrics;
  now?: () => Date;
  /** How often due counters are looked for (default 1000 ms). */
  pollMs?: number;
  /** Counters claimed per round (default 100). */
  batch?: number;
  /** Meter events in flight at once (default 4). */
  concurrency?: number;
  /** How long a claimed counter is left to its reporter before another may send it (default 60 s). */
  leaseMs?: number;
  /** First retry delay after a failed send, doubled per attempt, capped at 1 hour (default 5 s). */
  backoffMs?: number;
}

export interface UsageMeterReporter {
  /** One round: claims due counters, sends their meter events, records the outcome. */
  reportDue(): Promise<{ sent: number; failed: number }>;
  start(): void;
  stop(): Promise<void>;
}

/** The identifier of the meter event for units (from, to] of one counter: the same range, the same identifier. */
export function meterEventIdentifier(
  tenantId: string,
  key: string,
  periodStart: Date,
  from: number,
  to: number,
): string {
  const digest = createHash('sha256')
    .update(`${tenantId}\u0000${key}\u0000${periodStart.toISOString()}\u0000${from}\u0000${to}`)
    .digest('hex');
  return `usage_${digest.slice(0, 48)}`;
}

const DUPLICATE = /An event already exists with identifier/;
const PAST_LIMIT_S = 35 * 86_400 - 3_600;

/** When the usage happened, as Stripe accepts it: now, but inside the counter's period and the last 35 days. */
function eventTimestamp(now: Date, periodStart: Date, periodEnd: Date | null): number {
  const n = Math.floor(now.getTime() / 1000);
  let t = n;
  if (periodEnd) t = Math.min(t, Math.floor(periodEnd.getTime() / 1000) - 1);
  t = Math.max(t, Math.floor(periodStart.getTime() / 1000));
  return Math.max(t, n - PAST_LIMIT_S);
}

export function createUsageMeterReporter(
  prisma: PrismaClient,
  options: UsageMeterReporterOptions,
): UsageMeterReporter {
  const sql: RunSql = options.pool ? sqlThroughPool(options.pool) : sqlThroughPrisma(prisma);
  const catalogOption = options.catalog ?? databaseCatalog(prisma);
  const metrics = options.metrics ?? noopMetrics;
  const now = options.now ?? (() => new Date());
  const leaseMs = options.leaseMs ?? 60_000;
  const backoffMs = options.backoffMs ?? 5_000;
  const concurrency = Math.max(1, options.concurrency ?? 4);

  async function meterable(): Promise<Meterable[]> {
    const catalog: FeatureCatalog = isCatalogSource(catalogOption)
      ? await catalogOption.current()
      : (catalogOption ?? new Map());
    const out: Meterable[] = [];
    for (const def of catalog.values()) {
      const mode = def.usage ? meterReportOf(def.usage) : null;
      if (mode) out.push({ key: def.key, mode, event: def.usage!.stripeMeter! });
    }
    return out;
  }

  async function send(row: Claimed, meter: Meterable, at: Date): Promise<MeterOutcome> {
    const from = Number(row.reported);
    const to = Number(row.sending_to);
    const base = { row, to, mode: meter.mode };
    // Nothing new: only the mark moves.
    if (to <= from) return { ...base, ok: true };
    if (!row.customer) return { ...base, ok: false, error: 'the tenant has no Stripe customer' };
    const periodStart = new Date(row.period_start);
    const identifier = meterEventIdentifier(row.tenant_id, row.key, periodStart, from, to);
    try {
      await options.call('billing.meterEvents.create', () =>
        options.stripe.billing.meterEvents.create(
          {
            event_name: meter.event,
            identifier,
            timestamp: eventTimestamp(at, periodStart, row.period_end ? new Date(row.period_end) : null),
            payload: { stripe_customer_id: row.customer!, value: String(to - from) },
          },
          // No Idempotency-Key of ours: a later round's timestamp differs, which Stripe would refuse
          // under the same key; the identifier is what deduplicates the range.
        ),
      );
      metrics.usageMeterEvent?.('sent');
      return { ...base, ok: true };
    } catch (error) {
      if (DUPLICATE.test(messageOf(error))) {
        metrics.usageMeterEvent?.('duplicate');
        return { ...base, ok: true };
      }
      metrics.usageMeterEvent?.('failed');
      return { ...base, ok: false, error: messageOf(error) };
    }
  }

  async function reportDue(): Promise<{ sent: number; failed: number }> {
    const keys = await meterable();
    if (keys.length === 0) return { sent: 0, failed: 0 };
    const byKey = new Map(keys.map((k) => [k.key, k]));
    const at = now();
    const claimed = await claimDueCounters(sql, keys, at, { batch: options.batch ?? 100, leaseMs });
    if (claimed.length === 0) return { sent: 0, failed: 0 };
    const outcomes: MeterOutcome[] = [];
    let next = 0;
    // Background work: behind webhooks and admin actions when the shared budget is short.
    await withStripePriority('low', () =>
      Promise.all(
        Array.from({ length: Math.min(concurrency, claimed.length) }, async () => {
          while (next < claimed.length) {
            const row = claimed[next++]!;
            outcomes.push(await send(row, byKey.get(row.key)!, at));
          }
        }),
      ),
    );
    await recordMeterOutcomes(sql, outcomes, now(), backoffMs);
    const failed = outcomes.filter((o) => !o.ok).length;
    return { sent: outcomes.length - failed, failed };
  }

  return {
    reportDue,
    ...pollLoop(reportDue, options.pollMs ?? 1_000),
  };
}

/** A counter's reporting state (admin API, console, tests). */
export interface UsageMeterReportState {
  tenantId: string;
  key: string;
  /** The meter's `event_name`; null when the key no longer reports to Stripe. */
  meter: string | null;
  /** What is reported: every unit used, or only the overage. */
  report: UsageMeterReport | null;
  /** The tenant's Stripe customer, the events' `stripe_customer_id`. */
  customer: string | null;
  periodStart: Date;
  periodEnd: Date | null;
  /** Units owed to Stripe this period (`used`, or `overage`, plus what operators took off since). */
  owed: number;
  /** Units Stripe has been sent. */
  reported: number;
  /** Owed and not sent yet (in flight included). */
  pending: number;
  /** The end of the range in flight or failing (sent as `reported`..`sendingTo`); null when none. */
  sendingTo: number | null;
  due: boolean;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  updatedAt: Date;
}

interface ReportRow {
  tenant_id: string;
  key: string;
  customer: string | null;
  period_start: Date | string;
  period_end: Date | string | null;
  used: string | number;
  overage: string | number;
  stripe_offset: string | number;
  stripe_reported: string | number;
  stripe_sending_to: string | number | null;
  stripe_due: boolean;
  stripe_attempts: number;
  stripe_next_at: Date | string | null;
  stripe_error: string | null;
  updated_at: Date | string;
}

/**
 * Each counter with something reported or left to report, most recently changed first: one tenant's
 * or everyone's, only those with something pending (`pending: true`) or all.
 */
export async function listUsageMeterReports(
  prisma: PrismaClient,
  options: { tenantId?: string; pending?: boolean; limit?: number; catalog?: PlanCatalog } = {},
): Promise<UsageMeterReportState[]> {
  const catalogOption = options.catalog ?? databaseCatalog(prisma);
  const catalog: FeatureCatalog = isCatalogSource(catalogOption)
    ? await catalogOption.current()
    : (catalogOption ?? new Map());
  const rows = await prisma.$queryRawUnsafe<ReportRow[]>(
    `SELECT c.tenant_id, c.key, t.stripe_customer_id AS customer, c.period_start, c.period_end, c.used,
            c.overage, c.stripe_offset, c.stripe_reported, c.stripe_sending_to, c.stripe_due,
            c.stripe_attempts, c.stripe_next_at, c.stripe_error, c.updated_at
     FROM usage_counters c JOIN tenants t ON t.id = c.tenant_id
     WHERE ($1::text IS NULL OR c.tenant_id = $1)
       AND (c.stripe_due OR (NOT $2::boolean AND c.stripe_reported > 0))
     ORDER BY c.updated_at DESC, c.tenant_id, c.key LIMIT $3`,
    options.tenantId ?? null,
    options.pending ?? false,
    Math.min(Math.max(options.limit ?? 100, 1), 500),
  );
  return rows.map((r) => {
    const rules = catalog.get(r.key)?.usage;
    const report = rules ? meterReportOf(rules) : null;
    const reported = Number(r.stripe_reported);
    const owed = Number(r.stripe_offset) + Number(report === 'overage' ? r.overage : r.used);
    return {
      tenantId: r.tenant_id,
      key: r.key,
      meter: report ? rules!.stripeMeter! : null,
      report,
      customer: r.customer,
      periodStart: new Date(r.period_start),
      periodEnd: r.period_end === null ? null : new Date(r.period_end),
      owed,
      reported,
      pending: Math.max(0, owed - reported),
      sendingTo: r.stripe_sending_to === null ? null : Number(r.stripe_sending_to),
      due: r.stripe_due,
      attempts: r.stripe_attempts,
      nextAttemptAt: r.stripe_next_at === null ? null : new Date(r.stripe_next_at),
      lastError: r.stripe_error,
      updatedAt: new Date(r.updated_at),
    };
  });
}
