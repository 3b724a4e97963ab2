import type { PrismaClient } from '@packages/db';
import {
  decidePlanChange,
  isNoOp,
  matchCustomersToTenants,
  type PlanChangeSkip,
  type TenantFeatureState,
} from '../../core/index.js';
import type { SyncReason, SyncSkipReason } from '../../core/error-codes.js';
import { BillingError, messageOf } from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import type {
  CustomerSubscriptionEntry,
  StripePlanDefaults,
  StripeSyncService,
} from '../../io/stripe-sync/index.js';
import type { AuditSourceName, FeatureCatalog, FeatureMap, MergeStrategy } from '../../core/types.js';
import { checkPlanAgainstCatalog } from './apply.js';
import {
  readTenantsForSync,
  stampSyncHashes,
  takeReadTicket,
  writeInBatches,
  type BatchWriteItem,
  type BatchWriteOutcome,
  type SyncLoadedTenant,
} from '../../io/tenant-store/index.js';
import { sqlThroughPrisma, type RunSql } from '../../io/sql-runner.js';
import { createSyncHasher } from './sync-hash.js';
import { createIdMap } from '../../io/id-map.js';

/**
 * Results the CLI and the admin route keep and show of a full sync: the tenants that need a look
 * (changed, skipped, failed), at most this many; the summary counts every tenant.
 */
export const LISTED_SYNC_RESULTS = 1_000;

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
  /**
   * Each tenant's result as soon as it is final, while the walk goes on (CLI progress, a stream to
   * a file). A customer whose subscriptions span Stripe pages may get a second result that replaces
   * the first (see `forEachCustomerPage`): `replaces` is then true.
   */
  onResult?: (result: SyncResult, replaces: boolean) => void;
  /**
   * Keep every result for the returned `results` (default true, what small runs and the spec's
   * examples read). False returns `results: []`, so memory stays bounded however many tenants
   * there are: read them through `onResult` instead. A number N keeps at most N results of tenants
   * that need a look (changed, skipped, failed: not `up_to_date`), in walk order, and counts the
   * rest in `summary.resultsOmitted`: what the CLI and the admin route answer with (1,000), so a
   * large account's run neither holds nor sends every tenant's before/after.
   */
  keepResults?: boolean | number;
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
  /**
   * Of durationMs, the time until the Stripe walk ended. Batches are matched, decided and written
   * while the walk goes on, so the rest is the database work left after the last page.
   */
  stripeMs: number;
  /** True when the run was stopped through `signal` before every tenant was handled. */
  aborted: boolean;
  /**
   * Only with `keepResults` a number: tenants whose result is not in `results` (up to date, or past
   * the cap); they are counted above all the same.
   */
  resultsOmitted?: number;
}

interface WorkItem {
  customerId: string;
  /** Replaces the result of an earlier item for the same customer (a better subscription on a later page). */
  supersedes?: boolean;
  /** Position in the walk: kept results are returned in this order, whatever order batches finish in. */
  seq?: number;
  tenantIdHint: string | null;
  plan: StripePlanDefaults | null;
  error?: BillingError;
  subscription: { id: string; status: string } | null;
  grantsAccess: boolean;
  /** Deferred to the end of the walk and decided there: not deferred again. */
  final?: boolean;
  /** What Stripe implies for the tenant, hashed (sync-hash.ts); undefined when not comparable. */
  hash?: string;
}

/** Whether `next` takes away anything `before` granted: a key gone, turned off, or a lower number. */
function takesAway(before: FeatureMap, next: FeatureMap): boolean {
  for (const [key, was] of Object.entries(before)) {
    const now = next[key];
    if (now === undefined || now === false) {
      if (was !== false) return true;
    } else if (was === true ? now !== true : typeof was === 'number' && typeof now === 'number' && now < was)
      return true;
  }
  return false;
}

type LoadedTenant = SyncLoadedTenant;

/** What the bulk sync's steps share: the database, Stripe, the cache to publish to, the catalog. */
interface BulkSyncRun {
  prisma: PrismaClient;
  stripeSync: StripeSyncService;
  reader: FeatureReader;
  sql: RunSql;
  catalog?: FeatureCatalog;
  /**
   * Plans already checked against the (fixed) catalog: the reader hands the customers of one plan
   * and add-ons the same plan object, so a walk checks each once rather than once per tenant.
   */
  validPlans: WeakSet<StripePlanDefaults>;
}

/** Whether the plan passes the catalog check (memoised per plan object for the run). */
function planUsable(run: BulkSyncRun, plan: StripePlanDefaults): boolean {
  if (run.validPlans.has(plan)) return true;
  try {
    checkPlanAgainstCatalog(plan, run.catalog);
  } catch (error) {
    if (!(error instanceof BillingError)) throw error;
    return false;
  }
  run.validPlans.add(plan);
  return true;
}

async function collectItems(
  run: BulkSyncRun,
  options: SyncAllOptions,
): Promise<{ items: WorkItem[]; early: SyncResult[] }> {
  if (options.tenantId === undefined) {
    const entries = await run.stripeSync.getCustomersWithSubscriptions(options.limit);
    return { early: [], items: entries.map(toWorkItem) };
  }
  const tenantId = options.tenantId;
  const tenant = await run.prisma.tenant.findUnique({
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
    const active = await run.stripeSync.getActiveSubscription(customerId);
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

/** What one batch of items needs beyond the items: the run's options, its clock and how to report. */
interface BatchContext {
  options: SyncAllOptions;
  observedAt: Date;
  readTicket: bigint | undefined;
  /** Tenants linked through a `tenantId` hint in this run, to the customer that claimed them. */
  linked: Map<string, string>;
  report: (item: WorkItem, result: SyncResult) => void;
  /** The run's sync hash of an item (none with `force`, which decides every tenant afresh). */
  hash?: ReturnType<typeof createSyncHasher>;
  /**
   * Streaming only: holds an item back until the walk has ended (see processBatch); false when it
   * cannot (a new tenant's, `holdNewTenants` being held already).
   */
  wait?: (item: WorkItem, newTenant: boolean) => boolean;
}

/**
 * Matches one batch of customers to tenants (one loading statement), decides each and writes
 * those that change in one statement. Matching is per batch with the run's `linked` map, so an
 * unbound tenant named by two customers' hints goes to the first that claims it, as in one pass.
 */
async function processBatch(run: BulkSyncRun, items: WorkItem[], ctx: BatchContext): Promise<void> {
  const { options, observedAt, readTicket, linked, report } = ctx;
  const {
    force = false,
    mergeStrategy = 'merge',
    dryRun = false,
    actor = 'system',
    source = 'sync',
  } = options;
  if (ctx.hash)
    for (const item of items)
      if (!item.error && item.plan && item.grantsAccess && planUsable(run, item.plan))
        item.hash = ctx.hash({ plan: item.plan, subscription: item.subscription, grantsAccess: true });
  // One statement for the batch (array parameters: its size bounds the statement, not the bind count).
  const tenants = await readTenantsForSync(run.sql, {
    customerIds: items.map((i) => i.customerId),
    hints: items.map((i) => i.tenantIdHint),
    // A customer handed out again is decided on its row as this run left it (decideItem): no shortcut.
    hashes: items.map((i) => (i.supersedes ? null : (i.hash ?? null))),
  });
  const match = matchCustomersToTenants(items, tenants);
  const reported = new Set<number>();
  const finish = (index: number, result: SyncResult) => {
    reported.add(index);
    report(items[index]!, result);
  };
  const writes: BatchWriteItem[] = [];
  const stamps: Array<{ tenantId: string; hash: string; version: number }> = [];
  const writeMeta: Array<{
    index: number;
    base: { customerId: string; planId: string | null; changed: boolean };
    before: FeatureMap | null;
  }> = [];
  items.forEach((item, index) => {
    let m = match[index]!;
    // An earlier batch of this run linked the tenant to another customer: the same answer one pass gives.
    const tenantId = 'skip' in m ? m.tenantId : m.tenant.id;
    const claimedBy = tenantId === null ? undefined : linked.get(tenantId);
    if (
      claimedBy !== undefined &&
      claimedBy !== item.customerId &&
      ('link' in m ? m.link : m.skip === 'customer_mismatch')
    )
      m = { skip: 'duplicate_customer', tenantId };
    else if ('link' in m && m.link) linked.set(m.tenant.id, item.customerId);
    const base = {
      customerId: item.customerId,
      planId: item.plan?.priceId ?? item.plan?.productId ?? null,
      changed: false,
    };
    if ('skip' in m) return finish(index, { ...base, tenantId: m.tenantId, success: false, reason: m.skip });
    const { tenant, link } = m;
    // Its stored hash says Stripe implies what it implied when the row was last synced, and nobody
    // wrote the row since: the decision would be the same no-op, so it is neither read nor decided.
    if (tenant.unchanged && !link)
      return finish(index, { ...base, tenantId: tenant.id, success: true, reason: 'up_to_date' });
    const decided = decideItem(
      run,
      item,
      tenant,
      { force, mergeStrategy, observedAt, readTicket },
      link && !dryRun ? 'write' : 'skip',
    );
    if (decided.result) {
      // (A customer handed out again sent no hash to compare: its row may hold this very one.)
      if (decided.result.reason === 'up_to_date' && item.hash && !item.supersedes && tenant.state && !dryRun)
        stamps.push({ tenantId: tenant.id, hash: item.hash, version: tenant.state.version });
      return finish(index, { ...base, tenantId: tenant.id, ...decided.result });
    }
    // Streaming: a customer's first result may be half a picture (an add-on's subscription on a
    // page not read yet). One that takes plan features away from a configured tenant waits for
    // the end of the walk, and is dropped if a later page completes the customer, so a tenant is
    // not written without its add-on and back with it on every run; so does a new tenant's, up to
    // `holdNewTenants` at once, so its first write is the whole combination. Upgrades go now.
    const mayWait = tenant.state ? takesAway(tenant.state.planFeatures, item.plan!.features) : true;
    if (ctx.wait && !item.supersedes && !item.final && mayWait && ctx.wait(item, tenant.state === null)) {
      reported.add(index);
      return;
    }
    if (dryRun)
      return finish(index, {
        ...base,
        tenantId: tenant.id,
        ...dryRunResult(tenant.state, decided.decision!),
      });
    writes.push({
      tenantId: tenant.id,
      state: tenant.state,
      decide: decided.decide!,
      decided: decided.decision!,
      ...(link ? { linkCustomerId: item.customerId } : {}),
      ...(item.hash ? { syncHash: item.hash } : {}),
    });
    writeMeta.push({ index, base, before: tenant.state?.features ?? null });
  });
  // Up-to-date tenants learn their hash once (rows from before hashes, or written by a webhook).
  await stampSyncHashes(run.sql, stamps);
  if (writes.length === 0) return;
  await writeInBatches(run.prisma, writes, {
    audit: { actor, source },
    readTicket,
    batchSize: writes.length,
    concurrency: 1,
    sql: run.sql,
    signal: options.signal,
    afterCommit: (states) => run.reader.publish(states),
    onOutcome: (w, outcome) => {
      const { index, base, before } = writeMeta[w]!;
      finish(index, { ...base, tenantId: writes[w]!.tenantId, ...outcomeResult(outcome, before) });
    },
  });
  // Tenants of a write the abort stopped before it started.
  items.forEach((item, index) => {
    if (!reported.has(index)) report(item, abortedResult(item));
  });
}

/**
 * The decision for one matched tenant: a final result (a skip, a failure, or up to date), or the
 * decision to write. `mode` 'skip' reports a skip as final; 'write' (a link to store) writes anyway.
 */
function decideItem(
  run: BulkSyncRun,
  item: WorkItem,
  tenant: LoadedTenant,
  change: { force: boolean; mergeStrategy: MergeStrategy; observedAt: Date; readTicket?: bigint },
  mode: 'skip' | 'write',
): {
  result?: Omit<SyncResult, 'tenantId' | 'customerId' | 'planId' | 'changed'> & { changed?: boolean };
  decision?: ReturnType<typeof decidePlanChange>;
  decide?: BatchWriteItem['decide'];
} {
  if (item.error || !item.plan) {
    const error = item.error;
    return {
      result: {
        success: false,
        reason: error?.code ?? 'plan_not_found',
        error: error?.message ?? 'plan not resolved',
      },
    };
  }
  // Revoking access belongs to the subscription lifecycle (webhooks, grace periods); a bulk
  // reconcile that mass-revoked on a bad read would be far worse than one that lags.
  if (!item.grantsAccess) return { result: { success: false, reason: 'no_active_subscription' } };
  const plan = item.plan;
  try {
    if (!run.validPlans.has(plan)) {
      checkPlanAgainstCatalog(plan, run.catalog);
      run.validPlans.add(plan);
    }
  } catch (error) {
    if (!(error instanceof BillingError)) throw error;
    return { result: { success: false, reason: error.code, error: error.message } };
  }
  const { readTicket, ...rest } = change;
  const changeOptions = { ...rest, subscription: item.subscription ?? undefined };
  const decide = (current: TenantFeatureState | null) =>
    decidePlanChange(current, tenant.id, plan, changeOptions);
  // A customer handed out again (a later page completed its picture) finds the row this run wrote
  // for it: still at the run's ticket, no writer with a newer Stripe read has been there (each
  // raises the ticket to its own), so the newer picture replaces the run's own earlier one. A
  // re-decision after a conflict (`decide`) keeps the check: someone else wrote meanwhile.
  const ownEarlierWrite =
    item.supersedes === true && readTicket !== undefined && tenant.readTicket === readTicket;
  const decision = ownEarlierWrite
    ? decidePlanChange(tenant.state, tenant.id, plan, { ...changeOptions, observedAt: undefined })
    : decide(tenant.state);
  if ('skip' in decision && mode === 'skip') {
    const before = tenant.state?.features ?? null;
    const ok = decision.skip === 'up_to_date';
    return { result: { success: ok, reason: syncSkip(decision.skip), before, after: before } };
  }
  return { decision, decide };
}

export function createBulkSync(deps: {
  prisma: PrismaClient;
  stripeSync: StripeSyncService;
  reader: FeatureReader;
  /** Batch statements in flight at once. */
  concurrency: number;
  /** Tenants per write statement (default 500). */
  batchSize?: number;
  /**
   * Streaming: new tenants (no config yet) whose first result is held until the walk ends, at most
   * this many at once (default 1,000); past that a new tenant is written at once.
   */
  holdNewTenants?: number;
  catalog?: FeatureCatalog;
  /** Runs the tenant loading and write statements (default: through `prisma`). */
  sql?: RunSql;
}) {
  const { prisma, stripeSync } = deps;
  const run: BulkSyncRun = {
    prisma,
    stripeSync,
    reader: deps.reader,
    sql: deps.sql ?? sqlThroughPrisma(prisma),
    catalog: deps.catalog,
    validPlans: new WeakSet<StripePlanDefaults>(),
  };

  return async function syncAllTenantsFromStripe(
    options: SyncAllOptions = {},
  ): Promise<{ results: SyncResult[]; summary: SyncSummary }> {
    const started = performance.now();
    const requestsBefore = stripeSync.stats.stripeRequests;
    const dryRun = options.dryRun ?? false;

    // Taken before Stripe is read: a tenant that a webhook (or any other writer) changes after this
    // moment holds a picture at least as new as the walk's, and the write (re-decided under the
    // tenant's lock) must not overwrite it. Without this a cancellation committed between our read
    // and our write was silently undone, handing the features back until the next event.
    const observedAt = new Date();
    // And a read ticket, stored on every row written, so a webhook whose Stripe read started before
    // this walk cannot overwrite its result afterwards (tenant-store/ticketed-write.ts).
    const readTicket = dryRun ? undefined : await takeReadTicket(prisma);

    const results = createSyncResults(options);
    const { progress, report } = results;
    let nextSeq = 0;
    const numbered = (items: WorkItem[]) => {
      for (const item of items) item.seq = nextSeq++;
      return items;
    };
    const ctx: BatchContext = {
      options,
      observedAt,
      readTicket,
      linked: new Map(),
      report,
      ...(options.force ? {} : { hash: createSyncHasher(options.mergeStrategy ?? 'merge') }),
    };
    const queue = createBatchQueue(deps.batchSize ?? 500, deps.concurrency, (items) =>
      processBatch(run, items, ctx),
    );
    const aborted = () => options.signal?.aborted === true;

    let stripeMs: number;
    const stream = stripeSync.forEachCustomerPage?.bind(stripeSync);
    if (options.tenantId !== undefined || options.limit !== undefined || !stream) {
      const { items, early } = await collectItems(run, options);
      stripeMs = Math.round(performance.now() - started);
      progress.total = items.length + early.length;
      for (const result of early) report(null, result);
      await queue.push(numbered(items), aborted);
    } else {
      // Pages are matched, decided and written in batches while the walk goes on; the walk waits
      // while `concurrency` batches are in flight, so at most a few batches and pages are held.
      const stop = new Error('sync aborted');
      const deferred: WorkItem[] = [];
      const completed = new Set<string>();
      // New tenants' first results, by customer: bounded, and emptied as later pages complete them.
      const held = new Map<string, WorkItem>();
      const maxHeld = deps.holdNewTenants ?? 1_000;
      ctx.wait = (item, newTenant) => {
        if (!newTenant) deferred.push(item);
        else if (completed.has(item.customerId)) return true;
        else if (held.size >= maxHeld) return false;
        else held.set(item.customerId, item);
        return true;
      };
      try {
        await stream(async (entries) => {
          if (aborted()) throw stop;
          const items = numbered(entries.map(toWorkItem));
          for (const item of items)
            if (item.supersedes) {
              completed.add(item.customerId);
              held.delete(item.customerId);
            }
          progress.total += items.filter((i) => !i.supersedes).length;
          await queue.push(items, aborted);
        });
      } catch (error) {
        if (error !== stop) throw error;
        progress.stoppedEarly = true;
      }
      stripeMs = Math.round(performance.now() - started);
      // Batches still running may defer more: wait for them, then decide what no later page completed.
      await queue.drain();
      const left = [...deferred, ...held.values()].filter((item) => !completed.has(item.customerId));
      await queue.push(
        left.map((item) => ({ ...item, final: true })),
        aborted,
      );
    }
    await queue.drain();
    for (const item of queue.left()) report(item, abortedResult(item));

    return results.finish(
      stripeSync.stats.stripeRequests - requestsBefore,
      performance.now() - started,
      stripeMs,
    );
  };
}

/**
 * A run's results as they come in: counted in the summary's tally (a customer's later result
 * replacing its first), kept in walk order up to `keepResults` (up-to-date ones only when all are
 * kept), and reported to `onResult` / `onProgress`.
 */
function createSyncResults(options: SyncAllOptions) {
  const keep = options.keepResults ?? true;
  // How many results to keep, and whether an up-to-date one is worth a place.
  const cap = keep === true ? Infinity : keep === false ? 0 : Math.max(0, keep);
  const worthKeeping = (r: SyncResult) => keep === true || r.reason !== 'up_to_date';
  let omitted = 0;
  const tally = createTally();
  const kept: Array<{ seq: number; result: SyncResult }> = [];
  const keptAt = new Map<string, number>();
  /** Customers to decide (grows as the walk goes on), and whether the run stopped before the end. */
  const progress = { total: 0, stoppedEarly: false };
  let done = 0;
  const report = (item: WorkItem | null, result: SyncResult) => {
    if (result.reason === 'aborted') progress.stoppedEarly = true;
    const replaced = item?.supersedes === true ? tally.replace(item.customerId, result) : tally.add(result);
    if (!replaced) done += 1;
    if (cap > 0) {
      const at = replaced ? keptAt.get(result.customerId) : undefined;
      if (at !== undefined) kept[at]!.result = result;
      else if (worthKeeping(result) && kept.length < cap) {
        if (item) keptAt.set(result.customerId, kept.length);
        kept.push({ seq: item?.seq ?? -1, result });
        // The customer's first result was left out, this one is in.
        if (replaced) omitted -= 1;
      } else if (!replaced) omitted += 1;
    }
    options.onResult?.(result, item?.supersedes === true);
    options.onProgress?.({ done, total: progress.total, tenantId: result.tenantId });
  };

  function finish(
    stripeRequests: number,
    durationMs: number,
    stripeMs: number,
  ): { results: SyncResult[]; summary: SyncSummary } {
    return {
      results: kept.sort((a, b) => a.seq - b.seq).map((k) => k.result),
      summary: {
        ...tally.summary(stripeRequests, durationMs),
        stripeMs,
        aborted: progress.stoppedEarly,
        ...(typeof keep === 'number' ? { resultsOmitted: omitted } : {}),
      },
    };
  }

  return { progress, report, finish };
}

function toWorkItem(e: CustomerSubscriptionEntry): WorkItem {
  return {
    customerId: e.customer.id,
    tenantIdHint: e.tenantIdHint,
    plan: e.plan,
    error: e.error,
    subscription: { id: e.subscription.id, status: e.status },
    grantsAccess: e.grantsAccess,
    ...(e.supersedes ? { supersedes: true } : {}),
  };
}

function abortedResult(item: WorkItem): SyncResult {
  return {
    tenantId: item.tenantIdHint,
    customerId: item.customerId,
    planId: item.plan?.priceId ?? null,
    success: false,
    changed: false,
    reason: 'aborted',
  };
}

/** A dry run's result for a tenant it would write: what would change, nothing written. */
function dryRunResult(
  state: TenantFeatureState | null,
  decision: ReturnType<typeof decidePlanChange>,
): Pick<SyncResult, 'success' | 'changed' | 'before' | 'after' | 'reason'> {
  const before = state?.features ?? null;
  const patch = 'patch' in decision ? decision.patch : {};
  const changed = state === null || !isNoOp(state, patch);
  return {
    success: true,
    changed,
    before,
    after: patch.features ?? before,
    ...(changed ? {} : { reason: 'up_to_date' }),
  };
}

/** A batch write's outcome for one tenant as a sync result. */
function outcomeResult(
  outcome: BatchWriteOutcome,
  before: FeatureMap | null,
): Pick<SyncResult, 'success' | 'changed' | 'before' | 'after' | 'reason' | 'error'> {
  switch (outcome.status) {
    case 'failed': {
      // One tenant's failure (constraint, bug, lost connection) is reported, never fatal to the run.
      const error = outcome.error;
      const reason = error instanceof BillingError ? error.code : 'write_failed';
      return { success: false, changed: false, reason, error: messageOf(error) };
    }
    case 'tenant_not_found':
    case 'skipped': {
      const reason = outcome.status === 'skipped' ? syncSkip(outcome.reason) : 'tenant_not_found';
      return { success: reason === 'up_to_date', changed: false, reason, before, after: before };
    }
    default:
      return {
        success: true,
        changed: outcome.status === 'updated',
        before: outcome.before?.features ?? null,
        after: outcome.after.features,
        ...(outcome.status === 'unchanged' ? { reason: 'up_to_date' } : {}),
      };
  }
}

/**
 * Items in batches of `size`, at most `concurrency` processed at once. `push` waits while that many
 * are in flight, which is what holds a streaming walk back; once `stop()` says so, no batch starts
 * and what is left is handed back by `left()`.
 */
function createBatchQueue(size: number, concurrency: number, process: (items: WorkItem[]) => Promise<void>) {
  const limit = Math.max(1, concurrency);
  let buffer: WorkItem[] = [];
  const leftOver: WorkItem[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let stopped = false;
  const start = (items: WorkItem[]) => {
    const run: Promise<void> = process(items)
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => inFlight.delete(run));
    inFlight.add(run);
  };
  async function flush(stop: () => boolean, all: boolean) {
    while (buffer.length >= size || (all && buffer.length > 0)) {
      if (failure) throw failure.error;
      // A customer handed out again replaces its earlier result: its batch starts only once every
      // batch started before it (where that earlier result may be) has finished, so the two are
      // reported, counted and written in walk order. Rare: only customers spanning pages.
      const next = buffer.slice(0, size);
      const limitNow = next.some((item) => item.supersedes) ? 1 : limit;
      while (inFlight.size >= limitNow) await Promise.race(inFlight);
      if (stopped || stop()) {
        stopped = true;
        leftOver.push(...buffer);
        buffer = [];
        return;
      }
      start(next);
      buffer = buffer.slice(size);
    }
  }
  let lastStop: () => boolean = () => false;
  return {
    async push(items: WorkItem[], stop: () => boolean) {
      lastStop = stop;
      if (stopped) {
        leftOver.push(...items);
        return;
      }
      buffer.push(...items);
      await flush(stop, false);
    },
    async drain() {
      await flush(lastStop, true);
      await Promise.all(inFlight);
      if (failure) throw failure.error;
    },
    left: () => leftOver,
  };
}

/** The run's summary, counted as results come (a replaced result is taken back out first). */
function createTally() {
  // One small number per customer, so a run over a million customers holds a map of numbers, not of
  // results: whether it counted as processed, and its kind (see codeOf). In an IdMap, outside the
  // collected heap (~45 bytes a customer).
  const results = createIdMap();
  const reasons: SyncReason[] = [];
  const summary = summarize([], 0, 0);
  const codeOf = (r: SyncResult): number => {
    let kind = 0;
    if (r.error !== undefined) kind = 1;
    else if (r.success && r.changed) kind = 2;
    else if (r.success) kind = 3;
    else if (r.reason) {
      let at = reasons.indexOf(r.reason);
      if (at < 0) at = reasons.push(r.reason) - 1;
      kind = 4 + at;
    }
    return kind * 2 + (r.reason === 'aborted' ? 0 : 1);
  };
  const count = (code: number, sign: 1 | -1, customerId: string, r?: SyncResult) => {
    summary.processed += (code & 1) * sign;
    const kind = code >> 1;
    if (kind === 1) {
      if (r) summary.failed.push({ tenantId: r.tenantId, customerId, error: r.error! });
      else {
        const at = summary.failed.findIndex((f) => f.customerId === customerId);
        if (at >= 0) summary.failed.splice(at, 1);
      }
    } else if (kind === 2) summary.updated += sign;
    else if (kind === 3) summary.unchanged += sign;
    else if (kind >= 4) {
      const reason = reasons[kind - 4]!;
      summary.skipped[reason] = (summary.skipped[reason] ?? 0) + sign;
    }
  };
  return {
    add(r: SyncResult): boolean {
      const code = codeOf(r);
      count(code, 1, r.customerId, r);
      if (r.customerId) results.set(r.customerId, code);
      return false;
    },
    /** Counts `r` in place of the customer's earlier result; false when there was none. */
    replace(customerId: string, r: SyncResult): boolean {
      const previous = results.get(customerId);
      if (previous !== undefined) count(previous, -1, customerId);
      const code = codeOf(r);
      count(code, 1, customerId, r);
      results.set(customerId, code);
      return previous !== undefined;
    },
    summary(stripeRequests: number, durationMs: number): SyncSummary {
      for (const [reason, n] of Object.entries(summary.skipped))
        if (n === 0) delete summary.skipped[reason as SyncReason];
      return { ...summary, stripeRequests, durationMs: Math.round(durationMs) };
    },
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
