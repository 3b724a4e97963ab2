import type { PrismaClient } from '@packages/db';
import {
  compareSnapshots,
  emptyState,
  expectedPatch,
  gracePeriodMs,
  matchCustomersToTenants,
  NO_SUBSCRIPTION,
  reconcileFacts,
  sameValue,
  snapshotOf,
  truthFromCustomerEntry,
  type ReconcileSnapshot,
  type SnapshotDiff,
  type SubscriptionTruth,
  type TenantFeaturePatch,
  type TenantFeatureState,
} from '../../core/index.js';
import type { ReconcileFailureCode, ReconcileSkipReason } from '../../core/error-codes.js';
import { BillingError, messageOf } from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import {
  readSubscriptionTruth,
  withStripePriority,
  type CustomerSubscriptionEntry,
  type StripeSyncService,
} from '../../io/stripe-sync/index.js';
import {
  inTransaction,
  raiseReadTicket,
  readForTicketedWrite,
  toState,
  updateTenantFeatures,
  wroteVersion,
  type UpdateOutcome,
} from '../../io/tenant-store/index.js';

export type { ReconcileSnapshot } from '../../core/index.js';

export interface TenantDrift {
  tenantId: string;
  customerId: string | null;
  expected: ReconcileSnapshot;
  /** Null when the tenant has no config row yet although Stripe grants it a plan. */
  actual: ReconcileSnapshot | null;
  diff: SnapshotDiff;
  /**
   * Only with `fix`: 'applied' = corrected with an audit row; 'already_in_sync' = Stripe or a
   * concurrent webhook made the tenant match before the fix took its lock; 'failed' = see `failed`.
   */
  fix?: 'applied' | 'already_in_sync' | 'skipped' | 'failed';
}

export interface ReconcileFailure {
  tenantId: string | null;
  customerId: string | null;
  phase: 'check' | 'fix';
  code: ReconcileFailureCode;
  error: string;
}

export interface ReconcileSkip {
  tenantId: string | null;
  customerId: string | null;
  /**
   * RECONCILE_SKIP_REASONS: unlinked (config but no Stripe customer: never restricted, reconcile
   * cannot know it is billed through Stripe), no_tenant, customer_mismatch, duplicate_customer,
   * plan_for_other_tenant.
   */
  reason: ReconcileSkipReason;
}

export interface ReconcileProgress {
  phase: 'check' | 'fix';
  done: number;
  total: number;
  tenantId: string | null;
}

export interface ReconcileOptions {
  /** Write the expected state for every drifting tenant (audit: source 'sync', action 'reconcile'). */
  fix?: boolean;
  /** Only this tenant, through its linked Stripe customer. */
  tenantId?: string;
  /** At most this many Stripe customers; tenants not reached are not checked (no "missing" verdicts). */
  limit?: number;
  /** Audit actor of fixes (default 'reconcile'). */
  actor?: string;
  onProgress?: (progress: ReconcileProgress) => void;
  /**
   * Once aborted (Ctrl-C), the run stops between tenants and returns what it did, with
   * `interrupted: true`; tenants not reached are neither checked nor fixed.
   */
  signal?: AbortSignal;
  /** Same policy as the webhook handler (default DEFAULT_GRACE_PERIOD_DAYS). */
  gracePeriodDays?: number;
  now?: () => Date;
  /**
   * Drop the product/price cache first (default true): drift caused by a missed product.updated
   * webhook is exactly what the cache would otherwise hide for up to its TTL.
   */
  freshPlans?: boolean;
}

export interface ReconcileResult {
  /** Tenants compared with Stripe (in sync + drifting + failed in the check phase). */
  checked: number;
  inSync: number;
  drift: TenantDrift[];
  /** Drifting tenants corrected by this run (`fix: 'applied'`). */
  fixed: number;
  failed: ReconcileFailure[];
  skipped: ReconcileSkip[];
  stripeRequests: number;
  durationMs: number;
  /** True when `signal` stopped the run before every tenant was handled. */
  interrupted: boolean;
}

export interface ReconcileDeps {
  prisma: PrismaClient;
  featureSync: { stripeSync: StripeSyncService; reader: Pick<FeatureReader, 'publish'> };
}

interface Candidate {
  tenantId: string;
  customerId: string | null;
  /** Set the tenant's stripe_customer_id when fixing (matched through a metadata hint). */
  link: boolean;
  state: TenantFeatureState | null;
  /** Null: read per customer (single-tenant mode). */
  truth: SubscriptionTruth | null;
  error?: BillingError;
}

interface LoadedTenant {
  id: string;
  stripeCustomerId: string | null;
  state: TenantFeatureState | null;
}

const PAGE = 1000;
const YIELD_EVERY = 200;

const codeOf = (error: unknown) => (error instanceof BillingError ? error.code : 'internal_error');

/**
 * Compares every tenant's stored config with what Stripe implies now, by the same rules the
 * webhook handler applies (so a tenant that received every event is in sync by construction), and
 * with `fix` corrects the drift through the one write path with an audit row per tenant.
 *
 * Stripe is walked once (getCustomersWithSubscriptions) and all tenants are loaded in bulk, so the
 * check costs O(customers / 100) Stripe requests. A fix re-reads the customer's subscriptions
 * first (no transaction or lock is held across a Stripe call), then writes in a short transaction
 * only if nobody wrote the tenant since that read began: a webhook that commits while the
 * reconcile runs is never overwritten with an older picture.
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
  const actor = options.actor ?? 'reconcile';
  const factsFor = (tenantId: string) => reconcileFacts(tenantId, now(), graceMs);

  const result: ReconcileResult = {
    checked: 0,
    inSync: 0,
    drift: [],
    fixed: 0,
    failed: [],
    skipped: [],
    stripeRequests: 0,
    durationMs: 0,
    interrupted: false,
  };
  const stopped = () => {
    if (options.signal?.aborted) result.interrupted = true;
    return result.interrupted;
  };
  if (options.freshPlans !== false) stripeSync.invalidatePlan();

  const readTruth = (customerId: string) => readSubscriptionTruth(stripeSync, customerId);

  const run: ReconcileRun = { deps, options, result, stripeSync, actor, readTruth, factsFor, stopped };
  const candidates =
    options.tenantId !== undefined ? await singleCandidate(run, options.tenantId) : await walkCandidates(run);
  // A Ctrl-C during the walk interrupts the run even when no tenant is left to check.
  stopped();
  const drifting = await checkCandidates(run, candidates);
  if (options.fix) await fixDrifting(run, drifting);
  result.stripeRequests = stripeSync.stats.stripeRequests - requestsBefore;
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

/** What the reconcile's steps share: the services, the options, the result being filled, the clock. */
interface ReconcileRun {
  deps: ReconcileDeps;
  options: ReconcileOptions;
  result: ReconcileResult;
  stripeSync: ReconcileDeps['featureSync']['stripeSync'];
  actor: string;
  readTruth: (customerId: string) => ReturnType<typeof readSubscriptionTruth>;
  factsFor: (tenantId: string) => ReturnType<typeof reconcileFacts>;
  /** True once the run's signal has aborted (and marks the result interrupted). */
  stopped: () => boolean;
}

async function singleCandidate(run: ReconcileRun, tenantId: string): Promise<Candidate[]> {
  const row = await run.deps.prisma.tenant.findUnique({
    where: { id: tenantId },
    select: { id: true, stripeCustomerId: true, featureConfig: true },
  });
  if (!row) {
    run.result.failed.push({
      tenantId,
      customerId: null,
      phase: 'check',
      code: 'tenant_not_found',
      error: `Tenant "${tenantId}" does not exist`,
    });
    return [];
  }
  const state = row.featureConfig ? toState(row.featureConfig) : null;
  if (!row.stripeCustomerId) {
    run.result.skipped.push({ tenantId, customerId: null, reason: 'unlinked' });
    return [];
  }
  return [{ tenantId, customerId: row.stripeCustomerId, link: false, state, truth: null }];
}

async function loadAllTenants(prisma: PrismaClient): Promise<LoadedTenant[]> {
  const out: LoadedTenant[] = [];
  let cursor: string | undefined;
  for (;;) {
    const rows = await prisma.tenant.findMany({
      select: { id: true, stripeCustomerId: true, featureConfig: true },
      orderBy: { id: 'asc' },
      take: PAGE,
      ...(cursor !== undefined ? { cursor: { id: cursor }, skip: 1 } : {}),
    });
    for (const row of rows)
      out.push({
        id: row.id,
        stripeCustomerId: row.stripeCustomerId,
        state: row.featureConfig ? toState(row.featureConfig) : null,
      });
    if (rows.length < PAGE) return out;
    cursor = rows.at(-1)!.id;
  }
}

async function walkCandidates(run: ReconcileRun): Promise<Candidate[]> {
  // Stripe first: the walk is all-or-nothing (it throws rather than return a partial list), so a
  // failed read can never be mistaken for "these customers have no subscription".
  const entries = await run.stripeSync.getCustomersWithSubscriptions(run.options.limit);
  const tenants = await loadAllTenants(run.deps.prisma);
  const out: Candidate[] = [];
  const candidate = (tenant: LoadedTenant, entry: CustomerSubscriptionEntry, link: boolean): Candidate => ({
    tenantId: tenant.id,
    customerId: entry.customer.id,
    link,
    state: tenant.state,
    truth: entry.error ? null : truthFromCustomerEntry(entry),
    ...(entry.error ? { error: entry.error } : {}),
  });

  // Same matching as the bulk sync (a tenant bound by stripe_customer_id belongs to that customer
  // whatever another customer's metadata says); bound customers first, as in the sync's report.
  const matches = matchCustomersToTenants(
    entries.map((e) => ({ customerId: e.customer.id, tenantIdHint: e.tenantIdHint })),
    tenants,
  );
  const claimed = new Set<string>();
  for (const pass of [false, true]) {
    entries.forEach((entry, i) => {
      const m = matches[i]!;
      if ('tenant' in m) {
        if (m.link !== pass) return;
        claimed.add(m.tenant.id);
        out.push(candidate(m.tenant, entry, m.link));
      } else if (pass) {
        run.result.skipped.push({
          tenantId: entry.tenantIdHint,
          customerId: entry.customer.id,
          reason: m.skip,
        });
      }
    });
  }

  // A partial walk proves nothing about the customers it did not reach.
  if (run.options.limit !== undefined) return out;
  for (const tenant of tenants) {
    if (claimed.has(tenant.id) || tenant.state === null) continue;
    if (tenant.stripeCustomerId === null) {
      run.result.skipped.push({ tenantId: tenant.id, customerId: null, reason: 'unlinked' });
      continue;
    }
    // Linked, but the walk (status=all) saw no subscription: none left, or the customer was deleted.
    out.push({
      tenantId: tenant.id,
      customerId: tenant.stripeCustomerId,
      link: false,
      state: tenant.state,
      truth: NO_SUBSCRIPTION,
    });
  }
  return out;
}

/** Compares each candidate with what Stripe says; the drifting ones are returned for the fix. */
async function checkCandidates(
  run: ReconcileRun,
  candidates: Candidate[],
): Promise<Array<{ drift: TenantDrift; candidate: Candidate }>> {
  const drifting: Array<{ drift: TenantDrift; candidate: Candidate }> = [];
  let done = 0;
  for (const c of candidates) {
    // The check needs no I/O when the walk already read the truth: yield now and then, so a
    // Ctrl-C handler runs (and stops the run) however many tenants there are.
    if (done % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
    if (run.stopped()) break;
    done += 1;
    run.options.onProgress?.({ phase: 'check', done, total: candidates.length, tenantId: c.tenantId });
    let truth = c.truth;
    try {
      if (c.error) throw c.error;
      truth ??= await run.readTruth(c.customerId!);
    } catch (error) {
      if (!(error instanceof BillingError)) throw error;
      // Broken plan metadata or a plan Stripe cannot resolve: report, never guess.
      run.result.checked += 1;
      run.result.failed.push({
        tenantId: c.tenantId,
        customerId: c.customerId,
        phase: 'check',
        code: error.code,
        error: error.message,
      });
      continue;
    }
    const decided = expectedPatch(c.state, truth, run.factsFor(c.tenantId));
    if ('skip' in decided && decided.skip !== 'no_config') {
      run.result.skipped.push({ tenantId: c.tenantId, customerId: c.customerId, reason: decided.skip });
      continue;
    }
    run.result.checked += 1;
    if ('skip' in decided) {
      run.result.inSync += 1;
      continue;
    }
    const expected = snapshotOf({ ...(c.state ?? emptyState(c.tenantId)), ...decided.patch });
    const actual = c.state ? snapshotOf(c.state) : null;
    const diff = compareSnapshots(expected, actual);
    if (!diff) {
      run.result.inSync += 1;
      continue;
    }
    const drift: TenantDrift = { tenantId: c.tenantId, customerId: c.customerId, expected, actual, diff };
    run.result.drift.push(drift);
    drifting.push({ drift, candidate: c });
  }
  return drifting;
}

/** Fixes each drifting tenant through the one write path (an audit row each). */
async function fixDrifting(
  run: ReconcileRun,
  drifting: Array<{ drift: TenantDrift; candidate: Candidate }>,
): Promise<void> {
  let fixedDone = 0;
  for (const { drift, candidate } of drifting) {
    if (run.stopped()) break;
    fixedDone += 1;
    try {
      drift.fix = await fixOne(run, candidate);
      if (drift.fix === 'applied') run.result.fixed += 1;
    } catch (error) {
      drift.fix = 'failed';
      run.result.failed.push({
        tenantId: candidate.tenantId,
        customerId: candidate.customerId,
        phase: 'fix',
        code: codeOf(error),
        error: messageOf(error),
      });
    }
    run.options.onProgress?.({
      phase: 'fix',
      done: fixedDone,
      total: drifting.length,
      tenantId: candidate.tenantId,
    });
  }
}

async function fixOne(run: ReconcileRun, c: Candidate): Promise<'applied' | 'already_in_sync' | 'skipped'> {
  // Stripe is read before any transaction opens and with no lock held; order safety comes from the
  // moment the read began: a tenant written at or after it holds a picture at least as new as
  // ours (a webhook, the grace cron), and is left alone rather than overwritten.
  // One round trip: the tenant and a read ticket, taken before the read (see raiseReadTicket below).
  const { tenant, ticket } = await readForTicketedWrite(run.deps.prisma, c.tenantId);
  if (!tenant)
    throw new BillingError('tenant_not_found', `Tenant "${c.tenantId}" was deleted during the reconcile`);
  const customerId = tenant.stripeCustomerId ?? (c.link ? c.customerId : null);
  if (!customerId) return 'skipped';
  const observedAt = new Date();
  const truth = await run.readTruth(customerId);
  const outcome: UpdateOutcome = await inTransaction(run.deps.prisma, async (tx) => {
    if (c.link && tenant.stripeCustomerId === null) {
      await tx.tenant.updateMany({
        where: { id: c.tenantId, stripeCustomerId: null },
        data: { stripeCustomerId: customerId },
      });
    }
    const result = await updateTenantFeatures(
      tx,
      c.tenantId,
      (current, row) => {
        // Re-pointed to another customer since we looked: what we read is about someone else.
        if (row.stripeCustomerId !== null && row.stripeCustomerId !== customerId)
          return { skip: 'customer_mismatch' };
        const decided = expectedPatch(current, truth, run.factsFor(c.tenantId));
        if ('skip' in decided) return decided;
        if (current?.updatedAt && current.updatedAt.getTime() >= observedAt.getTime()) {
          const wouldChange = (Object.keys(decided.patch) as (keyof TenantFeaturePatch)[]).some(
            (key) => !sameValue(current[key], decided.patch[key]),
          );
          return wouldChange ? { skip: 'stale_read' } : { skip: 'already_in_sync' };
        }
        return { patch: decided.patch, action: 'reconcile' };
      },
      { actor: run.actor, source: 'sync' },
    );
    // A webhook whose Stripe read began before ours must not overwrite this fix afterwards.
    if (wroteVersion(result)) await raiseReadTicket(tx, c.tenantId, ticket);
    return result;
  });
  if (outcome.status === 'tenant_not_found')
    throw new BillingError('tenant_not_found', `Tenant "${c.tenantId}" was deleted during the reconcile`);
  if (outcome.status === 'skipped')
    return outcome.reason === 'no_config' || outcome.reason === 'already_in_sync'
      ? 'already_in_sync'
      : 'skipped';
  // After commit only, as every writer does: a version that rolled back must never reach the cache.
  if (wroteVersion(outcome)) await run.deps.featureSync.reader.publish([outcome.after]);
  return outcome.status === 'updated' ? 'applied' : 'already_in_sync';
}
