import type { PrismaClient } from '@packages/db';
import {
  decidePlanChange,
  isNoOp,
  matchCustomersToTenants,
  type PlanChangeSkip,
  type TenantFeatureState,
} from '../core/index.js';
import type { SyncReason, SyncSkipReason } from '../error-codes.js';
import { BillingError, messageOf } from '../errors.js';
import { readTenantsWithFeatures, type FeatureReader } from '../feature-cache/index.js';
import type { StripePlanDefaults, StripeSyncService } from '../stripe-sync/index.js';
import type { AuditSourceName, FeatureCatalog, FeatureMap, MergeStrategy } from '../types.js';
import { checkPlanAgainstCatalog } from './apply.js';
import { writeInBatches, type BatchWriteItem } from './batch-write.js';
import { sqlThroughPrisma, type RunSql } from '../sql-runner.js';
import { takeReadTicket } from '../tenant-store/index.js';

export interface SyncAllOptions {
  force?: boolean;
  mergeStrategy?: MergeStrategy;
  /** At most this many Stripe customers. */
  limit?: number;
  /** Only this tenant, via its customer's access-granting subscription. */
  tenantId?: string;
  dryRun?: boolean;
  onProgress?: (progress: { done: number; total: number; tenantId: string | null }) => void;
  actor?: string;
  source?: AuditSourceName;
  /**
   * Stops the run between write batches: a batch already started finishes (each is one statement),
   * none starts after the abort, and the tenants left out are reported with reason 'aborted'.
   */
  signal?: AbortSignal;
}

export interface SyncResult {
  tenantId: string | null;
  customerId: string;
  planId: string | null;
  success: boolean;
  changed: boolean;
  /**
   * Skips (SYNC_SKIP_REASONS): no_tenant, no_customer, customer_mismatch, duplicate_customer,
   * no_active_subscription, custom_config, plan_for_other_tenant, tenant_not_found, stale_read (a
   * webhook or another writer changed the tenant after the walk began reading Stripe; its newer
   * state is kept), aborted. No-op: up_to_date. Failures carry the error's code (invalid_metadata,
   * plan_not_found, ...; write_failed for anything but a BillingError) plus `error`.
   */
  reason?: SyncReason;
  error?: string;
  before?: FeatureMap | null;
  after?: FeatureMap | null;
}

export interface SyncSummary {
  processed: number;
  updated: number;
  unchanged: number;
  /** Per skip reason (and the failures' codes counted as skips, e.g. plan_not_found), how many tenants. */
  skipped: Partial<Record<SyncReason, number>>;
  failed: Array<{ tenantId: string | null; customerId: string; error: string }>;
  stripeRequests: number;
  durationMs: number;
  /** Of durationMs, the time spent reading Stripe; the rest is the database (loading tenants, writing batches). */
  stripeMs: number;
  /** True when the run was stopped through `signal` before every tenant was handled. */
  aborted: boolean;
}

interface WorkItem {
  customerId: string;
  tenantIdHint: string | null;
  plan: StripePlanDefaults | null;
  error?: BillingError;
  subscription: { id: string; status: string } | null;
  grantsAccess: boolean;
}

interface LoadedTenant {
  id: string;
  stripeCustomerId: string | null;
  state: TenantFeatureState | null;
}

/** Tenants per loading statement (array parameters: the size bounds the statement, not the bind count). */
const LOAD_CHUNK = 5000;

export function createBulkSync(deps: {
  prisma: PrismaClient;
  stripeSync: StripeSyncService;
  reader: FeatureReader;
  /** Batch statements in flight at once. */
  concurrency: number;
  /** Tenants per write statement (default 500). */
  batchSize?: number;
  catalog?: FeatureCatalog;
  /** Runs the tenant loading and write statements (default: through `prisma`). */
  sql?: RunSql;
}) {
  const { prisma, stripeSync, reader } = deps;
  const sql = deps.sql ?? sqlThroughPrisma(prisma);

  async function loadTenants(where: { ids: string[]; customerIds: string[] }): Promise<LoadedTenant[]> {
    const out: LoadedTenant[] = [];
    const chunks = Math.max(
      Math.ceil(where.ids.length / LOAD_CHUNK),
      Math.ceil(where.customerIds.length / LOAD_CHUNK),
    );
    for (let i = 0; i < chunks; i += 1) {
      const rows = await readTenantsWithFeatures(sql, {
        ids: where.ids.slice(i * LOAD_CHUNK, (i + 1) * LOAD_CHUNK),
        customerIds: where.customerIds.slice(i * LOAD_CHUNK, (i + 1) * LOAD_CHUNK),
      });
      out.push(...rows);
    }
    return out;
  }

  async function collectItems(options: SyncAllOptions): Promise<{ items: WorkItem[]; early: SyncResult[] }> {
    if (options.tenantId === undefined) {
      const entries = await stripeSync.getCustomersWithSubscriptions(options.limit);
      return {
        early: [],
        items: entries.map((e) => ({
          customerId: e.customer.id,
          tenantIdHint: e.tenantIdHint,
          plan: e.plan,
          error: e.error,
          subscription: { id: e.subscription.id, status: e.status },
          grantsAccess: e.grantsAccess,
        })),
      };
    }
    const tenantId = options.tenantId;
    const tenant = await prisma.tenant.findUnique({
      where: { id: tenantId },
      select: { stripeCustomerId: true },
    });
    const skip = (reason: SyncSkipReason): SyncResult => ({
      tenantId,
      customerId: tenant?.stripeCustomerId ?? '',
      planId: null,
      success: false,
      changed: false,
      reason,
    });
    if (!tenant) return { items: [], early: [skip('tenant_not_found')] };
    if (!tenant.stripeCustomerId) return { items: [], early: [skip('no_customer')] };
    const customerId = tenant.stripeCustomerId;
    try {
      const active = await stripeSync.getActiveSubscription(customerId);
      if (!active) return { items: [], early: [skip('no_active_subscription')] };
      const subscription = { id: active.subscription.id, status: active.status };
      return {
        early: [],
        items: [{ customerId, tenantIdHint: tenantId, plan: active.plan, subscription, grantsAccess: true }],
      };
    } catch (error) {
      if (!(error instanceof BillingError)) throw error;
      return {
        early: [],
        items: [
          { customerId, tenantIdHint: tenantId, plan: null, error, subscription: null, grantsAccess: true },
        ],
      };
    }
  }

  return async function syncAllTenantsFromStripe(
    options: SyncAllOptions = {},
  ): Promise<{ results: SyncResult[]; summary: SyncSummary }> {
    const started = performance.now();
    const requestsBefore = stripeSync.stats.stripeRequests;
    const {
      force = false,
      mergeStrategy = 'merge',
      dryRun = false,
      actor = 'system',
      source = 'sync',
    } = options;

    // Taken before Stripe is read: a tenant that a webhook (or any other writer) changes after this
    // moment holds a picture at least as new as the walk's, and the write (re-decided under the
    // tenant's lock) must not overwrite it. Without this a cancellation committed between our read
    // and our write was silently undone, handing the features back until the next event.
    const observedAt = new Date();
    // And a read ticket, stored on every row written, so a webhook whose Stripe read started before
    // this walk cannot overwrite its result afterwards (tenant-store/ticketed-write.ts).
    const readTicket = dryRun ? undefined : await takeReadTicket(prisma);
    const { items, early } = await collectItems(options);
    const stripeMs = Math.round(performance.now() - started);
    const tenants = await loadTenants({
      ids: [...new Set(items.flatMap((i) => (i.tenantIdHint ? [i.tenantIdHint] : [])))],
      customerIds: items.map((i) => i.customerId),
    });

    const total = items.length + early.length;
    const results: SyncResult[] = new Array(items.length);
    let done = 0;
    const finish = (index: number, result: SyncResult) => {
      results[index] = result;
      done += 1;
      options.onProgress?.({ done, total, tenantId: result.tenantId });
    };
    for (const result of early) {
      done += 1;
      options.onProgress?.({ done, total, tenantId: result.tenantId });
    }

    const match = matchCustomersToTenants(items, tenants);

    const writes: BatchWriteItem[] = [];
    const writeMeta: Array<{
      index: number;
      base: { customerId: string; planId: string | null; changed: boolean };
      before: FeatureMap | null;
    }> = [];
    items.forEach((item, index) => {
      const m = match[index]!;
      const base = {
        customerId: item.customerId,
        planId: item.plan?.priceId ?? item.plan?.productId ?? null,
        changed: false,
      };
      if ('skip' in m)
        return finish(index, { ...base, tenantId: m.tenantId, success: false, reason: m.skip });
      const { tenant, link } = m;
      const tenantId = tenant.id;
      if (item.error || !item.plan) {
        const error = item.error;
        return finish(index, {
          ...base,
          tenantId,
          success: false,
          reason: error?.code ?? 'plan_not_found',
          error: error?.message ?? 'plan not resolved',
        });
      }
      if (!item.grantsAccess) {
        // Revoking access belongs to the subscription lifecycle (webhooks, grace periods); a bulk
        // reconcile that mass-revoked on a bad read would be far worse than one that lags.
        return finish(index, { ...base, tenantId, success: false, reason: 'no_active_subscription' });
      }
      const plan = item.plan;
      try {
        checkPlanAgainstCatalog(plan, deps.catalog);
      } catch (error) {
        if (!(error instanceof BillingError)) throw error;
        return finish(index, { ...base, tenantId, success: false, reason: error.code, error: error.message });
      }
      const changeOptions = {
        force,
        mergeStrategy,
        subscription: item.subscription ?? undefined,
        observedAt,
      };
      const before = tenant.state?.features ?? null;
      const decision = decidePlanChange(tenant.state, tenantId, plan, changeOptions);
      if ('skip' in decision && !(link && !dryRun)) {
        const ok = decision.skip === 'up_to_date';
        return finish(index, {
          ...base,
          tenantId,
          success: ok,
          reason: syncSkip(decision.skip),
          before,
          after: before,
        });
      }
      if (dryRun) {
        const patch = 'patch' in decision ? decision.patch : {};
        const changed = tenant.state === null || !isNoOp(tenant.state, patch);
        return finish(index, {
          ...base,
          tenantId,
          success: true,
          changed,
          before,
          after: patch.features ?? before,
          ...(changed ? {} : { reason: 'up_to_date' }),
        });
      }
      writes.push({
        tenantId,
        state: tenant.state,
        decide: (current) => decidePlanChange(current, tenantId, plan, changeOptions),
        decided: decision,
        ...(link ? { linkCustomerId: item.customerId } : {}),
      });
      writeMeta.push({ index, base, before });
    });
    await writeInBatches(prisma, writes, {
      audit: { actor, source },
      readTicket,
      batchSize: deps.batchSize,
      concurrency: deps.concurrency,
      sql,
      signal: options.signal,
      afterCommit: (states) => reader.publish(states),
      onOutcome: (w, outcome) => {
        const { index, base, before } = writeMeta[w]!;
        const tenantId = writes[w]!.tenantId;
        switch (outcome.status) {
          case 'failed': {
            // One tenant's failure (constraint, bug, lost connection) is reported, never fatal to the run.
            const error = outcome.error;
            const reason = error instanceof BillingError ? error.code : 'write_failed';
            return finish(index, { ...base, tenantId, success: false, reason, error: messageOf(error) });
          }
          case 'tenant_not_found':
          case 'skipped': {
            const reason = outcome.status === 'skipped' ? syncSkip(outcome.reason) : 'tenant_not_found';
            return finish(index, {
              ...base,
              tenantId,
              success: reason === 'up_to_date',
              reason,
              before,
              after: before,
            });
          }
          default:
            return finish(index, {
              ...base,
              tenantId,
              success: true,
              changed: outcome.status === 'updated',
              before: outcome.before?.features ?? null,
              after: outcome.after.features,
              ...(outcome.status === 'unchanged' ? { reason: 'up_to_date' } : {}),
            });
        }
      },
    });

    const aborted = options.signal?.aborted === true && done < total;
    items.forEach((item, index) => {
      if (results[index] === undefined) {
        const tenantId = item.tenantIdHint;
        results[index] = {
          tenantId,
          customerId: item.customerId,
          planId: item.plan?.priceId ?? null,
          success: false,
          changed: false,
          reason: 'aborted',
        };
      }
    });
    const all = [...early, ...results];
    const summary = summarize(
      all,
      stripeSync.stats.stripeRequests - requestsBefore,
      performance.now() - started,
    );
    return { results: all, summary: { ...summary, stripeMs, aborted } };
  };
}

function summarize(results: SyncResult[], stripeRequests: number, durationMs: number): SyncSummary {
  const summary: SyncSummary = {
    processed: 0,
    updated: 0,
    unchanged: 0,
    skipped: {},
    failed: [],
    stripeRequests,
    durationMs: Math.round(durationMs),
    stripeMs: 0,
    aborted: false,
  };
  for (const r of results) {
    if (r.reason !== 'aborted') summary.processed += 1;
    if (r.error !== undefined)
      summary.failed.push({ tenantId: r.tenantId, customerId: r.customerId, error: r.error });
    else if (r.success && r.changed) summary.updated += 1;
    else if (r.success) summary.unchanged += 1;
    else if (r.reason) summary.skipped[r.reason] = (summary.skipped[r.reason] ?? 0) + 1;
  }
  return summary;
}

/** A plan-change skip as a sync reason: the sync passes no event time, so never 'stale_event'. */
function syncSkip(skip: PlanChangeSkip): SyncReason {
  return skip as Exclude<PlanChangeSkip, 'stale_event'>;
}
