import type { Prisma, PrismaClient, TenantFeatureConfig } from '@packages/db';
import { ConcurrencyError } from '../errors.js';
import { asFeatureMap, mergePlanIntoTenant, restrictFeatures } from '../features/merge.js';
import type { AuditSourceName, FeatureMap, MergeStrategy, PlanDefaults } from '../types.js';

/** A Prisma client bound to an open transaction. */
export type Tx = Prisma.TransactionClient;

export type ConfigSource = 'plan' | 'custom' | 'manual';

/** A tenant's feature configuration as the services see it. */
export interface TenantFeatureState {
  tenantId: string;
  features: FeatureMap;
  planFeatures: FeatureMap;
  overrides: FeatureMap;
  bundle: string | null;
  scrapeIntervalHours: number | null;
  source: ConfigSource;
  stripeProductId: string | null;
  stripePriceId: string | null;
  stripeSubscriptionId: string | null;
  subscriptionStatus: string | null;
  accessActive: boolean;
  paymentFailedAt: Date | null;
  lastPaymentAt: Date | null;
  trialEndsAt: Date | null;
  version: number;
  lastStripeEventAt: Date | null;
  lastStripeEventId: string | null;
  updatedAt: Date | null;
}

export type TenantFeaturePatch = Partial<Omit<TenantFeatureState, 'tenantId' | 'version' | 'updatedAt'>>;

export interface TenantRow {
  id: string;
  name: string;
  stripeCustomerId: string | null;
}

export interface AuditContext {
  actor: string;
  source: AuditSourceName;
  stripeEventId?: string | null;
}

/** What `decide` returns: a change to write (with the audit action name), or a reason to leave the tenant alone. */
export type Decision = { patch: TenantFeaturePatch; action: string } | { skip: string };

export type UpdateOutcome =
  | { status: 'tenant_not_found'; tenantId: string }
  | { status: 'skipped'; tenantId: string; reason: string; state: TenantFeatureState | null }
  | {
      status: 'updated' | 'unchanged';
      tenantId: string;
      action: string;
      before: TenantFeatureState | null;
      after: TenantFeatureState;
    };

/** Fields whose change is a change of the tenant's entitlements, and so gets an audit row. */
const AUDITED_FIELDS = [
  'features',
  'planFeatures',
  'overrides',
  'bundle',
  'scrapeIntervalHours',
  'source',
  'stripeProductId',
  'stripePriceId',
  'subscriptionStatus',
  'accessActive',
] as const satisfies readonly (keyof TenantFeatureState)[];

export function emptyState(tenantId: string): TenantFeatureState {
  return {
    tenantId,
    features: {},
    planFeatures: {},
    overrides: {},
    bundle: null,
    scrapeIntervalHours: null,
    source: 'plan',
    stripeProductId: null,
    stripePriceId: null,
    stripeSubscriptionId: null,
    subscriptionStatus: null,
    accessActive: true,
    paymentFailedAt: null,
    lastPaymentAt: null,
    trialEndsAt: null,
    version: 0,
    lastStripeEventAt: null,
    lastStripeEventId: null,
    updatedAt: null,
  };
}

export function toState(row: TenantFeatureConfig): TenantFeatureState {
  return {
    tenantId: row.tenantId,
    features: asFeatureMap(row.features),
    planFeatures: asFeatureMap(row.planFeatures),
    overrides: asFeatureMap(row.overrides),
    bundle: row.bundle,
    scrapeIntervalHours: row.scrapeIntervalHours,
    source: row.source,
    stripeProductId: row.stripeProductId,
    stripePriceId: row.stripePriceId,
    stripeSubscriptionId: row.stripeSubscriptionId,
    subscriptionStatus: row.subscriptionStatus,
    accessActive: row.accessActive,
    paymentFailedAt: row.paymentFailedAt,
    lastPaymentAt: row.lastPaymentAt,
    trialEndsAt: row.trialEndsAt,
    version: row.version,
    lastStripeEventAt: row.lastStripeEventAt,
    lastStripeEventId: row.lastStripeEventId,
    updatedAt: row.updatedAt,
  };
}

/**
 * Locks the tenant row for the rest of the transaction and reads its config. Every writer goes
 * through this lock, so two concurrent changes to one tenant serialise instead of losing one.
 */
export async function lockTenant(
  tx: Tx,
  tenantId: string,
): Promise<{ tenant: TenantRow; state: TenantFeatureState | null } | null> {
  const rows = await tx.$queryRaw<TenantRow[]>`
    SELECT id, name, stripe_customer_id AS "stripeCustomerId" FROM tenants WHERE id = ${tenantId} FOR UPDATE`;
  const tenant = rows[0];
  if (!tenant) return null;
  // A separate statement on purpose: under READ COMMITTED it takes a fresh snapshot after the lock
  // wait, so it sees a config row that the previous lock holder created. Joining the config into the
  // locking query would read it from the pre-wait snapshot and miss that row.
  const config = await tx.tenantFeatureConfig.findUnique({ where: { tenantId } });
  return { tenant, state: config ? toState(config) : null };
}

/**
 * The one write path for tenant feature configs: lock, let `decide` compute the change from the
 * current state, write config + version + audit row. Runs inside the caller's transaction so a
 * caller (the webhook handler) can commit its own rows atomically with the change.
 */
export async function updateTenantFeatures(
  tx: Tx,
  tenantId: string,
  decide: (current: TenantFeatureState | null, tenant: TenantRow) => Decision,
  audit: AuditContext,
): Promise<UpdateOutcome> {
  const locked = await lockTenant(tx, tenantId);
  if (!locked) return { status: 'tenant_not_found', tenantId };
  const { tenant, state } = locked;
  const decision = decide(state, tenant);
  if ('skip' in decision) return { status: 'skipped', tenantId, reason: decision.skip, state };

  const before = state;
  const base = before ?? emptyState(tenantId);
  const next: TenantFeatureState = { ...base, ...decision.patch, tenantId, version: base.version + 1 };
  const changed = before === null || AUDITED_FIELDS.some((field) => !sameValue(before[field], next[field]));
  const bookkeepingChanged =
    before === null ||
    (Object.keys(decision.patch) as (keyof TenantFeatureState)[]).some((f) => !sameValue(before[f], next[f]));
  if (!bookkeepingChanged) {
    return { status: 'unchanged', tenantId, action: decision.action, before, after: base };
  }

  const data = toRowData(next);
  let written: TenantFeatureConfig;
  if (before === null) {
    written = await tx.tenantFeatureConfig.create({ data: { tenantId, ...data, version: next.version } });
  } else {
    // The row lock makes a lost update impossible; the version check turns a bug into an error instead of silence.
    const updated = await tx.tenantFeatureConfig.updateManyAndReturn({
      where: { tenantId, version: before.version },
      data: { ...data, version: next.version },
    });
    if (updated.length !== 1) throw new ConcurrencyError(tenantId, 1);
    written = updated[0]!;
  }
  if (changed) {
    await tx.featureAuditLog.create({
      data: {
        tenantId,
        actor: audit.actor,
        source: audit.source,
        action: decision.action,
        before: before ? (auditSnapshot(before) as Prisma.InputJsonValue) : undefined,
        after: auditSnapshot(next) as Prisma.InputJsonValue,
        stripeEventId: audit.stripeEventId ?? null,
      },
    });
  }
  return {
    status: changed ? 'updated' : 'unchanged',
    tenantId,
    action: decision.action,
    before,
    after: toState(written),
  };
}

/**
 * True when the outcome committed a new version that readers must see (publish it after commit).
 * One definition for every writer, so none forgets a case and leaves the cache behind.
 */
export function wroteVersion(
  outcome: UpdateOutcome,
): outcome is Extract<UpdateOutcome, { after: TenantFeatureState }> {
  return (
    (outcome.status === 'updated' || outcome.status === 'unchanged') &&
    outcome.after.version !== (outcome.before?.version ?? 0)
  );
}

function toRowData(state: TenantFeatureState) {
  return {
    features: state.features as Prisma.InputJsonValue,
    planFeatures: state.planFeatures as Prisma.InputJsonValue,
    overrides: state.overrides as Prisma.InputJsonValue,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    source: state.source,
    stripeProductId: state.stripeProductId,
    stripePriceId: state.stripePriceId,
    stripeSubscriptionId: state.stripeSubscriptionId,
    subscriptionStatus: state.subscriptionStatus,
    accessActive: state.accessActive,
    paymentFailedAt: state.paymentFailedAt,
    lastPaymentAt: state.lastPaymentAt,
    trialEndsAt: state.trialEndsAt,
    lastStripeEventAt: state.lastStripeEventAt,
    lastStripeEventId: state.lastStripeEventId,
  };
}

/** What the audit log keeps of a state: the entitlement-relevant fields, not bookkeeping. */
export function auditSnapshot(state: TenantFeatureState) {
  return {
    features: state.features,
    overrides: state.overrides,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    source: state.source,
    stripeProductId: state.stripeProductId,
    stripePriceId: state.stripePriceId,
    subscriptionStatus: state.subscriptionStatus,
    accessActive: state.accessActive,
  };
}

/** Deep equality for state fields: dates by instant, maps key-order independent. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ak = Object.keys(a as object);
    const bk = Object.keys(b as object);
    if (ak.length !== bk.length) return false;
    return ak.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/**
 * The part of a patch that putting a tenant on `plan` writes, shared by every path that applies a
 * plan (admin/sync apply, webhooks), so they cannot disagree on what a plan grants.
 * planFeatures and overrides are kept even while access is off, so restoring access is exact.
 */
export function planPatch(
  current: TenantFeatureState | null,
  plan: PlanDefaults,
  options: { strategy: MergeStrategy; accessActive: boolean },
): TenantFeaturePatch {
  const merged = mergePlanIntoTenant({
    current: current
      ? { features: current.features, planFeatures: current.planFeatures, overrides: current.overrides }
      : null,
    plan: plan.features,
    strategy: options.strategy,
  });
  return {
    features: options.accessActive ? merged.features : restrictFeatures(merged.features),
    planFeatures: merged.planFeatures,
    overrides: merged.overrides,
    bundle: plan.bundle,
    scrapeIntervalHours: plan.scrapeIntervalHours,
    source: plan.custom ? 'custom' : 'plan',
    stripeProductId: plan.productId,
    stripePriceId: plan.priceId,
    accessActive: options.accessActive,
  };
}

/**
 * Interactive transaction with waits long enough for the embedded database, whose single
 * connection makes concurrent transactions queue rather than run side by side.
 */
export function inTransaction<T>(prisma: PrismaClient, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return prisma.$transaction(fn, { maxWait: 30_000, timeout: 30_000 });
}
