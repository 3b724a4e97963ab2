import type { UsageMeterReport } from '../../core/index.js';
import type { RunSql } from '../../io/sql-runner.js';

/**
 * The Stripe meter reporter's outbox statements (stripe-meters.ts): the counters are the outbox, so
 * claiming due counters and recording how their sends went are two statements over usage_counters.
 */

/** A claimed counter: the range [reported, sending_to) it will send, and to whom. */
export interface Claimed {
  tenant_id: string;
  key: string;
  period_start: Date | string;
  period_end: Date | string | null;
  reported: string | number;
  sending_to: string | number;
  attempts: number;
  customer: string | null;
}

/** A key reported to Stripe, what of it and under which meter event name. */
export interface Meterable {
  key: string;
  mode: UsageMeterReport;
  event: string;
}

/** What one send came to: the range sent, or why not. */
export type MeterOutcome =
  | { row: Claimed; to: number; mode: UsageMeterReport; ok: true }
  | { row: Claimed; to: number; mode: UsageMeterReport; ok: false; error: string };

/** Leases due counters and fixes the range each will send (kept from an unfinished send). */
export async function claimDueCounters(
  sql: RunSql,
  keys: Meterable[],
  at: Date,
  options: { batch: number; leaseMs: number },
): Promise<Claimed[]> {
  return sql<Claimed>(
    `WITH k AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS k(key text, mode text)),
     due AS (
       SELECT c.tenant_id, c.key, c.period_start, k.mode FROM usage_counters c JOIN k ON k.key = c.key
       WHERE c.stripe_due AND (c.stripe_next_at IS NULL OR c.stripe_next_at <= $2::timestamptz)
       ORDER BY c.stripe_next_at NULLS FIRST LIMIT $3
       FOR UPDATE OF c SKIP LOCKED)
     UPDATE usage_counters c SET
       stripe_sending_to = COALESCE(c.stripe_sending_to, c.stripe_offset +
                                    CASE WHEN due.mode = 'overage' THEN c.overage ELSE c.used END),
       stripe_attempts = c.stripe_attempts + 1,
       stripe_next_at = $2::timestamptz + make_interval(secs => $4::float8 / 1000)
     FROM due
     WHERE c.tenant_id = due.tenant_id AND c.key = due.key AND c.period_start = due.period_start
     RETURNING c.tenant_id, c.key, c.period_start, c.period_end, c.stripe_reported AS reported,
               c.stripe_sending_to AS sending_to, c.stripe_attempts AS attempts,
               (SELECT t.stripe_customer_id FROM tenants t WHERE t.id = c.tenant_id) AS customer`,
    [
      JSON.stringify(keys.map((k) => ({ key: k.key, mode: k.mode }))),
      at.toISOString(),
      options.batch,
      options.leaseMs,
    ],
  );
}

export async function recordMeterOutcomes(
  sql: RunSql,
  outcomes: MeterOutcome[],
  at: Date,
  backoffMs: number,
): Promise<void> {
  const done = outcomes.filter((o) => o.ok);
  const failed = outcomes.filter((o): o is Extract<MeterOutcome, { ok: false }> => !o.ok);
  const rows = (list: MeterOutcome[]) =>
    JSON.stringify(
      list.map((o) => ({
        tenant_id: o.row.tenant_id,
        key: o.row.key,
        ps: new Date(o.row.period_start).toISOString(),
        sent_to: o.to,
        mode: o.mode,
        error: o.ok ? null : o.error.slice(0, 500),
        retry_at: o.ok
          ? null
          : new Date(
              at.getTime() + Math.min(backoffMs * 2 ** Math.max(0, o.row.attempts - 1), 3_600_000),
            ).toISOString(),
      })),
    );
  const values = `jsonb_to_recordset($1::jsonb) AS v(tenant_id text, key text, ps timestamptz, sent_to bigint,
    mode text, error text, retry_at timestamptz)`;
  // Only where this range is still the one in flight (a lease that ran out may have let another
  // reporter record it first). An operator's change leaves the range alone (writeUsage).
  if (done.length > 0)
    await sql(
      `UPDATE usage_counters c SET stripe_reported = GREATEST(c.stripe_reported, v.sent_to),
         stripe_sending_to = NULL, stripe_attempts = 0, stripe_error = NULL, stripe_next_at = NULL,
         stripe_due = c.stripe_offset + (CASE WHEN v.mode = 'overage' THEN c.overage ELSE c.used END)
                      > GREATEST(c.stripe_reported, v.sent_to)
       FROM ${values}
       WHERE c.tenant_id = v.tenant_id AND c.key = v.key AND c.period_start = v.ps
         AND c.stripe_sending_to = v.sent_to`,
      [rows(done)],
    );
  if (failed.length > 0)
    await sql(
      `UPDATE usage_counters c SET stripe_error = v.error, stripe_next_at = v.retry_at
       FROM ${values}
       WHERE c.tenant_id = v.tenant_id AND c.key = v.key AND c.period_start = v.ps
         AND c.stripe_sending_to = v.sent_to`,
      [rows(failed)],
    );
}
