import {
  compareSnapshots,
  emptyState,
  expectedPatch,
  matchCustomersToTenants,
  NO_SUBSCRIPTION,
  snapshotOf,
  truthFromCustomerEntry,
  type CustomerMatch,
} from '../../core/index.js';
import { BillingError, messageOf } from '../../core/errors.js';
import { forEachBounded } from '../../io/bounded-concurrency.js';
import type { CustomerSubscriptionEntry } from '../../io/stripe-sync/index.js';
import {
  pageConfiguredTenants,
  readConfiguredTenants,
  readTenantsForSync,
  type SyncLoadedTenant,
} from '../../io/tenant-store/index.js';
import { fixOne } from './fix.js';
import type { Candidate, ReconcileRun } from './run.js';
import type { ReconcileVerdict } from './types.js';

/** Configured tenants per page of the end-of-walk query (ids and customers only). */
const UNNAMED_PAGE = 5_000;
const DEFAULT_FIX_CONCURRENCY = 4;

const codeOf = (error: unknown) => (error instanceof BillingError ? error.code : 'internal_error');

/** Compares one candidate with what Stripe implies, by the webhook rules (no write). */
async function judge(run: ReconcileRun, c: Candidate): Promise<ReconcileVerdict> {
  const base = { tenantId: c.tenantId, customerId: c.customerId, ...(c.replaces ? { replaces: true } : {}) };
  let truth = c.truth;
  try {
    if (c.error) throw c.error;
    truth ??= await run.readTruth(c.customerId!);
  } catch (error) {
    if (!(error instanceof BillingError)) throw error;
    // Broken plan metadata or a plan Stripe cannot resolve: report, never guess.
    const failure = {
      tenantId: c.tenantId,
      customerId: c.customerId,
      phase: 'check' as const,
      code: error.code,
      error: error.message,
    };
    return { ...base, status: 'failed', failure };
  }
  const decided = expectedPatch(c.state, truth, run.factsFor(c.tenantId));
  if ('skip' in decided && decided.skip !== 'no_config')
    return { ...base, status: 'skipped', reason: decided.skip };
  if ('skip' in decided) return { ...base, status: 'in_sync' };
  const expected = snapshotOf({ ...(c.state ?? emptyState(c.tenantId)), ...decided.patch });
  const actual = c.state ? snapshotOf(c.state) : null;
  const diff = compareSnapshots(expected, actual);
  if (!diff) return { ...base, status: 'in_sync' };
  return {
    ...base,
    status: 'drift',
    drift: { tenantId: c.tenantId, customerId: c.customerId, expected, actual, diff },
  };
}

/**
 * Judges the candidates, reports each verdict, and with `fix` corrects the drifting ones (at most
 * `fixConcurrency` at once, each re-reading its customer with no transaction held), reporting a
 * drift once its fix is done. A stop (Ctrl-C) lets fixes in flight finish and starts no other.
 */
export async function judgeAndFix(run: ReconcileRun, candidates: readonly Candidate[]): Promise<void> {
  const { options, results, progress } = run;
  const drifting: Array<{ verdict: ReconcileVerdict; candidate: Candidate }> = [];
  for (const c of candidates) {
    if (run.stopped()) return;
    const verdict = await judge(run, c);
    if (!c.replaces) progress.checked += 1;
    options.onProgress?.({
      phase: 'check',
      done: progress.checked,
      total: progress.total,
      tenantId: c.tenantId,
    });
    if (verdict.status === 'drift' && options.fix) {
      progress.drifting += 1;
      drifting.push({ verdict, candidate: c });
    } else results.report(verdict);
  }
  await forEachBounded(drifting.length, options.fixConcurrency ?? DEFAULT_FIX_CONCURRENCY, async (i) => {
    const { verdict, candidate } = drifting[i]!;
    if (run.stopped()) return results.report(verdict);
    const drift = verdict.drift!;
    try {
      drift.fix = await fixOne(run, candidate);
    } catch (error) {
      drift.fix = 'failed';
      verdict.failure = {
        tenantId: candidate.tenantId,
        customerId: candidate.customerId,
        phase: 'fix',
        code: codeOf(error),
        error: messageOf(error),
      };
    }
    progress.fixes += 1;
    options.onProgress?.({
      phase: 'fix',
      done: progress.fixes,
      total: progress.drifting,
      tenantId: candidate.tenantId,
    });
    results.report(verdict);
  });
}

/**
 * One batch of the walk's customers: matched to tenants in one loading statement (a bound tenant
 * wins over any hint, as in the bulk sync), judged and, with `fix`, corrected. An unbound tenant
 * named by two customers' hints goes to the first that claims it in the run.
 */
export async function checkEntries(
  run: ReconcileRun,
  entries: readonly CustomerSubscriptionEntry[],
): Promise<void> {
  const items = latestPictures(run, entries);
  if (items.length === 0 || run.stopped()) return;
  const tenants = await readTenantsForSync(run.sql, {
    customerIds: items.map((e) => e.customer.id),
    hints: items.map((e) => e.tenantIdHint),
    hashes: items.map(() => null),
  });
  const matches = matchCustomersToTenants(
    items.map((e) => ({ customerId: e.customer.id, tenantIdHint: e.tenantIdHint })),
    tenants,
  );
  const candidates: Candidate[] = [];
  items.forEach((entry, i) => {
    const customerId = entry.customer.id;
    const replaces = entry.supersedes === true;
    const m = claim(run, customerId, matches[i]!);
    if ('skip' in m) {
      run.results.report({
        status: 'skipped',
        tenantId: m.tenantId,
        customerId,
        reason: m.skip,
        ...(replaces ? { replaces } : {}),
      });
      return;
    }
    candidates.push({
      tenantId: m.tenant.id,
      customerId,
      link: m.link,
      state: m.tenant.state,
      truth: entry.error ? null : truthFromCustomerEntry(entry),
      ...(entry.error ? { error: entry.error } : {}),
      ...(replaces ? { replaces } : {}),
    });
  });
  run.progress.total += candidates.filter((c) => !c.replaces).length;
  await judgeAndFix(run, candidates);
}

/**
 * The entries to judge, one per customer: a customer's first entry, or a later page's better
 * picture of one judged before (see ReconcileResults.accepts). When both pictures of a customer
 * fall in one batch, the later one is judged alone, as the customer's first.
 */
function latestPictures(
  run: ReconcileRun,
  entries: readonly CustomerSubscriptionEntry[],
): CustomerSubscriptionEntry[] {
  const latest = new Map<string, CustomerSubscriptionEntry>();
  for (const entry of entries) {
    const id = entry.customer.id;
    const supersedes = entry.supersedes === true;
    if (!run.results.accepts(id, supersedes)) continue;
    const before = latest.get(id);
    // Handed out after the customer's better picture (pages are handed out concurrently): older.
    if (before && !supersedes) continue;
    latest.set(id, before && !before.supersedes ? { ...entry, supersedes: false } : entry);
  }
  return [...latest.values()];
}

/** A match as one pass over the whole walk gives it, with the tenants earlier batches claimed. */
function claim(
  run: ReconcileRun,
  customerId: string,
  match: CustomerMatch<SyncLoadedTenant>,
): CustomerMatch<SyncLoadedTenant> {
  const tenantId = 'skip' in match ? match.tenantId : match.tenant.id;
  const linkedTo = tenantId === null ? undefined : run.linked.get(tenantId);
  // Linked (or, after a fix stored the link, bound) to another customer of this run's walk.
  const linkedElsewhere = linkedTo !== undefined && linkedTo !== customerId;
  if (linkedElsewhere && ('link' in match ? match.link : match.skip === 'customer_mismatch'))
    return { skip: 'duplicate_customer', tenantId };
  if ('tenant' in match) {
    run.claimed.set(match.tenant.id, 1);
    if (match.link && linkedTo === undefined) run.linked.set(match.tenant.id, customerId);
  }
  return match;
}

/**
 * The end of a whole walk: configured tenants no customer of the walk claimed, found page by page
 * in the database. Unlinked ones are skipped (nothing proves they are billed through Stripe); a
 * linked one whose customer the walk never handed out has no subscription left (or a deleted
 * customer): expected restricted. One whose customer the walk did judge was linked during the run,
 * after its customer's batch; the next run checks it.
 */
export async function checkUnnamed(run: ReconcileRun): Promise<void> {
  let after: string | null = null;
  for (;;) {
    if (run.stopped()) return;
    const page = await pageConfiguredTenants(run.sql, after, UNNAMED_PAGE);
    if (page.length === 0) return;
    after = page.at(-1)!.id;
    const linked: string[] = [];
    for (const tenant of page) {
      if (run.claimed.get(tenant.id) !== undefined) continue;
      if (tenant.stripeCustomerId === null)
        run.results.report({ status: 'skipped', tenantId: tenant.id, customerId: null, reason: 'unlinked' });
      else if (!run.results.judged(tenant.stripeCustomerId)) linked.push(tenant.id);
    }
    const tenants = await readConfiguredTenants(run.sql, linked);
    const candidates = tenants
      .filter((t) => t.stripeCustomerId !== null)
      .map((t): Candidate => ({
        tenantId: t.id,
        customerId: t.stripeCustomerId,
        link: false,
        state: t.state,
        truth: NO_SUBSCRIPTION,
      }));
    run.progress.total += candidates.length;
    await judgeAndFix(run, candidates);
    if (page.length < UNNAMED_PAGE) return;
  }
}
