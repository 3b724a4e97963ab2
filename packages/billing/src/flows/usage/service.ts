import type { PrismaClient } from '@packages/db';
import { createTtlCache } from '../../io/cache/index.js';
import { databaseCatalog, type PlanCatalog } from '../../io/catalog/registry.js';
import { decideGrant, remainingOf } from '../../core/index.js';
import { createOverLimitTracker, type OverLimitTracker } from '../features/over-limit.js';
import { uncachedFeatureReader, type FeatureReader } from '../../io/feature-cache/index.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import { createRequestBatcher } from '../../io/request-batcher.js';
import { sqlThroughPool, sqlThroughPrisma, type RunSql, type SqlPool } from '../../io/sql-runner.js';
import { overLimitFields, type CountedUsage, type UsageService } from './service-types.js';
import { checkAmount, checkText } from './arguments.js';
import { createUsageApplier } from './apply.js';
import { createUsageLimits, type KnownCounter, type UsageParts } from './limits.js';
import { reservationOperations } from './reservations.js';
import { applyUsage, releaseExpired, type ApplyRequest, type ApplyResult } from './store.js';
import { tenantUsageOperations } from './tenant-usage.js';

export interface UsageServiceOptions {
  /** Where the tenants' limits come from (default: the reader registered for `prisma`). */
  featureReader?: FeatureReader;
  /** The catalog with the metered keys' rules (default: the database's). */
  catalog?: PlanCatalog;
  /** The pg pool behind `prisma` (the context passes `db.pool`): the batch statement skips Prisma's per-query work. */
  pool?: SqlPool;
  metrics?: BillingMetrics;
  now?: () => Date;
  /** Batch statements in flight at once (default 4). */
  maxInFlight?: number;
  /** Operations in one batch statement, at most (default 256). */
  maxBatch?: number;
  /** How long `check` answers from this process's last known counter (default 1000 ms; 0 reads every time). */
  checkCacheMs?: number;
  /** How often expired reservations are swept (default 30 s; 0 never; track releases them by itself when it matters). */
  sweepIntervalMs?: number;
  /** Called after every committed change of a counter; errors are the callee's. */
  onCounted?: (event: CountedUsage) => void;
  /**
   * Record threshold crossings in the alert outbox, in the statement that counts (default false; the
   * context turns it on with USAGE_WEBHOOK_URL, and createUsageAlertDispatcher delivers them).
   */
  recordAlerts?: boolean;
  /**
   * Records usage above a lowered limit and decides by each key's over-limit policy, as `checkLimit`
   * does (default: one over `prisma` and `catalog`).
   */
  overLimits?: OverLimitTracker;
}

export function createUsageService(prisma: PrismaClient, options: UsageServiceOptions = {}): UsageService {
  const sql: RunSql = options.pool ? sqlThroughPool(options.pool) : sqlThroughPrisma(prisma);
  const reader = options.featureReader ?? uncachedFeatureReader(prisma);
  const catalogOption = options.catalog ?? databaseCatalog(prisma);
  const metrics = options.metrics ?? noopMetrics;
  const now = options.now ?? (() => new Date());
  const checkCacheMs = options.checkCacheMs ?? 1_000;
  const onCounted = options.onCounted;
  const recordAlerts = options.recordAlerts ?? false;
  const overLimits = options.overLimits ?? createOverLimitTracker(prisma, catalogOption, { now });
  // Group commit: a call made while every slot is busy waits, and the next free slot sends every
  // waiting call as one statement. Per-counter order is the order of arrival (the statement takes
  // them in input order under the counter's lock), so a hot counter costs one statement per batch.
  const batcher = createRequestBatcher<ApplyRequest, ApplyResult>({
    run: (batch) => applyUsage(sql, batch, now()),
    runAlone: async (request) => (await applyUsage(sql, [request], now()))[0]!,
    maxInFlight: options.maxInFlight ?? 4,
    maxBatch: options.maxBatch ?? 256,
  });
  /** Last known counters, per tenant and key: what `check` answers from. */
  const known = createTtlCache<KnownCounter>({ maxEntries: 100_000, ttlMs: Math.max(1, checkCacheMs) });
  const sweepMs = options.sweepIntervalMs ?? 30_000;
  const sweep =
    sweepMs > 0
      ? setInterval(() => void releaseExpired(sql, now()).catch(() => {}), sweepMs).unref()
      : undefined;
  const parts: UsageParts = {
    prisma,
    sql,
    reader,
    catalogOption,
    metrics,
    now,
    checkCacheMs,
    overLimits,
    known,
    batcher,
    recordAlerts,
    onCounted,
  };
  const limits = createUsageLimits(parts);
  const { limitOf, counterOf, overLimitOf } = limits;
  const applier = createUsageApplier(parts, limits);
  const { apply, answer } = applier;

  return {
    async track(tenantId, key, amount = 1, o = {}) {
      checkAmount(amount);
      if (o.idempotencyKey !== undefined) checkText(o.idempotencyKey, 'idempotencyKey');
      const l = await limitOf(tenantId, key);
      const result = await apply('track', tenantId, key, l, {
        amount,
        at: o.at ?? null,
        idempotencyKey: o.idempotencyKey ?? null,
      });
      const out = answer(tenantId, key, l, result, await overLimitOf(tenantId, key, l, result.used));
      metrics.usageTracked?.(out.replayed ? 'replayed' : out.allowed ? 'allowed' : 'refused');
      return out;
    },

    async check(tenantId, key, amount = 1) {
      checkAmount(amount);
      const l = await limitOf(tenantId, key);
      const c = await counterOf(tenantId, key, l.rules.reset);
      const over = await overLimitOf(tenantId, key, l, c.used);
      // Above a lowered limit the key's over-limit policy may allow what the overage rule refuses.
      const overAllowed =
        l.entitled && l.rules.overage !== 'allow' && over?.overLimit === true && over.allowed;
      const g = decideGrant({
        limit: l.entitled ? l.limit : 0,
        used: c.used,
        reserved: c.reserved,
        amount,
        policy: !l.entitled ? 'reject' : overAllowed ? 'allow' : l.rules.overage,
      });
      return {
        tenantId,
        key,
        allowed: l.entitled && g.allowed,
        granted: g.granted,
        used: c.used,
        reserved: c.reserved,
        limit: l.limit,
        remaining: remainingOf(l.limit, c.used, c.reserved),
        overage: c.overage,
        entitled: l.entitled,
        periodStart: c.start,
        resetsAt: c.end,
        replayed: false,
        ...overLimitFields(over),
      };
    },

    ...reservationOperations(parts, limits, applier),
    ...tenantUsageOperations(parts, limits),

    close() {
      if (sweep) clearInterval(sweep);
    },
  };
}
