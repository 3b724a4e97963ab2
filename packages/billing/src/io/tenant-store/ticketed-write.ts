import type { Prisma, PrismaClient } from '@packages/db';
import { sqlThroughPrisma, type RunSql } from '../sql-runner.js';
import { type FoldStep, type TenantFeatureState } from '../../core/index.js';
import type { AuditSourceName } from '../../core/types.js';
import { SET_CONFIG_FROM_EXCLUDED } from './config-upsert.js';
import { auditSnapshot } from './state-row.js';
import type { TenantRow } from './write.js';

/**
 * Writes that follow a Stripe read, without any lock or transaction held across that read.
 *
 * Order safety comes from a read ticket (`nextval('stripe_read_ticket')`) taken *before* the read:
 * the write lands only if its ticket is greater than the tenant row's `read_ticket`, checked in the
 * same statement that writes. A read that started earlier can therefore never overwrite the result
 * of a read that started later, whatever order the two finish in. Lost updates against writers that
 * do not read Stripe (overrides, grace enforcement) are excluded by the version check in the same
 * statement, which also takes the tenant row lock for its own duration only, like every writer.
 */

export interface LedgerFinish {
  eventId: string;
  status: 'processed' | 'ignored';
  action: string;
  tenantId: string | null;
  error?: string | null;
}

export interface TicketedWrite {
  tenantId: string;
  /** Ticket taken before the Stripe read this write is based on. */
  ticket: bigint;
  /** The version the decisions were computed from (0 = no config row). */
  expectedVersion: number;
  /** The state to store, or null when only `events` are to be finished (and the ticket is not needed). */
  next: TenantFeatureState | null;
  /** One audit row per entry, in order. */
  audits: FoldStep[];
  actor: string;
  source: AuditSourceName;
  /** Store this Stripe customer on the tenant if it has none yet. */
  linkCustomerId?: string | null;
  /** Inbox rows to mark done in the same statement; only while the claim `ticket` still holds them. */
  events?: LedgerFinish[];
}

export type TicketedWriteResult =
  | { status: 'written'; state: TenantFeatureState | null }
  | { status: 'tenant_not_found' }
  /** Another worker holds the events now (this one's lease ran out): nothing was written. */
  | { status: 'lease_lost' }
  /** The stored config changed since it was read (another writer); recompute and try again. */
  | { status: 'stale_version'; version: number }
  /** A read that started later was written first: this read's result must not be applied. */
  | { status: 'stale_ticket'; readTicket: bigint };

interface WriteRow {
  i: number;
  tenant_exists: boolean;
  leased: boolean;
  written: boolean;
  current_version: number | null;
  current_ticket: bigint | string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function rowJson(state: TenantFeatureState, ticket: bigint, now: Date) {
  return {
    tenant_id: state.tenantId,
    features: state.features,
    plan_features: state.planFeatures,
    overrides: state.overrides,
    scrape_interval_hours: state.scrapeIntervalHours,
    bundle: state.bundle,
    source: state.source,
    stripe_product_id: state.stripeProductId,
    stripe_price_id: state.stripePriceId,
    stripe_subscription_id: state.stripeSubscriptionId,
    subscription_status: state.subscriptionStatus,
    access_active: state.accessActive,
    payment_failed_at: iso(state.paymentFailedAt),
    last_payment_at: iso(state.lastPaymentAt),
    trial_ends_at: iso(state.trialEndsAt),
    current_period_start: iso(state.currentPeriodStart),
    current_period_end: iso(state.currentPeriodEnd),
    version: state.version,
    last_stripe_event_at: iso(state.lastStripeEventAt),
    last_stripe_event_id: state.lastStripeEventId,
    updated_at: now.toISOString(),
    created_at: now.toISOString(),
    read_ticket: ticket.toString(),
  };
}

/**
 * One statement: tenant row lock (for the statement only), config upsert guarded by version and
 * ticket, audit rows, customer link and inbox rows — all or nothing, one round trip.
 */
export async function writeTicketed(
  prisma: PrismaClient | Prisma.TransactionClient,
  write: TicketedWrite,
  now: Date = new Date(),
): Promise<TicketedWriteResult> {
  return (await writeTicketedMany(prisma, [write], now))[0]!;
}

/** $1 the writes, $2 the inbox rows to finish, $3 the audit rows (JSON arrays), $4 the time written. */
const WRITE_TICKETED_SQL = `
    WITH w AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb)
        AS w(i int, tenant_id text, ticket bigint, expected_version int, config_row jsonb, link text, actor text,
             source text, n_events int)
    ), ev AS (
      SELECT * FROM jsonb_to_recordset($2::jsonb)
        AS r(i int, event_id text, status text, action text, tenant_id text, error text)
    ), tenant AS (
      SELECT id FROM tenants WHERE id IN (SELECT tenant_id FROM w) ORDER BY id FOR UPDATE
    ), lease AS (
      SELECT e.event_id, ev.i FROM processed_stripe_events e
      JOIN ev ON ev.event_id = e.event_id JOIN w ON w.i = ev.i
      WHERE e.status = 'processing' AND e.claim_ticket = w.ticket
      ORDER BY e.event_id
      FOR UPDATE OF e
    ), locked AS (
      -- Aggregates read their CTE to the end: every lock is taken before anything is written.
      SELECT (SELECT array_agg(id) FROM tenant) AS tenants,
             (SELECT jsonb_object_agg(i::text, n) FROM (SELECT i, count(*) AS n FROM lease GROUP BY i) l) AS leases
    ), ok AS (
      SELECT w.*, COALESCE(w.tenant_id = ANY(locked.tenants), false) AS tenant_exists,
             COALESCE((locked.leases ->> w.i::text)::int, 0) = w.n_events AS leased
      FROM w CROSS JOIN locked
    ), link AS (
      UPDATE tenants t SET stripe_customer_id = ok.link, updated_at = $4::timestamp(3)
      FROM ok
      WHERE t.id = ok.tenant_id AND t.stripe_customer_id IS NULL AND ok.link IS NOT NULL
        AND ok.tenant_exists AND ok.leased
      RETURNING t.id
    ), upd AS (
      INSERT INTO tenant_feature_configs
      SELECT (jsonb_populate_record(NULL::tenant_feature_configs, ok.config_row)).*
      FROM ok WHERE ok.config_row IS NOT NULL AND ok.tenant_exists AND ok.leased
      -- In tenant order, as the bulk sync's batch write: two statements sharing configs never deadlock.
      ORDER BY ok.tenant_id
      ON CONFLICT (tenant_id) DO UPDATE SET ${SET_CONFIG_FROM_EXCLUDED},
        read_ticket = EXCLUDED.read_ticket
      -- EXCLUDED.version is the decided-from version + 1.
      WHERE tenant_feature_configs.version = EXCLUDED.version - 1
        AND tenant_feature_configs.read_ticket < EXCLUDED.read_ticket
      RETURNING tenant_id
    ), audit AS (
      INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after, stripe_event_id, created_at)
      SELECT ok.tenant_id, ok.actor, ok.source::"AuditSource", a.action, a.before, a.after, a.stripe_event_id,
             $4::timestamp(3)
      FROM jsonb_to_recordset($3::jsonb)
        AS a(i int, n int, action text, before jsonb, after jsonb, stripe_event_id text)
      JOIN ok ON ok.i = a.i
      WHERE ok.tenant_id IN (SELECT tenant_id FROM upd)
      ORDER BY a.i, a.n
    ), done AS (
      UPDATE processed_stripe_events e
      SET status = r.status::"EventStatus", action = r.action, tenant_id = r.tenant_id, error = r.error,
          processed_at = $4::timestamp(3), locked_until = NULL, next_attempt_at = NULL,
          last_error = NULL
      FROM ev r JOIN ok ON ok.i = r.i
      WHERE e.event_id = r.event_id AND ok.leased
        AND (ok.config_row IS NULL OR ok.tenant_id IN (SELECT tenant_id FROM upd))
      RETURNING e.event_id
    )
    SELECT ok.i, ok.tenant_exists, ok.leased, ok.tenant_id IN (SELECT tenant_id FROM upd) AS written,
           cur.version AS current_version, cur.read_ticket AS current_ticket
    FROM ok LEFT JOIN tenant_feature_configs cur ON cur.tenant_id = ok.tenant_id
    ORDER BY ok.i`;

/**
 * Several tenants' ticketed writes in one statement (a worker pool's writes that are ready at the
 * same moment): each write is checked, applied or refused exactly as `writeTicketed` does it on
 * its own — its lease, its tenant's version and read ticket — and gets its own result; one refused
 * write does not hold the others back. The statement is atomic, so an error (not a refusal) fails
 * every write in it: callers retry them one by one. At most one write per tenant per statement.
 * Tenant rows are locked in id order, so two such statements cannot deadlock each other.
 * `db`: Prisma (or a transaction of it), or a RunSql such as the pg pool's (`sqlThroughPool`, the
 * webhook worker's: Prisma's per-statement work grows with the size of the parameters).
 */
export async function writeTicketedMany(
  db: PrismaClient | Prisma.TransactionClient | RunSql,
  writes: TicketedWrite[],
  now: Date = new Date(),
): Promise<TicketedWriteResult[]> {
  const sql = typeof db === 'function' ? db : sqlThroughPrisma(db);
  if (new Set(writes.map((w) => w.tenantId)).size !== writes.length)
    throw new Error('writeTicketedMany: at most one write per tenant');
  const nexts = writes.map((w) =>
    w.next ? { ...w.next, version: w.expectedVersion + 1, updatedAt: now } : null,
  );
  const head = writes.map((w, i) => ({
    i,
    tenant_id: w.tenantId,
    ticket: w.ticket.toString(),
    expected_version: w.expectedVersion,
    config_row: nexts[i] ? rowJson(nexts[i], w.ticket, now) : null,
    link: w.linkCustomerId ?? null,
    actor: w.actor,
    source: w.source,
    n_events: (w.events ?? []).length,
  }));
  const audits = writes.flatMap((w, i) =>
    w.audits.map((a, n) => ({
      i,
      n,
      action: a.action,
      before: a.before ? auditSnapshot(a.before) : null,
      after: auditSnapshot(a.after),
      stripe_event_id: a.stripeEventId,
    })),
  );
  const finished = writes.flatMap((w, i) =>
    (w.events ?? []).map((e) => ({
      i,
      event_id: e.eventId,
      status: e.status,
      action: e.action,
      tenant_id: e.tenantId,
      error: e.error ?? null,
    })),
  );
  const rows = await sql<WriteRow>(WRITE_TICKETED_SQL, [
    JSON.stringify(head),
    JSON.stringify(finished),
    JSON.stringify(audits),
    now.toISOString(),
  ]);
  return rows.map((result): TicketedWriteResult => {
    const write = writes[result.i]!;
    const next = nexts[result.i] ?? null;
    if (!result.leased) return { status: 'lease_lost' };
    if (!result.tenant_exists) return { status: 'tenant_not_found' };
    if (next === null) return { status: 'written', state: null };
    if (result.written) return { status: 'written', state: next };
    // bigint through Prisma, a decimal string through pg.
    const ticket = BigInt(result.current_ticket ?? 0);
    if (ticket >= write.ticket) return { status: 'stale_ticket', readTicket: ticket };
    return { status: 'stale_version', version: result.current_version ?? 0 };
  });
}

/** Tenant + config + a fresh read ticket in one round trip: the start of a read-Stripe-then-write. */
export async function readForTicketedWrite(
  prisma: PrismaClient | Prisma.TransactionClient,
  tenantId: string,
): Promise<{ ticket: bigint; tenant: TenantRow | null; state: TenantFeatureState | null }> {
  const rows = await prisma.$queryRaw<
    { ticket: bigint; id: string | null; name: string | null; customer: string | null; config: unknown }[]
  >`
    SELECT nextval('stripe_read_ticket') AS ticket, t.id, t.name, t.stripe_customer_id AS customer,
           row_to_json(c) AS config
    FROM (SELECT 1) one
    LEFT JOIN tenants t ON t.id = ${tenantId}
    LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id`;
  const row = rows[0]!;
  return {
    ticket: row.ticket,
    tenant: row.id ? { id: row.id, name: row.name!, stripeCustomerId: row.customer } : null,
    state: row.config ? stateFromJson(row.config) : null,
  };
}

/** Tenant + config without a ticket: re-reading after another writer's change, the Stripe read kept. */
export async function readTenantState(
  prisma: PrismaClient | Prisma.TransactionClient,
  tenantId: string,
): Promise<{ tenant: TenantRow; state: TenantFeatureState | null } | null> {
  const rows = await prisma.$queryRaw<
    { id: string; name: string; customer: string | null; config: unknown }[]
  >`
    SELECT t.id, t.name, t.stripe_customer_id AS customer,
           (SELECT row_to_json(c) FROM tenant_feature_configs c WHERE c.tenant_id = t.id) AS config
    FROM tenants t WHERE t.id = ${tenantId}`;
  const row = rows[0];
  if (!row) return null;
  return {
    tenant: { id: row.id, name: row.name, stripeCustomerId: row.customer },
    state: row.config ? stateFromJson(row.config) : null,
  };
}

/**
 * Inside a writer's own transaction (reconcile fix, custom plan activation): records that this
 * tenant's state now reflects a Stripe read that began at `ticket` (never lowers it), so a
 * ticketed write whose read started earlier is refused afterwards.
 */
export async function raiseReadTicket(
  tx: PrismaClient | Prisma.TransactionClient,
  tenantId: string,
  ticket: bigint | 'now',
): Promise<void> {
  if (ticket === 'now') {
    await tx.$executeRaw`
      UPDATE tenant_feature_configs SET read_ticket = GREATEST(read_ticket, nextval('stripe_read_ticket'))
      WHERE tenant_id = ${tenantId}`;
  } else {
    await tx.$executeRaw`
      UPDATE tenant_feature_configs SET read_ticket = GREATEST(read_ticket, ${ticket}::bigint)
      WHERE tenant_id = ${tenantId}`;
  }
}

/** Takes a read ticket on its own (bulk readers take one before their whole walk). */
export async function takeReadTicket(prisma: PrismaClient | Prisma.TransactionClient): Promise<bigint> {
  const rows = await prisma.$queryRaw<{ ticket: bigint }[]>`SELECT nextval('stripe_read_ticket') AS ticket`;
  return rows[0]!.ticket;
}

/** A zone-less timestamp column as row_to_json prints it ("2026-11-30T06:31:10.123"), read as UTC. */
function utc(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

/** A tenant_feature_configs row as `row_to_json` returns it. */
export function stateFromJson(raw: unknown): TenantFeatureState {
  const r = raw as Record<string, unknown>;
  const map = (v: unknown) => (v && typeof v === 'object' ? (v as TenantFeatureState['features']) : {});
  return {
    tenantId: r.tenant_id as string,
    features: map(r.features),
    planFeatures: map(r.plan_features),
    overrides: map(r.overrides),
    bundle: (r.bundle as string | null) ?? null,
    scrapeIntervalHours: (r.scrape_interval_hours as number | null) ?? null,
    source: r.source as TenantFeatureState['source'],
    stripeProductId: (r.stripe_product_id as string | null) ?? null,
    stripePriceId: (r.stripe_price_id as string | null) ?? null,
    stripeSubscriptionId: (r.stripe_subscription_id as string | null) ?? null,
    subscriptionStatus: (r.subscription_status as string | null) ?? null,
    accessActive: r.access_active as boolean,
    paymentFailedAt: utc(r.payment_failed_at),
    lastPaymentAt: utc(r.last_payment_at),
    trialEndsAt: utc(r.trial_ends_at),
    currentPeriodStart: utc(r.current_period_start),
    currentPeriodEnd: utc(r.current_period_end),
    version: r.version as number,
    lastStripeEventAt: utc(r.last_stripe_event_at),
    lastStripeEventId: (r.last_stripe_event_id as string | null) ?? null,
    updatedAt: utc(r.updated_at),
  };
}
