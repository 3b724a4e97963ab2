import type { MergeStrategy, PlanDefaults } from './types.js';
import { mergePlanIntoTenant } from './merge.js';
import { restrictFeatures } from './restriction.js';
import type { TenantFeaturePatch, TenantFeatureState } from './tenant-state.js';

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
