import { sameValue } from './same-value.js';
import { emptyState, type Decision, type TenantFeatureState } from './tenant-state.js';

/** Fields whose change is a change of the tenant's entitlements, and so gets an audit row. */
export const AUDITED_FIELDS = [
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

/** A step of a fold: one decision applied to a state, as updateTenantFeatures would apply it. */
export interface FoldStep {
  action: string;
  /** Entitlement fields changed: this step gets an audit row. */
  audited: boolean;
  before: TenantFeatureState | null;
  after: TenantFeatureState;
  stripeEventId: string | null;
}

/**
 * Applies `decision` to `current` (null = no config row yet). `changed` is false when nothing at all
 * would be written (the decision repeats the stored state); `step.audited` when entitlements change.
 */
export function applyDecision(
  tenantId: string,
  current: TenantFeatureState | null,
  decision: Exclude<Decision, { skip: string }>,
  stripeEventId: string | null,
): { changed: boolean; step: FoldStep } {
  const base = current ?? emptyState(tenantId);
  const next: TenantFeatureState = { ...base, ...decision.patch, tenantId, version: base.version };
  const audited = current === null || AUDITED_FIELDS.some((f) => !sameValue(current[f], next[f]));
  const changed =
    current === null ||
    (Object.keys(decision.patch) as (keyof TenantFeatureState)[]).some(
      (f) => !sameValue(current[f], next[f]),
    );
  return { changed, step: { action: decision.action, audited, before: current, after: next, stripeEventId } };
}
