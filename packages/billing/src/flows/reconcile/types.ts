import type { ReconcileSnapshot, SnapshotDiff } from '../../core/index.js';
import type { ReconcileFailureCode, ReconcileSkipReason } from '../../core/error-codes.js';

export type { ReconcileSnapshot } from '../../core/index.js';

/**
 * Drifts, failures and skips the CLI and the console keep and show of a whole-account reconcile,
 * at most this many of each; the counts cover every tenant.
 */
export const LISTED_RECONCILE_RESULTS = 1_000;

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
  /** Check: tenants judged so far; fix: fixes attempted so far. */
  done: number;
  /** Check: customers handed out by the walk so far (grows while it goes on); fix: drifting tenants so far. */
  total: number;
  tenantId: string | null;
}

/** One tenant's (or customer's) verdict, as `onResult` streams it. */
export interface ReconcileVerdict {
  status: 'in_sync' | 'drift' | 'skipped' | 'failed';
  tenantId: string | null;
  customerId: string | null;
  /** status 'drift': what differs, and with `fix` how the fix went. */
  drift?: TenantDrift;
  /** status 'skipped'. */
  reason?: ReconcileSkipReason;
  /** status 'failed' (the check failed), or a drift whose fix failed. */
  failure?: ReconcileFailure;
  /**
   * A customer whose subscriptions span Stripe pages: a later page held a better-ranked one, and
   * this verdict replaces the customer's earlier one (counted once).
   */
  replaces?: boolean;
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
   * Every verdict as soon as it is final (with `fix`, once the tenant's fix is done), while the walk
   * goes on: the CLI's `--json-lines`, a stream to a file.
   */
  onResult?: (verdict: ReconcileVerdict) => void;
  /**
   * Keep every drift, failure and skip for the returned lists (default true: what small runs and
   * the spec's examples read). A number N keeps at most N of each, in the order found, and counts
   * the rest in `omitted`; false keeps none (read them through `onResult`). The counts (`drifting`,
   * `skippedByReason`, …) cover every tenant either way. The CLI and the console keep
   * LISTED_RECONCILE_RESULTS, so a large account's run neither holds nor shows every drift.
   */
  keepResults?: boolean | number;
  /**
   * Once aborted (Ctrl-C), the run stops between batches and fixes and returns what it did, with
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
  /** Customers matched and judged per loading statement (default 500). */
  batchSize?: number;
  /** Fixes in flight at once within a batch (default 4); each re-reads one customer from Stripe. */
  fixConcurrency?: number;
}

export interface ReconcileResult {
  /** Tenants compared with Stripe (in sync + drifting + failed in the check phase). */
  checked: number;
  inSync: number;
  /** The drifting tenants, all of them or at most `keepResults` (see `drifting` for the count). */
  drift: TenantDrift[];
  /** Drifting tenants found, listed or not. */
  drifting: number;
  /**
   * Drifting tenants this run left as they were: check only, every one; with `fix`, those whose
   * fix was skipped, failed or not reached.
   */
  driftLeft: number;
  /** Drifting tenants corrected by this run (`fix: 'applied'`). */
  fixed: number;
  failed: ReconcileFailure[];
  skipped: ReconcileSkip[];
  /** How many tenants (or customers) were skipped, per reason, listed or not. */
  skippedByReason: Partial<Record<ReconcileSkipReason, number>>;
  /** Only when `keepResults` is not true: how many of each list were left out of it. */
  omitted?: { drift: number; failed: number; skipped: number };
  stripeRequests: number;
  durationMs: number;
  /**
   * Of durationMs, the time until the Stripe walk ended (batches are judged while it goes on, so
   * the rest is the checking and fixing left after the last page, and the unnamed tenants' pages).
   */
  stripeMs: number;
  /** True when `signal` stopped the run before every tenant was handled. */
  interrupted: boolean;
}
