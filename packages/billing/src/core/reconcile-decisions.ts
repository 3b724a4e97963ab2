import type { FeatureMap } from './types.js';
import type { EventFacts } from './event-facts.js';
import { diffFeatures } from './feature-map.js';
import { decideFromTruth } from './subscription-decision.js';
import type { SubscriptionTruth } from './subscription-truth.js';
import type { TenantFeaturePatch, TenantFeatureState } from './tenant-state.js';

/** The entitlement-relevant part of a tenant's config: what reconciliation compares. */
export interface ReconcileSnapshot {
  features: FeatureMap;
  bundle: string | null;
  accessActive: boolean;
  subscriptionStatus: string | null;
  priceId: string | null;
  scrapeIntervalHours: number | null;
}

/** Feature keys in `added`/`removed`/`changed`; other snapshot fields that differ in `fields`. */
export interface SnapshotDiff {
  added: string[];
  removed: string[];
  changed: string[];
  fields: Array<Exclude<keyof ReconcileSnapshot, 'features'>>;
}

export function snapshotOf(state: TenantFeatureState): ReconcileSnapshot {
  return {
    features: state.features,
    bundle: state.bundle,
    accessActive: state.accessActive,
    subscriptionStatus: state.subscriptionStatus,
    priceId: state.stripePriceId,
    scrapeIntervalHours: state.scrapeIntervalHours,
  };
}

const SCALAR_FIELDS = [
  'bundle',
  'accessActive',
  'subscriptionStatus',
  'priceId',
  'scrapeIntervalHours',
] as const;

/** Null when the tenant matches what is expected; otherwise what differs. */
export function compareSnapshots(
  expected: ReconcileSnapshot,
  actual: ReconcileSnapshot | null,
): SnapshotDiff | null {
  const features = diffFeatures(actual?.features ?? {}, expected.features);
  const fields =
    actual === null ? [...SCALAR_FIELDS] : SCALAR_FIELDS.filter((f) => expected[f] !== actual[f]);
  const same =
    actual !== null &&
    fields.length === 0 &&
    features.added.length + features.removed.length + features.changed.length === 0;
  return same ? null : { ...features, fields };
}

/** The facts a reconcile decides under: not an event, so nothing that could move the event clock. */
export function reconcileFacts(tenantId: string, now: Date, graceMs: number): EventFacts {
  return { tenantId, eventId: 'reconcile', eventType: 'reconcile', created: new Date(0), now, graceMs };
}

/**
 * The webhook rules (decideFromTruth) are the single definition of "what Stripe implies"; the
 * watermark is dropped because a reconcile is not an event and must not move the event clock.
 */
export function expectedPatch(
  current: TenantFeatureState | null,
  truth: SubscriptionTruth,
  facts: EventFacts,
): { patch: TenantFeaturePatch } | { skip: 'no_config' | 'plan_for_other_tenant' } {
  // No config and no access is already the restricted state: nothing to compare or write.
  if (current === null && truth.kind === 'none') return { skip: 'no_config' };
  const decision = decideFromTruth(current, truth, facts);
  if ('skip' in decision) return decision;
  const { lastStripeEventAt: _at, lastStripeEventId: _id, ...patch } = decision.patch;
  return { patch };
}
