import type { PrismaClient } from '@packages/db';
import type { TtlCache } from '../../io/cache/index.js';
import { isCatalogSource, type PlanCatalog } from '../../io/catalog/registry.js';
import { meteredLimit, type UsageReset, type UsageRules } from '../../core/index.js';
import { FeatureNotMeteredError, TenantNotFoundError, UnknownFeatureError } from '../../core/errors.js';
import type { OverLimitTracker } from '../features/over-limit.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { BillingMetrics } from '../../io/metrics/index.js';
import type { RequestBatcher } from '../../io/request-batcher.js';
import type { RunSql } from '../../io/sql-runner.js';
import type { FeatureCatalog } from '../../core/types.js';
import type { CountedUsage } from './service-types.js';
import { checkText } from './arguments.js';
import { readCounters, type ApplyRequest, type ApplyResult } from './store.js';

/**
 * What the parts of the usage service (service.ts) share, and the reads every decision starts
 * from: a key's rules, a tenant's limit, the counter as last seen, the over-limit tracker's view.
 */

/** A counter as this process last saw it. */
export interface KnownCounter {
  used: number;
  reserved: number;
  overage: number;
  start: Date | null;
  end: Date | null;
}

/** Built once by createUsageService and passed to each of its parts. */
export interface UsageParts {
  prisma: PrismaClient;
  sql: RunSql;
  reader: FeatureReader;
  catalogOption: PlanCatalog;
  metrics: BillingMetrics;
  now: () => Date;
  checkCacheMs: number;
  overLimits: OverLimitTracker;
  /** Last known counters, per tenant and key: what `check` answers from. */
  known: TtlCache<KnownCounter>;
  /** Group commit of the counting statements (service.ts). */
  batcher: RequestBatcher<ApplyRequest, ApplyResult>;
  recordAlerts: boolean;
  onCounted?: (event: CountedUsage) => void;
}

export interface Limit {
  rules: UsageRules;
  entitled: boolean;
  limit: number | null;
}

export type UsageLimits = ReturnType<typeof createUsageLimits>;

export function createUsageLimits(parts: UsageParts) {
  const { sql, reader, catalogOption, now, checkCacheMs, overLimits, known } = parts;

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

  return { catalog, rulesOf, limitOf, counterOf, overLimitOf, overLimitAllows };
}
