import type { UsageMeterReport, UsageOveragePolicy, UsageReset } from '../../core/index.js';
import type { PrismaClient } from '@packages/db';
import type { RunSql } from '../../io/sql-runner.js';
import { inTransaction } from '../../io/tenant-store/index.js';

/**
 * The usage tables through SQL only (docs/usage.md). Every change of a counter goes through the
 * SQL function `usage_apply` (migration usage_metering): a batch of operations in one statement,
 * each decided under its counter's row lock against what the previous one left, with the
 * idempotency ledger row written in the same transaction. Reads never lock.
 */

export type UsageOp = 'track' | 'reserve' | 'finalize' | 'release';

export interface ApplyRequest {
  op: UsageOp;
  tenantId: string;
  key: string;
  reset: UsageReset;
  policy: UsageOveragePolicy;
  /** null: unlimited. */
  limit: number | null;
  amount: number;
  at: Date | null;
  idempotencyKey: string | null;
  reservationId: string | null;
  expiresAt: Date | null;
  /** Alert thresholds (percent) whose crossing is recorded in the outbox; null: none. */
  thresholds?: readonly number[] | null;
  /** The key reports to a Stripe meter: a grant marks the counter due for reporting. */
  stripe?: UsageMeterReport | null;
}

export interface ApplyResult {
  status: 'ok' | 'duplicate' | 'conflict' | 'not_found' | 'expired';
  allowed: boolean;
  granted: number;
  overageAdded: number;
  used: number;
  reserved: number;
  overage: number;
  periodStart: Date | null;
  periodEnd: Date | null;
  reservationId: string | null;
}

interface ApplyRow {
  i: number;
  status: ApplyResult['status'];
  allowed: boolean;
  granted: number;
  overage_added: number;
  used: number | null;
  reserved: number | null;
  overage: number | null;
  period_start: Date | string | null;
  period_end: Date | string | null;
  reservation_id: string | null;
}

const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

/**
 * One statement for a batch. Requests are sent sorted by counter (stable, so one counter's requests
 * keep their order) so that concurrent batches take their row locks in the same order.
 */
export async function applyUsage(sql: RunSql, requests: ApplyRequest[], now: Date): Promise<ApplyResult[]> {
  const order = requests
    .map((r, i) => ({ r, i }))
    .sort((a, b) => compare(a.r.tenantId, b.r.tenantId) || compare(a.r.key, b.r.key) || a.i - b.i);
  const payload = order.map(({ r, i }) => ({
    i,
    op: r.op,
    tenant_id: r.tenantId,
    key: r.key,
    reset: r.reset,
    policy: r.policy,
    lim: r.limit,
    amount: r.amount,
    at: r.at?.toISOString() ?? null,
    idem: r.idempotencyKey,
    reservation_id: r.reservationId,
    expires_at: r.expiresAt?.toISOString() ?? null,
    thresholds: r.thresholds?.length ? `{${r.thresholds.join(',')}}` : null,
    stripe: r.stripe ?? null,
  }));
  const rows = await sql<ApplyRow>(
    `SELECT i, status, allowed, granted, overage_added, used, reserved, overage, period_start, period_end,
            reservation_id
     FROM usage_apply($1::jsonb, $2::timestamptz)`,
    [JSON.stringify(payload), now.toISOString()],
  );
  const results: ApplyResult[] = new Array(requests.length);
  for (const row of rows)
    results[row.i] = {
      status: row.status,
      allowed: row.allowed,
      granted: Number(row.granted),
      overageAdded: Number(row.overage_added),
      used: Number(row.used ?? 0),
      reserved: Number(row.reserved ?? 0),
      overage: Number(row.overage ?? 0),
      periodStart: date(row.period_start),
      periodEnd: date(row.period_end),
      reservationId: row.reservation_id,
    };
  return results;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface CounterRow {
  key: string;
  used: number;
  reserved: number;
  overage: number;
  periodStart: Date;
  periodEnd: Date | null;
}

interface CounterSqlRow {
  key: string;
  used: number | string | null;
  reserved: number | string | null;
  overage: number | string | null;
  period_start: Date | string;
  period_end: Date | string | null;
}

/** The current period's counters of `keys` (zero where none is stored yet), one statement, no lock. */
export async function readCounters(
  sql: RunSql,
  tenantId: string,
  keys: { key: string; reset: UsageReset }[],
  now: Date,
): Promise<CounterRow[]> {
  if (keys.length === 0) return [];
  const rows = await sql<CounterSqlRow>(
    `SELECT k.key, p.ps AS period_start, COALESCE(c.period_end, p.pe) AS period_end,
            c.used::float8 AS used, c.reserved::float8 AS reserved, c.overage::float8 AS overage
     FROM jsonb_to_recordset($2::jsonb) AS k(key text, reset text)
     CROSS JOIN LATERAL usage_period($1, k.reset, $3::timestamptz) p
     LEFT JOIN usage_counters c ON c.tenant_id = $1 AND c.key = k.key AND c.period_start = p.ps
     ORDER BY k.key`,
    [tenantId, JSON.stringify(keys), now.toISOString()],
  );
  return rows.map((row) => ({
    key: row.key,
    used: Number(row.used ?? 0),
    reserved: Number(row.reserved ?? 0),
    overage: Number(row.overage ?? 0),
    periodStart: new Date(row.period_start),
    periodEnd: date(row.period_end),
  }));
}

/** The tenant and key a reservation holds, or null when there is no such open reservation. */
export async function reservationOwner(
  sql: RunSql,
  id: string,
): Promise<{ tenantId: string; key: string } | null> {
  const rows = await sql<{ tenant_id: string; key: string }>(
    `SELECT tenant_id, key FROM usage_reservations WHERE id = $1`,
    [id],
  );
  return rows[0] ? { tenantId: rows[0].tenant_id, key: rows[0].key } : null;
}

/**
 * Returns the amounts of expired reservations to their counters (all tenants, or one), in one
 * statement; answers how many were released. Track does this by itself for a counter it would
 * refuse, so this only keeps `reserved` (and so `check` and getUsage) from lagging.
 */
export async function releaseExpired(
  sql: RunSql,
  now: Date,
  tenantId: string | null = null,
): Promise<number> {
  const rows = await sql<{ n: number }>(
    `WITH gone AS (
       DELETE FROM usage_reservations
       WHERE expires_at <= $1::timestamptz AND ($2::text IS NULL OR tenant_id = $2)
       RETURNING tenant_id, key, period_start, amount
     ), agg AS (
       SELECT tenant_id, key, period_start, sum(amount) AS amount, count(*) AS n FROM gone
       GROUP BY tenant_id, key, period_start
     ), upd AS (
       UPDATE usage_counters c SET reserved = c.reserved - agg.amount
       FROM agg WHERE c.tenant_id = agg.tenant_id AND c.key = agg.key AND c.period_start = agg.period_start
       RETURNING 1
     )
     SELECT COALESCE(sum(n), 0)::int AS n FROM agg`,
    [now.toISOString(), tenantId],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Sets the current period's `used` of each key (operators: `setUsage`, `resetUsage`; overage is
 * cleared with it), with one audit row per key whose value changed, in one transaction: the rows
 * are created if missing, locked, then written, so the audit's `before` is what was replaced.
 * Answers each key's value before and after; null when the tenant does not exist.
 */
export async function writeUsage(
  prisma: PrismaClient,
  tenantId: string,
  changes: { key: string; reset: UsageReset; used: number; stripe: UsageMeterReport | null }[],
  who: { actor: string; source: string },
  now: Date,
): Promise<{ key: string; before: number; after: number; periodStart: Date }[] | null> {
  return inTransaction(prisma, async (tx) => {
    const tenant = await tx.$queryRawUnsafe<{ id: string }[]>(
      `SELECT id FROM tenants WHERE id = $1 FOR SHARE`,
      tenantId,
    );
    if (tenant.length === 0) return null;
    const params = [tenantId, JSON.stringify(changes), now.toISOString()];
    const periods = `SELECT k.key, k.used, k.stripe, p.ps, p.pe
       FROM jsonb_to_recordset($2::jsonb) AS k(key text, reset text, used bigint, stripe text)
       CROSS JOIN LATERAL usage_period($1, k.reset, $3::timestamptz) p`;
    await tx.$executeRawUnsafe(
      `INSERT INTO usage_counters (tenant_id, key, period_start, period_end, updated_at)
       SELECT $1, k.key, k.ps, k.pe, $3::timestamptz FROM (${periods}) k ORDER BY k.key
       ON CONFLICT (tenant_id, key, period_start) DO NOTHING`,
      ...params,
    );
    const prior = await tx.$queryRawUnsafe<{ key: string; used: number; ps: Date }[]>(
      `SELECT c.key, c.used::float8 AS used, c.period_start AS ps FROM usage_counters c
       JOIN (${periods}) k ON c.tenant_id = $1 AND c.key = k.key AND c.period_start = k.ps
       ORDER BY c.key FOR UPDATE OF c`,
      ...params,
    );
    const before = new Map(prior.map((p) => [p.key, p]));
    await tx.$executeRawUnsafe(
      `WITH k AS (${periods}), up AS (
         UPDATE usage_counters c SET used = k.used, overage = 0, updated_at = $3::timestamptz,
           -- Stripe meters: what is owed (stripe_offset + used, or + overage) never goes back: the
           -- units taken off the counter move to the offset (they were used), a raise is owed on top.
           -- The mark and a range in flight are left alone, so the send records as it would have.
           stripe_offset = c.stripe_offset + CASE k.stripe WHEN 'usage' THEN GREATEST(c.used - k.used, 0)
                                                           WHEN 'overage' THEN c.overage ELSE 0 END,
           stripe_due = c.stripe_due OR COALESCE(k.stripe = 'usage' AND k.used > c.used, false)
         FROM k WHERE c.tenant_id = $1 AND c.key = k.key AND c.period_start = k.ps
       )
       INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after, created_at)
       SELECT $1, $4, $5::"AuditSource", 'usage_set',
              jsonb_build_object('usage', jsonb_build_object(k.key, b.used)),
              jsonb_build_object('usage', jsonb_build_object(k.key, k.used), 'periodStart', k.ps),
              $3::timestamp(3)
       FROM k JOIN jsonb_to_recordset($6::jsonb) AS b(key text, used bigint) ON b.key = k.key
       WHERE b.used <> k.used`,
      ...params,
      who.actor,
      who.source,
      JSON.stringify(prior.map((p) => ({ key: p.key, used: Number(p.used) }))),
    );
    return changes.map((c) => ({
      key: c.key,
      before: Number(before.get(c.key)?.used ?? 0),
      after: c.used,
      periodStart: new Date(before.get(c.key)!.ps),
    }));
  });
}
