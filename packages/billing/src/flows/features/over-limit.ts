import type { PrismaClient } from '@packages/db';
import { createTtlCache } from '../../io/cache/lru.js';
import { isCatalogSource, type CatalogSource } from '../../io/catalog/registry.js';
import { decideLimit, type LimitDecision } from '../../core/index.js';
import type { FeatureCatalog, OverLimitPolicy } from '../../core/types.js';

/**
 * Usage above a lowered limit (docs/metadata.md, "Over the limit after a downgrade"). The host
 * reports usage through `checkLimit(tenantId, key, used)`, and the usage service reports what it
 * counts for metered keys (src/usage); either way this records it in `tenant_limit_usage`,
 * remembers, per tenant and key, since when it is above the limit, auditing the start
 * (`over_limit_started`) and the end (`over_limit_ended`), and decides by the key's catalog policy.
 */
export interface OverLimitTracker {
  check(tenantId: string, key: string, used: number, limit: number | null): Promise<LimitDecision>;
}

export interface OverLimitTrackerOptions {
  /** How long this process trusts what it last recorded for a tenant and key (default 60 s). */
  ttlMs?: number;
  maxEntries?: number;
  now?: () => Date;
  /** A recording that nobody waits for failed (under the limit the answer does not depend on it). */
  onError?: (error: unknown) => void;
}

interface Seen {
  over: boolean;
  limit: number;
  used: number;
  since: Date | null;
}

const ACTOR = 'system:over-limit';
const MAX_STORED = 2_147_483_647;

export function createOverLimitTracker(
  prisma: PrismaClient,
  catalog: FeatureCatalog | CatalogSource | undefined,
  options: OverLimitTrackerOptions = {},
): OverLimitTracker {
  const now = options.now ?? (() => new Date());
  const seen = createTtlCache<Seen>({
    ttlMs: options.ttlMs ?? 60_000,
    maxEntries: options.maxEntries ?? 10_000,
  });

  async function policyOf(key: string): Promise<OverLimitPolicy | undefined> {
    const current = isCatalogSource(catalog) ? await catalog.current() : catalog;
    return current?.get(key)?.overLimit;
  }

  /**
   * One statement: the usage upserted, `over_since` kept while above the limit (set when it starts,
   * cleared when it ends) and an audit row when it starts or ends. Two processes seeing the start
   * at the same instant may both audit it.
   */
  async function record(tenantId: string, key: string, counted: number, limit: number): Promise<Date | null> {
    // The table holds 32-bit counts; a metered counter past that is still above any limit (≤ 1e9).
    const used = Math.min(counted, MAX_STORED);
    const rows = await prisma.$queryRaw<{ since: Date | null }[]>`
      WITH prev AS (
        SELECT over_since FROM tenant_limit_usage WHERE tenant_id = ${tenantId} AND key = ${key}
      ), up AS (
        INSERT INTO tenant_limit_usage (tenant_id, key, used, "limit", over_since, reported_at)
        VALUES (${tenantId}, ${key}, ${used}::int, ${limit}::int,
                CASE WHEN ${used}::int > ${limit}::int THEN CURRENT_TIMESTAMP END, CURRENT_TIMESTAMP)
        ON CONFLICT (tenant_id, key) DO UPDATE SET
          used = EXCLUDED.used,
          "limit" = EXCLUDED."limit",
          reported_at = EXCLUDED.reported_at,
          over_since = CASE WHEN EXCLUDED.used > EXCLUDED."limit"
                            THEN COALESCE(tenant_limit_usage.over_since, EXCLUDED.reported_at) END
        RETURNING over_since, used, "limit"
      ), audit AS (
        INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after)
        SELECT ${tenantId}, ${ACTOR}, 'sync'::"AuditSource",
               CASE WHEN up.over_since IS NULL THEN 'over_limit_ended' ELSE 'over_limit_started' END,
               jsonb_build_object('key', ${key}::text, 'overSince', prev.over_since),
               jsonb_build_object('key', ${key}::text, 'used', up.used, 'limit', up."limit", 'overSince', up.over_since)
        FROM up LEFT JOIN prev ON true
        WHERE (up.over_since IS NULL) <> (prev.over_since IS NULL)
      )
      SELECT over_since AS since FROM up`;
    return rows[0]?.since ?? null;
  }

  return {
    async check(tenantId, key, used, limit) {
      const at = now();
      const max = limit ?? 0;
      const over = used > max;
      const policy = await policyOf(key);
      const id = `${tenantId}\u0000${key}`;
      const known = seen.get(id);
      const same = known !== undefined && known.over === over && known.limit === max;
      if (same && (!over || known.used === used))
        return decideLimit({ limit, used, policy, since: known.since, now: at });
      if (same && known.since) {
        // Still above, from a start already recorded: the new usage is stored, not waited for.
        seen.set(id, { ...known, used });
        record(tenantId, key, used, max).catch((error: unknown) => {
          seen.delete(id);
          options.onError?.(error);
        });
        return decideLimit({ limit, used, policy, since: known.since, now: at });
      }
      if (!over) {
        // The answer does not depend on the record (it ends an over-limit and keeps the usage): not awaited.
        seen.set(id, { over, limit: max, used, since: null });
        record(tenantId, key, used, max).catch((error: unknown) => {
          seen.delete(id);
          options.onError?.(error);
        });
        return decideLimit({ limit, used, policy, now: at });
      }
      const since = await record(tenantId, key, used, max);
      seen.set(id, { over, limit: max, used, since });
      return decideLimit({ limit, used, policy, since, now: at });
    },
  };
}

/** A tenant's usage above its current limit, as listed by the admin API, the console and reconcile. */
export interface OverLimitEntry extends LimitDecision {
  tenantId: string;
  key: string;
  used: number;
  /** Null when the usage last reported was under the old limit: the next checkLimit starts it. */
  since?: Date;
  reportedAt: Date;
}

/**
 * Every stored usage above the tenant's current limit (the effective features), by tenant and key.
 * An absent key is a limit of 0; a key granted `true` (unlimited) is never listed.
 */
export async function listOverLimits(
  prisma: PrismaClient,
  catalog: FeatureCatalog | CatalogSource | undefined,
  options: { tenantId?: string; now?: Date } = {},
): Promise<OverLimitEntry[]> {
  const rows = await prisma.$queryRaw<
    { tenantId: string; key: string; used: number; limit: number; since: Date | null; reportedAt: Date }[]
  >`
    SELECT u.tenant_id AS "tenantId", u.key, u.used, u.over_since AS since, u.reported_at AS "reportedAt",
           CASE WHEN jsonb_typeof(c.features -> u.key) = 'number' THEN (c.features ->> u.key)::float8 ELSE 0 END
             AS "limit"
    FROM tenant_limit_usage u JOIN tenant_feature_configs c ON c.tenant_id = u.tenant_id
    WHERE (${options.tenantId ?? null}::text IS NULL OR u.tenant_id = ${options.tenantId ?? null}::text)
      -- Granted unlimited (true on a metered number key, issue 21): no limit to be above.
      AND c.features -> u.key IS DISTINCT FROM 'true'::jsonb
      AND u.used > CASE WHEN jsonb_typeof(c.features -> u.key) = 'number'
                        THEN (c.features ->> u.key)::float8 ELSE 0 END
    ORDER BY u.tenant_id, u.key`;
  const current = isCatalogSource(catalog) ? await catalog.current() : catalog;
  const now = options.now ?? new Date();
  return rows.map((row) => {
    const decision = decideLimit({
      limit: row.limit,
      used: row.used,
      policy: current?.get(row.key)?.overLimit,
      since: row.since,
      now,
    });
    // Not yet seen above this limit: no start to count a grace period from.
    const { since, graceEndsAt, ...rest } = decision;
    return {
      tenantId: row.tenantId,
      key: row.key,
      used: row.used,
      reportedAt: row.reportedAt,
      ...rest,
      ...(row.since ? { since, ...(graceEndsAt ? { graceEndsAt } : {}) } : {}),
    };
  });
}
