import type { PrismaClient } from '@packages/db';
import { forEachBounded } from '../bounded-concurrency.js';
import { ConcurrencyError } from '../../core/errors.js';
import { sqlThroughPrisma, type RunSql } from '../sql-runner.js';
import {
  emptyState,
  sameValue,
  type Decision,
  type PlanChangeSkip,
  type TenantFeatureState,
} from '../../core/index.js';
import { AUDITED_FIELDS } from '../../core/index.js';
import { SET_CONFIG_FROM_EXCLUDED } from './config-upsert.js';
import { auditSnapshot, toState } from './state-row.js';
import type { AuditContext } from './write.js';

/** One tenant for the batched writer: the state it was decided from and how to decide again. */
export interface BatchWriteItem {
  tenantId: string;
  /** The state read before the write (null: no config row). The write only lands if it is still current. */
  state: TenantFeatureState | null;
  /** Pure: the change for a given current state. Re-run on a fresh read when another writer got there first. */
  decide: (current: TenantFeatureState | null) => Decision<PlanChangeSkip>;
  /** `decide(state)`, when the caller has made it already: used as long as `state` is still current. */
  decided?: Decision<PlanChangeSkip>;
  /** Record this Stripe customer on the tenant if it has none yet (same statement as the config). */
  linkCustomerId?: string;
  /**
   * The bulk sync's hash of what Stripe implied (feature-sync/sync-hash.ts), stored with the new
   * version so the next sync knows the tenant unchanged without reading it; unset stores NULL.
   */
  syncHash?: string;
}

export type BatchWriteOutcome =
  | { status: 'tenant_not_found' }
  | { status: 'skipped'; reason: PlanChangeSkip; state: TenantFeatureState | null }
  | {
      status: 'updated' | 'unchanged';
      action: string;
      before: TenantFeatureState | null;
      after: TenantFeatureState;
      /** True when a new version was committed (publish it to the cache). */
      wrote: boolean;
    }
  | { status: 'failed'; error: unknown };

export interface BatchWriteOptions {
  audit: AuditContext;
  /**
   * Read ticket taken before the Stripe reads these writes come from: stored on every row written
   * (never lowered), so a webhook whose read started earlier cannot overwrite them afterwards.
   */
  readTicket?: bigint;
  /** Tenants per statement (default 500). */
  batchSize?: number;
  /** Statements in flight at once (default 3). */
  concurrency?: number;
  /** Stops between batches: tenants of batches not started get no outcome. */
  signal?: AbortSignal;
  /** Called once per committed batch with the versions it wrote (publish them to the cache here). */
  afterCommit?: (written: TenantFeatureState[]) => Promise<void>;
  /** Called with each tenant's final outcome, in batch order. */
  onOutcome?: (index: number, outcome: BatchWriteOutcome) => void;
  /** Runs the batch statements (default: through `prisma`; the context passes the pg pool behind it). */
  sql?: RunSql;
}

/** A planned row: what the statement writes for one tenant. */
interface PlannedRow {
  index: number;
  item: BatchWriteItem;
  before: TenantFeatureState | null;
  next: TenantFeatureState | null;
  action: string;
  audit: boolean;
  skip?: PlanChangeSkip;
}

/** Rounds of "someone else wrote first: re-read, re-decide" before a tenant is reported as failed. */
const MAX_CONFLICT_ROUNDS = 3;

/**
 * Writes many tenants' feature configs with one SQL statement per batch: the config upsert, one
 * audit row per tenant whose entitlements changed, and the customer link, as data-modifying CTEs of
 * a single statement, so a batch is all-or-nothing without an interactive transaction (no
 * connection is held while anything else happens).
 *
 * Order safety is optimistic: each row is written only if the stored version is still the one the
 * decision was made from (`ON CONFLICT … DO UPDATE … WHERE version = expected`; a missing row is
 * expected to stay missing). Rows another writer changed meanwhile are re-read and decided again,
 * so a webhook that commits during the sync is decided against, never overwritten blindly.
 *
 * A failing batch is split in halves and retried, so one bad tenant (a constraint, a trigger) fails
 * alone and a transient failure (a dropped connection) heals; each attempt is still all-or-nothing.
 */
export async function writeInBatches(
  prisma: PrismaClient,
  items: readonly BatchWriteItem[],
  options: BatchWriteOptions,
): Promise<void> {
  const size = Math.max(1, options.batchSize ?? 500);
  const sql = options.sql ?? sqlThroughPrisma(prisma);
  const batches: number[][] = [];
  for (let i = 0; i < items.length; i += size)
    batches.push(Array.from({ length: Math.min(size, items.length - i) }, (_, k) => i + k));

  const report = (index: number, outcome: BatchWriteOutcome) => options.onOutcome?.(index, outcome);

  async function runBatch(indexes: number[], states: Map<number, TenantFeatureState | null>): Promise<void> {
    let pending = indexes;
    for (let round = 0; pending.length > 0; round += 1) {
      if (round === MAX_CONFLICT_ROUNDS) {
        for (const index of pending)
          report(index, {
            status: 'failed',
            error: new ConcurrencyError(items[index]!.tenantId, MAX_CONFLICT_ROUNDS),
          });
        return;
      }
      const planned = pending.map((index) => plan(index, items[index]!, states.get(index) ?? null));
      const conflicts = await writeOrSplit(planned);
      if (conflicts.length === 0) return;
      // Someone else wrote these tenants since they were read: read them again and decide afresh.
      const fresh = await loadStates(
        prisma,
        conflicts.map((i) => items[i]!.tenantId),
      );
      for (const index of conflicts) states.set(index, fresh.get(items[index]!.tenantId) ?? null);
      pending = conflicts;
    }
  }

  /** Writes the rows; on an error retries each half, down to single tenants. Returns the conflicts. */
  async function writeOrSplit(rows: PlannedRow[]): Promise<number[]> {
    try {
      return await writeRows(rows);
    } catch (error) {
      if (rows.length === 1) {
        report(rows[0]!.index, { status: 'failed', error });
        return [];
      }
      const half = Math.ceil(rows.length / 2);
      return [...(await writeOrSplit(rows.slice(0, half))), ...(await writeOrSplit(rows.slice(half)))];
    }
  }

  async function writeRows(rows: PlannedRow[]): Promise<number[]> {
    const toSend = rows.filter((r) => r.next !== null || r.item.linkCustomerId !== undefined);
    const result =
      toSend.length > 0 ? await executeBatch(sql, toSend, options.audit, options.readTicket) : emptyResult();
    const conflicts: number[] = [];
    const committed: TenantFeatureState[] = [];
    const outcomes: Array<[number, BatchWriteOutcome]> = [];
    for (const row of rows) {
      const { index, item } = row;
      if (result.missing.has(item.tenantId)) {
        outcomes.push([index, { status: 'tenant_not_found' }]);
        continue;
      }
      if (row.skip !== undefined) {
        outcomes.push([index, { status: 'skipped', reason: row.skip, state: row.before }]);
        continue;
      }
      if (row.next === null) {
        // Nothing to store (not even bookkeeping): the current state already is the result.
        const current = row.before ?? emptyState(item.tenantId);
        outcomes.push([
          index,
          { status: 'unchanged', action: row.action, before: row.before, after: current, wrote: false },
        ]);
        continue;
      }
      const written = result.written.get(item.tenantId);
      if (!written) {
        conflicts.push(index);
        continue;
      }
      const after = { ...row.next, updatedAt: written.updatedAt };
      committed.push(after);
      outcomes.push([
        index,
        {
          status: row.audit ? 'updated' : 'unchanged',
          action: row.action,
          before: row.before,
          after,
          wrote: true,
        },
      ]);
    }
    // After commit only: a version that was never committed must never reach the cache.
    if (committed.length > 0) await options.afterCommit?.(committed);
    for (const [index, outcome] of outcomes) report(index, outcome);
    return conflicts;
  }

  await forEachBounded(
    batches.length,
    options.concurrency ?? 3,
    async (b) => {
      const batch = batches[b]!;
      await runBatch(batch, new Map(batch.map((index) => [index, items[index]!.state])));
    },
    { signal: options.signal },
  );
}

/** Decides one tenant against `current`, the way updateTenantFeatures does under its lock. */
function plan(index: number, item: BatchWriteItem, current: TenantFeatureState | null): PlannedRow {
  const decision = item.decided && current === item.state ? item.decided : item.decide(current);
  if ('skip' in decision)
    return { index, item, before: current, next: null, action: '', audit: false, skip: decision.skip };
  const base = current ?? emptyState(item.tenantId);
  const next: TenantFeatureState = {
    ...base,
    ...decision.patch,
    tenantId: item.tenantId,
    version: base.version + 1,
  };
  const audit = current === null || AUDITED_FIELDS.some((field) => !sameValue(current[field], next[field]));
  const bookkeeping =
    current === null ||
    (Object.keys(decision.patch) as (keyof TenantFeatureState)[]).some(
      (f) => !sameValue(current[f], next[f]),
    );
  return { index, item, before: current, next: bookkeeping ? next : null, action: decision.action, audit };
}

interface BatchResult {
  written: Map<string, { version: number; updatedAt: Date }>;
  missing: Set<string>;
}

const emptyResult = (): BatchResult => ({ written: new Map(), missing: new Set() });

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/**
 * The one statement per batch. The input travels as one JSON parameter expanded by
 * jsonb_to_recordset (typed columns, no per-row bind parameters, no limit on the batch size).
 * Timestamps are written as UTC wall-clock values, as Prisma writes them.
 */
async function executeBatch(
  sql: RunSql,
  rows: PlannedRow[],
  audit: AuditContext,
  readTicket: bigint | undefined,
): Promise<BatchResult> {
  const now = new Date();
  const input = rows.map((r) => {
    const n = r.next;
    return {
      tenant_id: r.item.tenantId,
      write: n !== null,
      expected_version: r.before ? r.before.version : -1,
      new_version: n?.version ?? null,
      features: n?.features ?? null,
      plan_features: n?.planFeatures ?? null,
      overrides: n?.overrides ?? null,
      scrape_interval_hours: n?.scrapeIntervalHours ?? null,
      bundle: n?.bundle ?? null,
      source: n?.source ?? null,
      stripe_product_id: n?.stripeProductId ?? null,
      stripe_price_id: n?.stripePriceId ?? null,
      stripe_subscription_id: n?.stripeSubscriptionId ?? null,
      subscription_status: n?.subscriptionStatus ?? null,
      access_active: n?.accessActive ?? null,
      payment_failed_at: iso(n?.paymentFailedAt ?? null),
      last_payment_at: iso(n?.lastPaymentAt ?? null),
      trial_ends_at: iso(n?.trialEndsAt ?? null),
      current_period_start: iso(n?.currentPeriodStart ?? null),
      current_period_end: iso(n?.currentPeriodEnd ?? null),
      last_stripe_event_at: iso(n?.lastStripeEventAt ?? null),
      last_stripe_event_id: n?.lastStripeEventId ?? null,
      audit: n !== null && r.audit,
      action: r.action,
      before: r.before ? auditSnapshot(r.before) : null,
      after: n ? auditSnapshot(n) : null,
      link_customer: r.item.linkCustomerId ?? null,
      sync_hash: r.item.syncHash ?? null,
    };
  });
  const result = await sql<{
    kind: 'written' | 'missing';
    tenantId: string;
    version: number | null;
    updatedAtMs: number | null;
  }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
         tenant_id text, write boolean, expected_version int, new_version int,
         features jsonb, plan_features jsonb, overrides jsonb, scrape_interval_hours int, bundle text,
         source "FeatureSource", stripe_product_id text, stripe_price_id text, stripe_subscription_id text,
         subscription_status text, access_active boolean, payment_failed_at timestamp(3),
         last_payment_at timestamp(3), trial_ends_at timestamp(3), current_period_start timestamp(3),
         current_period_end timestamp(3), last_stripe_event_at timestamp(3),
         last_stripe_event_id text, audit boolean, action text, before jsonb, after jsonb, link_customer text,
         sync_hash text)
     ),
     present AS (
       SELECT t.id FROM tenants t JOIN input i ON i.tenant_id = t.id
     ),
     linked AS (
       UPDATE tenants t SET stripe_customer_id = i.link_customer, updated_at = $2::timestamp(3)
         FROM input i
        WHERE t.id = i.tenant_id AND i.link_customer IS NOT NULL AND t.stripe_customer_id IS NULL
        RETURNING t.id
     ),
     written AS (
       INSERT INTO tenant_feature_configs AS c (
         tenant_id, features, plan_features, overrides, scrape_interval_hours, bundle, source,
         stripe_product_id, stripe_price_id, stripe_subscription_id, subscription_status, access_active,
         payment_failed_at, last_payment_at, trial_ends_at, current_period_start, current_period_end, version,
         last_stripe_event_at,
         last_stripe_event_id, updated_at, created_at, read_ticket, sync_hash, sync_hash_version)
       SELECT i.tenant_id, i.features, i.plan_features, i.overrides, i.scrape_interval_hours, i.bundle, i.source,
              i.stripe_product_id, i.stripe_price_id, i.stripe_subscription_id, i.subscription_status,
              i.access_active, i.payment_failed_at, i.last_payment_at, i.trial_ends_at, i.current_period_start,
              i.current_period_end, i.new_version,
              i.last_stripe_event_at, i.last_stripe_event_id, $2::timestamp(3), $2::timestamp(3),
              COALESCE($6::bigint, 0), i.sync_hash, i.new_version
         FROM input i JOIN present p ON p.id = i.tenant_id
        WHERE i.write
        -- In tenant order, as the ticketed write: two statements sharing configs never deadlock.
        ORDER BY i.tenant_id
       ON CONFLICT (tenant_id) DO UPDATE SET ${SET_CONFIG_FROM_EXCLUDED},
         read_ticket = GREATEST(c.read_ticket, EXCLUDED.read_ticket),
         sync_hash = EXCLUDED.sync_hash, sync_hash_version = EXCLUDED.sync_hash_version
        WHERE c.version = EXCLUDED.version - 1
          AND c.version = (SELECT i2.expected_version FROM input i2 WHERE i2.tenant_id = c.tenant_id)
       RETURNING c.tenant_id, c.version, c.updated_at
     ),
     audited AS (
       INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after, stripe_event_id)
       SELECT i.tenant_id, $3, $4::"AuditSource", i.action, i.before, i.after, $5
         FROM input i JOIN written w ON w.tenant_id = i.tenant_id
        WHERE i.audit
       RETURNING tenant_id
     )
     SELECT 'written' AS kind, w.tenant_id AS "tenantId", w.version,
            (extract(epoch FROM w.updated_at) * 1000)::float8 AS "updatedAtMs" FROM written w
     UNION ALL
     SELECT 'missing', i.tenant_id, NULL, NULL FROM input i
      WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.id = i.tenant_id)`,
    [
      JSON.stringify(input),
      now.toISOString(),
      audit.actor,
      audit.source,
      audit.stripeEventId ?? null,
      readTicket === undefined ? null : String(readTicket),
    ],
  );
  const out = emptyResult();
  for (const row of result) {
    if (row.kind === 'missing') out.missing.add(row.tenantId);
    else out.written.set(row.tenantId, { version: row.version!, updatedAt: new Date(row.updatedAtMs!) });
  }
  return out;
}

/** Current states of the given tenants (one statement per 1,000), for re-deciding after a conflict. */
async function loadStates(
  prisma: PrismaClient,
  tenantIds: string[],
): Promise<Map<string, TenantFeatureState>> {
  const out = new Map<string, TenantFeatureState>();
  for (let i = 0; i < tenantIds.length; i += 1000) {
    const rows = await prisma.tenantFeatureConfig.findMany({
      where: { tenantId: { in: tenantIds.slice(i, i + 1000) } },
    });
    for (const row of rows) out.set(row.tenantId, toState(row));
  }
  return out;
}
