import { gracePeriodMs, reconcileFacts } from '../../core/index.js';
import {
  readSubscriptionTruth,
  withStripePriority,
  type CustomerSubscriptionEntry,
} from '../../io/stripe-sync/index.js';
import { createIdMap } from '../../io/id-map.js';
import { sqlThroughPrisma } from '../../io/sql-runner.js';
import { toState } from '../../io/tenant-store/index.js';
import { checkEntries, checkUnnamed, judgeAndFix } from './check.js';
import { createReconcileResults } from './results.js';
import type { ReconcileDeps, ReconcileRun } from './run.js';
import type { ReconcileOptions, ReconcileResult } from './types.js';

export type { ReconcileDeps } from './run.js';
export {
  LISTED_RECONCILE_RESULTS,
  type ReconcileFailure,
  type ReconcileOptions,
  type ReconcileProgress,
  type ReconcileResult,
  type ReconcileSkip,
  type ReconcileSnapshot,
  type ReconcileVerdict,
  type TenantDrift,
} from './types.js';

const DEFAULT_BATCH = 500;
/** Batches waiting behind the one being checked before the walk is held back. */
const QUEUED_BATCHES = 2;

/**
 * Compares every tenant's stored config with what Stripe implies now, by the same rules the
 * webhook handler applies (so a tenant that received every event is in sync by construction), and
 * with `fix` corrects the drift through the one write path with an audit row per tenant.
 *
 * Stripe is walked once, and each page's customers are matched to their tenants in batches (one
 * loading statement per batch), judged and fixed while the walk goes on; the configured tenants no
 * customer named are found at the end, page by page in the database. So the check costs
 * O(customers / 100) Stripe requests, and memory holds a few batches and pages plus a number per
 * customer and per matched tenant (typed arrays outside the collected heap), never the account. A fix re-reads the customer's
 * subscriptions first (no transaction or lock is held across a Stripe call), then writes in a short
 * transaction only if nobody wrote the tenant since that read began: a webhook that commits while
 * the reconcile runs is never overwritten with an older picture.
 */
export function reconcileTenants(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  // A walk over every customer: webhook work goes first when the shared Stripe budget is short.
  return withStripePriority('low', () => reconcileAll(deps, options));
}

async function reconcileAll(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileResult> {
  const started = performance.now();
  const stripeSync = deps.featureSync.stripeSync;
  const requestsBefore = stripeSync.stats.stripeRequests;
  const graceMs = gracePeriodMs(options.gracePeriodDays);
  const now = options.now ?? (() => new Date());
  const results = createReconcileResults(options);
  const run: ReconcileRun = {
    deps,
    options,
    results,
    stripeSync,
    sql: sqlThroughPrisma(deps.prisma),
    actor: options.actor ?? 'reconcile',
    readTruth: (customerId) => readSubscriptionTruth(stripeSync, customerId),
    factsFor: (tenantId) => reconcileFacts(tenantId, now(), graceMs),
    stopped: () => {
      if (options.signal?.aborted) results.result.interrupted = true;
      return results.result.interrupted;
    },
    claimed: createIdMap(),
    linked: new Map(),
    progress: { checked: 0, total: 0, drifting: 0, fixes: 0 },
  };
  if (options.freshPlans !== false) stripeSync.invalidatePlan();

  const walkEnded = () => {
    results.result.stripeMs = Math.round(performance.now() - started);
  };
  if (options.tenantId !== undefined) {
    await checkOne(run, options.tenantId);
    walkEnded();
  } else await checkAll(run, walkEnded);
  // A Ctrl-C during the walk interrupts the run even when no tenant was left to check.
  run.stopped();
  const result = results.finish();
  result.stripeRequests = stripeSync.stats.stripeRequests - requestsBefore;
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

/** One tenant, through its linked customer (read whole, one list call). */
async function checkOne(run: ReconcileRun, tenantId: string): Promise<void> {
  const row = await run.deps.prisma.tenant.findUnique({
    where: { id: tenantId },
    select: { id: true, stripeCustomerId: true, featureConfig: true },
  });
  if (!row) {
    const failure = {
      tenantId,
      customerId: null,
      phase: 'check' as const,
      code: 'tenant_not_found' as const,
      error: `Tenant "${tenantId}" does not exist`,
    };
    run.results.report({ status: 'failed', tenantId, customerId: null, failure });
    return;
  }
  if (!row.stripeCustomerId) {
    run.results.report({ status: 'skipped', tenantId, customerId: null, reason: 'unlinked' });
    return;
  }
  const state = row.featureConfig ? toState(row.featureConfig) : null;
  run.progress.total = 1;
  await judgeAndFix(run, [{ tenantId, customerId: row.stripeCustomerId, link: false, state, truth: null }]);
}

/**
 * Every customer of the walk, in batches as pages arrive (or, with `limit` or a StripeSyncService
 * of the caller's own without `forEachCustomerPage`, from the walk read first), then, after a whole
 * walk, the tenants it never named. A walk that fails rejects the run once the batches under way
 * have finished; no "never named" verdict is drawn from a partial walk.
 */
async function checkAll(run: ReconcileRun, walkEnded: () => void): Promise<void> {
  const queue = createBatchQueue(run.options.batchSize ?? DEFAULT_BATCH, (batch) => checkEntries(run, batch));
  const stream = run.stripeSync.forEachCustomerPage?.bind(run.stripeSync);
  const stop = new Error('reconcile stopped');
  try {
    if (run.options.limit !== undefined || !stream) {
      // Stripe first: the walk is all-or-nothing, so a failed read is never taken as "no subscription".
      await queue.push(await run.stripeSync.getCustomersWithSubscriptions(run.options.limit));
    } else {
      await stream(async (entries) => {
        if (run.stopped()) throw stop;
        await queue.push(entries);
      });
    }
    walkEnded();
    await queue.drain();
  } catch (error) {
    await queue.settle();
    if (error !== stop) throw error;
    return;
  }
  // A partial walk proves nothing about the customers it did not reach.
  if (run.options.limit === undefined) await checkUnnamed(run);
}

/**
 * Entries in batches of `size`, checked one batch after another (a customer's later entry is
 * judged after its earlier one); `push` waits while QUEUED_BATCHES are waiting, which holds the walk
 * back, so memory holds a few batches whatever the account's size. A failed batch fails the next
 * `push` or `drain`.
 */
function createBatchQueue(size: number, check: (batch: CustomerSubscriptionEntry[]) => Promise<void>) {
  let buffer: CustomerSubscriptionEntry[] = [];
  const queued: Promise<void>[] = [];
  let tail: Promise<void> = Promise.resolve();
  const start = (batch: CustomerSubscriptionEntry[]) => {
    tail = tail.then(() => check(batch));
    // Awaited by push or drain; marked handled so a failure waiting there is no unhandled rejection.
    tail.catch(() => {});
    queued.push(tail);
  };
  return {
    async push(entries: readonly CustomerSubscriptionEntry[]): Promise<void> {
      buffer.push(...entries);
      while (buffer.length >= size) start(buffer.splice(0, size));
      while (queued.length > QUEUED_BATCHES) await queued.shift();
    },
    async drain(): Promise<void> {
      if (buffer.length > 0) start(buffer);
      buffer = [];
      while (queued.length > 0) await queued.shift();
    },
    /** Waits for the batches under way, whatever they end in (the run is failing already). */
    async settle(): Promise<void> {
      buffer = [];
      await Promise.allSettled(queued.splice(0));
    },
  };
}
