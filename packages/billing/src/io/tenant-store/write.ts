import type { TenantFeatureConfig } from '@packages/db';
import {
  AUDITED_FIELDS,
  emptyState,
  sameValue,
  type Decision,
  type TenantFeatureState,
} from '../../core/index.js';
import { recordAudit } from '../audit/write.js';
import { ConcurrencyError } from '../../core/errors.js';
import type { AuditSourceName } from '../../core/types.js';
import { auditSnapshot, toRowData, toState } from './state-row.js';
import type { Tx } from './transaction.js';

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
    await recordAudit(tx, {
      tenantId,
      actor: audit.actor,
      source: audit.source,
      action: decision.action,
      before: before ? auditSnapshot(before) : null,
      after: auditSnapshot(next),
      stripeEventId: audit.stripeEventId ?? null,
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
