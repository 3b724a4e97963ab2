import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@packages/db';
import { createTtlCache } from '../cache/index.js';
import { databaseCatalog, isCatalogSource, type PlanCatalog } from '../catalog/registry.js';
import {
  decideGrant,
  DEFAULT_USAGE_THRESHOLDS,
  type LimitDecision,
  meterReportOf,
  meteredLimit,
  remainingOf,
  type UsageOveragePolicy,
  type UsageReset,
  type UsageRules,
} from '../core/index.js';
import {
  FeatureNotMeteredError,
  IdempotencyConflictError,
  ReservationExpiredError,
  ReservationNotFoundError,
  TenantNotFoundError,
  UnknownFeatureError,
  ValidationError,
} from '../errors.js';
import { createOverLimitTracker, type OverLimitTracker } from '../features/over-limit.js';
import type { CheckedKey, MeteredFeatureKey } from '../feature-keys.js';
import { uncachedFeatureReader, type FeatureReader } from '../feature-cache/index.js';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import { createRequestBatcher } from '../request-batcher.js';
import { sqlThroughPool, sqlThroughPrisma, type RunSql, type SqlPool } from '../sql-runner.js';
import type { AuditSourceName, FeatureCatalog, OverLimitPolicy } from '../types.js';
import {
  applyUsage,
  readCounters,
  releaseExpired,
  reservationOwner,
  writeUsage,
  type ApplyRequest,
  type ApplyResult,
} from './store.js';

/**
 * Usage above the limit (a downgrade lowered it below what was used), as for `checkLimit`
 * (docs/metadata.md, "Over the limit after a downgrade"): present only while above.
 */
export interface OverLimitFields {
  /** Used beyond the limit: the key's over-limit policy decides whether more is allowed. */
  overLimit?: true;
  /** When usage was first seen above this limit. */
  since?: Date;
  /** The key's over-limit policy (catalog): `block_new`, `grace:<days>` or `allow`. */
  overLimitPolicy?: OverLimitPolicy;
  /** Under `grace:<days>`: further use is allowed until then. */
  graceEndsAt?: Date;
}

/** The answer of `track`, `check`, `reserve` and `finalize` (docs/usage.md). */
export interface UsageAnswer extends OverLimitFields {
  tenantId: string;
  key: string;
  /** track: the amount was consumed (`cap`: some of it); check: it would be. */
  allowed: boolean;
  /** What this call consumed (check: would consume; reserve: holds). */
  granted: number;
  /** Consumed in the current period. */
  used: number;
  /** Held by open reservations (counts against the limit). */
  reserved: number;
  /** The tenant's limit for the key; null when unlimited (`true`), 0 when not entitled. */
  limit: number | null;
  /** `limit - used - reserved`, never below 0; null when unlimited. */
  remaining: number | null;
  /** Consumed beyond the limit in the current period (overage `allow`). */
  overage: number;
  /** False when the tenant's plan does not grant the key (`false` or no value). */
  entitled: boolean;
  periodStart: Date | null;
  /** When the counter starts again (the period's end); null for `never`, or a billing period Stripe has not renewed yet. */
  resetsAt: Date | null;
  /** True when the idempotency key was seen before: the first call's answer, with current counters. */
  replayed: boolean;
}

export interface Reservation extends UsageAnswer {
  /** Null when nothing was reserved (refused). */
  id: string | null;
}

export interface UsageMeter extends Omit<OverLimitFields, 'overLimit'> {
  key: string;
  reset: UsageReset;
  policy: UsageOveragePolicy;
  used: number;
  reserved: number;
  limit: number | null;
  remaining: number | null;
  overage: number;
  entitled: boolean;
  /**
   * Used beyond the limit (e.g. after a downgrade): the key's over-limit policy decides whether
   * further use is allowed where the overage rule would refuse it (`since`, `overLimitPolicy`).
   */
  overLimit: boolean;
  periodStart: Date;
  periodEnd: Date | null;
}

export interface TenantUsage {
  tenantId: string;
  meters: UsageMeter[];
}

export interface TrackOptions {
  /** Counted once however often it is retried (also across processes and crashes). */
  idempotencyKey?: string;
  /** When the usage happened (picks the `month` / `day` period); default now. */
  at?: Date;
}

export interface SettleOptions {
  /** Only this tenant's reservation: another tenant's id is answered as not found (HTTP callers). */
  tenantId?: string;
}

export interface UsageAuditOptions {
  actor?: string;
  source?: AuditSourceName;
}

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

/** A committed change of a counter, for the alert outbox. */
export interface CountedUsage {
  tenantId: string;
  key: string;
  limit: number | null;
  usedBefore: number;
  usedAfter: number;
  periodStart: Date;
}

/** Metered keys written as literals are checked against the generated declaration (typed keys). */
type Metered<K extends string> = CheckedKey<K, MeteredFeatureKey>;

export interface UsageService {
  track<K extends string>(
    tenantId: string,
    key: Metered<K>,
    amount?: number,
    options?: TrackOptions,
  ): Promise<UsageAnswer>;
  check<K extends string>(tenantId: string, key: Metered<K>, amount?: number): Promise<UsageAnswer>;
  reserve<K extends string>(
    tenantId: string,
    key: Metered<K>,
    amount: number,
    options: { ttlMs: number; idempotencyKey?: string },
  ): Promise<Reservation>;
  finalize(reservationId: string, actualAmount: number, options?: SettleOptions): Promise<UsageAnswer>;
  release(reservationId: string, options?: SettleOptions): Promise<UsageAnswer>;
  getUsage(tenantId: string): Promise<TenantUsage>;
  setUsage<K extends string>(
    tenantId: string,
    key: Metered<K>,
    used: number,
    options?: UsageAuditOptions,
  ): Promise<UsageMeter>;
  /** Sets `used` to 0 for one key, or every metered key of the catalog. */
  resetUsage(tenantId: string, key?: string, options?: UsageAuditOptions): Promise<TenantUsage>;
  /** Stops the expiry sweep. */
  close(): void;
}

interface Limit {
  rules: UsageRules;
  entitled: boolean;
  limit: number | null;
}

function checkAmount(amount: unknown, path = 'amount'): number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0)
    throw new ValidationError(`${path} must be a whole number ≥ 0`, [
      { path, message: 'must be a whole number ≥ 0' },
    ]);
  return amount;
}

function checkText(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255)
    throw new ValidationError(`${path} must be a non-empty string of at most 255 characters`, [
      { path, message: 'must be a non-empty string of at most 255 characters' },
    ]);
  return value;
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
  const known = createTtlCache<{
    used: number;
    reserved: number;
    overage: number;
    start: Date | null;
    end: Date | null;
  }>({ maxEntries: 100_000, ttlMs: Math.max(1, checkCacheMs) });
  const sweepMs = options.sweepIntervalMs ?? 30_000;
  const sweep =
    sweepMs > 0
      ? setInterval(() => void releaseExpired(sql, now()).catch(() => {}), sweepMs).unref()
      : undefined;

  async function catalog(): Promise<FeatureCatalog> {
    return isCatalogSource(catalogOption) ? catalogOption.current() : (catalogOption ?? new Map());
  }

  async function rulesOf(key: string): Promise<UsageRules> {
    let def = (await catalog()).get(key);
    if (!def && isCatalogSource(catalogOption)) def = (await catalogOption.refresh()).get(key);
    if (!def) throw new UnknownFeatureError(key, 'usage');
    if (!def.usage) throw new FeatureNotMeteredError(key);
    return def.usage;
  }

  async function limitOf(tenantId: string, key: string): Promise<Limit> {
    checkText(tenantId, 'tenantId');
    const [rules, features] = await Promise.all([rulesOf(key), reader.getTenantFeatures(tenantId)]);
    if (!features) throw new TenantNotFoundError(tenantId);
    return { rules, ...meteredLimit(features.features[key]) };
  }

  /** The counter as this process last saw it (at most `checkCacheMs` old, in its period), else read. */
  async function counterOf(tenantId: string, key: string, reset: UsageReset, at: Date | null = null) {
    const id = `${tenantId}\u0000${key}`;
    const cached = at === null && checkCacheMs > 0 ? known.get(id) : undefined;
    if (cached && !(cached.end && cached.end <= now())) return cached;
    const [row] = await readCounters(sql, tenantId, [{ key, reset }], at ?? now());
    const c = {
      used: row!.used,
      reserved: row!.reserved,
      overage: row!.overage,
      start: row!.periodStart,
      end: row!.periodEnd,
    };
    if (at === null && checkCacheMs > 0) known.set(id, c);
    return c;
  }

  /**
   * What the counter says about the limit, through the tracker `checkLimit` uses: usage recorded in
   * tenant_limit_usage, the start and end of an over-limit audited and listed, and the key's
   * over-limit policy's decision. Null for an unlimited key, or one neither granted nor used.
   */
  async function overLimitOf(tenantId: string, key: string, l: Limit, used: number) {
    if (l.limit === null || (!l.entitled && used === 0)) return null;
    return overLimits.check(tenantId, key, used, l.limit);
  }

  /**
   * Above a lowered limit the overage rules `reject` and `cap` refuse everything; the key's
   * over-limit policy may let use go on (`grace:<days>` until the grace ends, `allow`), and such a
   * request is applied under the overage rule `allow` (what is granted beyond the limit counts as
   * overage). The default `block_new` costs nothing here: the counter is read for the others only.
   */
  async function overLimitAllows(tenantId: string, key: string, l: Limit, at: Date | null): Promise<boolean> {
    if (!l.entitled || l.limit === null || l.rules.overage === 'allow') return false;
    const policy = (await catalog()).get(key)?.overLimit;
    if (policy === undefined || policy === 'block_new') return false;
    const { used } = await counterOf(tenantId, key, l.rules.reset, at);
    if (used <= l.limit) return false;
    return (await overLimits.check(tenantId, key, used, l.limit)).allowed;
  }

  function answer(
    tenantId: string,
    key: string,
    l: Limit,
    r: ApplyResult,
    over: LimitDecision | null,
  ): UsageAnswer {
    return {
      tenantId,
      key,
      allowed: l.entitled && r.allowed,
      granted: r.granted,
      used: r.used,
      reserved: r.reserved,
      limit: l.limit,
      remaining: remainingOf(l.limit, r.used, r.reserved),
      overage: r.overage,
      entitled: l.entitled,
      periodStart: r.periodStart,
      resetsAt: r.periodEnd,
      replayed: r.status === 'duplicate',
      ...overLimitFields(over),
    };
  }

  function remember(tenantId: string, key: string, r: ApplyResult) {
    known.set(`${tenantId}\u0000${key}`, {
      used: r.used,
      reserved: r.reserved,
      overage: r.overage,
      start: r.periodStart,
      end: r.periodEnd,
    });
  }

  async function apply(
    op: ApplyRequest['op'],
    tenantId: string,
    key: string,
    l: Limit,
    fields: Partial<ApplyRequest> & { amount: number },
  ): Promise<ApplyResult> {
    const overAllowed = op !== 'release' && (await overLimitAllows(tenantId, key, l, fields.at ?? null));
    const result = await batcher.request({
      op,
      tenantId,
      key,
      reset: l.rules.reset,
      // Not entitled: nothing may be consumed, whatever the key's overage policy.
      policy: !l.entitled ? 'reject' : overAllowed ? 'allow' : l.rules.overage,
      limit: l.entitled ? l.limit : 0,
      at: null,
      idempotencyKey: null,
      reservationId: null,
      expiresAt: null,
      thresholds: recordAlerts && l.entitled ? (l.rules.thresholds ?? DEFAULT_USAGE_THRESHOLDS) : null,
      stripe: meterReportOf(l.rules),
      ...fields,
    });
    if (result.status === 'conflict') throw new IdempotencyConflictError(fields.idempotencyKey ?? '');
    remember(tenantId, key, result);
    if (result.status === 'ok' && result.granted > 0 && op !== 'reserve' && op !== 'release')
      onCounted?.({
        tenantId,
        key,
        limit: l.entitled ? l.limit : 0,
        usedBefore: result.used - result.granted,
        usedAfter: result.used,
        periodStart: result.periodStart!,
      });
    return result;
  }

  /** finalize / release: the reservation's tenant and key first (its limit is the tenant's now). */
  async function settle(
    op: 'finalize' | 'release',
    reservationId: string,
    amount: number,
    o: SettleOptions = {},
  ) {
    checkText(reservationId, 'reservationId');
    const owner = await reservationOwner(sql, reservationId);
    if (!owner || (o.tenantId !== undefined && owner.tenantId !== o.tenantId))
      throw new ReservationNotFoundError(reservationId);
    const l = await limitOf(owner.tenantId, owner.key);
    const result = await apply(op, owner.tenantId, owner.key, l, { amount, reservationId });
    if (result.status === 'not_found') throw new ReservationNotFoundError(reservationId);
    if (result.status === 'expired') throw new ReservationExpiredError(reservationId);
    metrics.usageReservation?.(op);
    return answer(
      owner.tenantId,
      owner.key,
      l,
      result,
      await overLimitOf(owner.tenantId, owner.key, l, result.used),
    );
  }

  async function meters(tenantId: string, only?: string): Promise<UsageMeter[]> {
    const [cat, features] = await Promise.all([catalog(), reader.getTenantFeatures(tenantId)]);
    if (!features) throw new TenantNotFoundError(tenantId);
    const keys = [...cat.values()]
      .filter((d) => d.usage && (only === undefined || d.key === only))
      .map((d) => ({ key: d.key, reset: d.usage!.reset, policy: d.usage!.overage }));
    const rows = await readCounters(sql, tenantId, keys, now());
    return Promise.all(
      rows.map(async (row, i) => {
        const { entitled, limit } = meteredLimit(features.features[row.key]);
        const over = await overLimitOf(
          tenantId,
          row.key,
          { rules: cat.get(row.key)!.usage!, entitled, limit },
          row.used,
        );
        return {
          key: row.key,
          reset: keys[i]!.reset,
          policy: keys[i]!.policy,
          used: row.used,
          reserved: row.reserved,
          limit,
          remaining: remainingOf(limit, row.used, row.reserved),
          overage: row.overage,
          entitled,
          overLimit: limit !== null && row.used > limit,
          ...overLimitFields(over),
          periodStart: row.periodStart,
          periodEnd: row.periodEnd,
        };
      }),
    );
  }

  async function write(tenantId: string, changes: { key: string; used: number }[], o: UsageAuditOptions) {
    const cat = await catalog();
    const rows = changes.map((c) => ({
      ...c,
      reset: cat.get(c.key)!.usage!.reset,
      stripe: meterReportOf(cat.get(c.key)!.usage!),
    }));
    const written = await writeUsage(
      prisma,
      tenantId,
      rows,
      { actor: o.actor ?? 'system', source: o.source ?? 'admin' },
      now(),
    );
    if (!written) throw new TenantNotFoundError(tenantId);
    for (const c of changes) known.delete(`${tenantId}\u0000${c.key}`);
  }

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

    async reserve(tenantId, key, amount, o) {
      checkAmount(amount);
      if (typeof o?.ttlMs !== 'number' || !(o.ttlMs > 0))
        throw new ValidationError('ttlMs must be a number of milliseconds > 0', [
          { path: 'ttlMs', message: 'must be > 0' },
        ]);
      if (o.idempotencyKey !== undefined) checkText(o.idempotencyKey, 'idempotencyKey');
      const l = await limitOf(tenantId, key);
      const result = await apply('reserve', tenantId, key, l, {
        amount,
        idempotencyKey: o.idempotencyKey ?? null,
        reservationId: randomUUID(),
        expiresAt: new Date(now().getTime() + o.ttlMs),
      });
      metrics.usageReservation?.(result.reservationId ? 'reserved' : 'refused');
      const over = await overLimitOf(tenantId, key, l, result.used);
      return { ...answer(tenantId, key, l, result, over), id: result.reservationId };
    },

    finalize: (reservationId, actualAmount, o) =>
      settle('finalize', reservationId, checkAmount(actualAmount), o),
    release: (reservationId, o) => settle('release', reservationId, 0, o),

    async getUsage(tenantId) {
      checkText(tenantId, 'tenantId');
      await releaseExpired(sql, now(), tenantId);
      return { tenantId, meters: await meters(tenantId) };
    },

    async setUsage(tenantId, key, used, o = {}) {
      checkAmount(used, 'used');
      checkText(tenantId, 'tenantId');
      await rulesOf(key);
      await write(tenantId, [{ key, used }], o);
      return (await meters(tenantId, key))[0]!;
    },

    async resetUsage(tenantId, key, o = {}) {
      checkText(tenantId, 'tenantId');
      if (key !== undefined) await rulesOf(key);
      const keys =
        key !== undefined ? [key] : [...(await catalog()).values()].filter((d) => d.usage).map((d) => d.key);
      await write(
        tenantId,
        keys.map((k) => ({ key: k, used: 0 })),
        o,
      );
      return { tenantId, meters: await meters(tenantId) };
    },

    close() {
      if (sweep) clearInterval(sweep);
    },
  };
}

/** The over-limit fields of an answer, present only while usage is above the limit. */
function overLimitFields(d: LimitDecision | null): OverLimitFields {
  if (!d?.overLimit) return {};
  return {
    overLimit: true,
    since: d.since,
    overLimitPolicy: d.policy,
    ...(d.graceEndsAt ? { graceEndsAt: d.graceEndsAt } : {}),
  };
}
