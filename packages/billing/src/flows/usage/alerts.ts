import { createHmac } from 'node:crypto';
import type { PrismaClient } from '@packages/db';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import { sqlThroughPool, sqlThroughPrisma, type RunSql, type SqlPool } from '../../io/sql-runner.js';
import { pollLoop } from '../../io/process/poll-loop.js';

/**
 * Usage alerts (docs/usage.md, Alerts): the outbox rows usage_apply writes when a track crosses a
 * threshold are delivered here as signed webhooks, the way Stripe signs its own (`Stripe-Signature:
 * t=<unix>,v1=<HMAC-SHA256 of "t.payload">`), so a host verifies them with the stripe SDK's
 * `stripe.webhooks.constructEvent(payload, header, USAGE_WEBHOOK_SECRET)`.
 *
 * A claim is one statement that leases due rows (FOR UPDATE SKIP LOCKED, so several processes share
 * the outbox); the POST happens after it committed, with no lock held; the outcome is a second
 * statement. A process killed mid-delivery leaves a lease that runs out and the row is sent again:
 * delivery is at least once, with a stable event id (`evt_usage_<row id>`) the host deduplicates on.
 */

export interface UsageAlertOptions {
  url: string;
  secret: string;
  pool?: SqlPool;
  metrics?: BillingMetrics;
  now?: () => Date;
  fetch?: typeof fetch;
  /** How often the outbox is polled (default 1000 ms). */
  pollMs?: number;
  /** Attempts before a row is `failed` (default 8). */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt, capped at 10 minutes (default 1000 ms). */
  backoffMs?: number;
  /** Longest a delivery may take, and the lease of a claimed row (default 10 s). */
  timeoutMs?: number;
  /** Rows claimed per round (default 20). */
  batch?: number;
}

export interface UsageAlertRow {
  id: number;
  tenantId: string;
  key: string;
  threshold: number;
  type: 'usage.threshold_reached' | 'usage.limit_reached';
  used: number;
  limit: number;
  periodStart: Date;
  periodEnd: Date | null;
  status: 'pending' | 'sending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
}

interface SqlRow {
  id: string | number;
  tenant_id: string;
  key: string;
  threshold: number;
  type: UsageAlertRow['type'];
  used: string | number;
  limit: string | number;
  period_start: Date | string;
  period_end: Date | string | null;
  status: UsageAlertRow['status'];
  attempts: number;
  next_attempt_at: Date | string;
  last_error: string | null;
  delivered_at: Date | string | null;
  created_at: Date | string;
}

const COLUMNS = `id, tenant_id, key, threshold, type, used, "limit", period_start, period_end, status, attempts,
  next_attempt_at, last_error, delivered_at, created_at`;

const toDate = (v: Date | string | null) => (v === null ? null : new Date(v));

function toRow(r: SqlRow): UsageAlertRow {
  return {
    id: Number(r.id),
    tenantId: r.tenant_id,
    key: r.key,
    threshold: r.threshold,
    type: r.type,
    used: Number(r.used),
    limit: Number(r.limit),
    periodStart: new Date(r.period_start),
    periodEnd: toDate(r.period_end),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
    lastError: r.last_error,
    deliveredAt: toDate(r.delivered_at),
    createdAt: new Date(r.created_at),
  };
}

/** The event a host receives: Stripe's event envelope around the alert. */
export function alertEvent(row: UsageAlertRow, created: Date) {
  return {
    id: `evt_usage_${row.id}`,
    object: 'event',
    type: row.type,
    created: Math.floor(created.getTime() / 1000),
    data: {
      object: {
        object: 'usage_alert',
        tenantId: row.tenantId,
        key: row.key,
        threshold: row.threshold,
        used: row.used,
        limit: row.limit,
        periodStart: row.periodStart.toISOString(),
        periodEnd: row.periodEnd?.toISOString() ?? null,
      },
    },
  };
}

/** `Stripe-Signature` for `payload`, as Stripe computes it. */
export function signUsagePayload(payload: string, secret: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

export interface UsageAlertDispatcher {
  /** Claims due rows and delivers them once each; answers how many were delivered. */
  deliverDue(): Promise<number>;
  /** Polls until stopped (unref'd timer); stop() waits for a round in progress. */
  start(): void;
  stop(): Promise<void>;
}

export function createUsageAlertDispatcher(
  prisma: PrismaClient,
  options: UsageAlertOptions,
): UsageAlertDispatcher {
  const sql: RunSql = options.pool ? sqlThroughPool(options.pool) : sqlThroughPrisma(prisma);
  const metrics = options.metrics ?? noopMetrics;
  const now = options.now ?? (() => new Date());
  const post = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? 8;
  const backoffMs = options.backoffMs ?? 1_000;

  async function claim(): Promise<UsageAlertRow[]> {
    const at = now();
    const rows = await sql<SqlRow>(
      `UPDATE usage_alerts SET status = 'sending', attempts = attempts + 1,
         locked_until = $1::timestamptz + make_interval(secs => $2::float8 / 1000)
       WHERE id IN (
         SELECT id FROM usage_alerts
         WHERE (status = 'pending' AND next_attempt_at <= $1::timestamptz)
            OR (status = 'sending' AND locked_until <= $1::timestamptz)
         ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING ${COLUMNS}`,
      [at.toISOString(), timeoutMs, options.batch ?? 20],
    );
    return rows.map(toRow).sort((a, b) => a.id - b.id);
  }

  async function deliver(row: UsageAlertRow): Promise<boolean> {
    const payload = JSON.stringify(alertEvent(row, row.createdAt));
    const signature = signUsagePayload(payload, options.secret, Math.floor(now().getTime() / 1000));
    let error: string | null = null;
    try {
      const res = await post(options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    const at = now();
    if (error === null) {
      await sql(
        `UPDATE usage_alerts SET status = 'delivered', delivered_at = $2::timestamptz, locked_until = NULL,
           last_error = NULL WHERE id = $1 AND status = 'sending'`,
        [row.id, at.toISOString()],
      );
      metrics.usageAlertDelivery?.('delivered');
      return true;
    }
    const last = row.attempts >= maxAttempts;
    const delay = Math.min(backoffMs * 2 ** (row.attempts - 1), 600_000);
    await sql(
      `UPDATE usage_alerts SET status = $2, next_attempt_at = $3::timestamptz, locked_until = NULL, last_error = $4
       WHERE id = $1 AND status = 'sending'`,
      [
        row.id,
        last ? 'failed' : 'pending',
        new Date(at.getTime() + delay).toISOString(),
        error.slice(0, 500),
      ],
    );
    metrics.usageAlertDelivery?.(last ? 'dropped' : 'failed');
    return false;
  }

  async function deliverDue(): Promise<number> {
    const rows = await claim();
    let delivered = 0;
    for (const row of rows) if (await deliver(row)) delivered += 1;
    return delivered;
  }

  return {
    deliverDue,
    ...pollLoop(deliverDue, options.pollMs ?? 1_000),
  };
}

export const USAGE_ALERT_STATUSES = ['pending', 'sending', 'delivered', 'failed'] as const;

/** The outbox, newest first (admin API, console): one tenant's or everyone's, of one status or all. */
export async function listUsageAlerts(
  prisma: PrismaClient,
  options: { tenantId?: string; status?: UsageAlertRow['status']; limit?: number } = {},
): Promise<UsageAlertRow[]> {
  const rows = await prisma.$queryRawUnsafe<SqlRow[]>(
    `SELECT ${COLUMNS} FROM usage_alerts
     WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
     ORDER BY id DESC LIMIT $3`,
    options.tenantId ?? null,
    options.status ?? null,
    Math.min(Math.max(options.limit ?? 100, 1), 500),
  );
  return rows.map(toRow);
}

/**
 * Sends an alert again (a failed one, or a delivered one the host lost): due now, attempts reset.
 * Null if unknown (or, with `tenantId`, another tenant's). With `actor`, the replay is a
 * `usage_alert_replayed` row in the tenant's audit log, written in the same statement.
 */
export async function replayUsageAlert(
  prisma: PrismaClient,
  id: number,
  options: { actor?: string; source?: 'admin' | 'cli'; tenantId?: string } = {},
): Promise<UsageAlertRow | null> {
  const snapshot = (t: string) =>
    `jsonb_build_object('usageAlert', jsonb_build_object('id', ${t}.id, 'key', ${t}.key,
       'threshold', ${t}.threshold, 'status', ${t}.status, 'attempts', ${t}.attempts))`;
  const rows = await prisma.$queryRawUnsafe<SqlRow[]>(
    `WITH prior AS (
       SELECT * FROM usage_alerts WHERE id = $1 AND ($4::text IS NULL OR tenant_id = $4) FOR UPDATE),
     up AS (
       UPDATE usage_alerts a
       SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL
       FROM prior WHERE a.id = prior.id RETURNING a.*),
     audit AS (
       INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after, created_at)
       SELECT prior.tenant_id, $2, $3::"AuditSource", 'usage_alert_replayed', ${snapshot('prior')},
              ${snapshot('up')}, (now() AT TIME ZONE 'UTC')::timestamp(3)
       FROM prior JOIN up ON up.id = prior.id WHERE $2::text IS NOT NULL)
     SELECT ${COLUMNS} FROM up`,
    id,
    options.actor ?? null,
    options.source ?? 'admin',
    options.tenantId ?? null,
  );
  return rows[0] ? toRow(rows[0]) : null;
}
