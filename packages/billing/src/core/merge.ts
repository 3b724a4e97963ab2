import type { FeatureMap, MergeStrategy } from './types.js';
import { combineFeatures, copyFeatures } from './feature-map.js';

/** The three feature maps a tenant's config keeps, as far as merging a plan into it is concerned. */
export interface FeatureLayers {
  /** What the tenant effectively has. */
  features: FeatureMap;
  /** The plan defaults last applied, kept so a later plan change knows what came from the plan. */
  planFeatures: FeatureMap;
  /** Values set explicitly for this tenant (admin/custom deals); they outlive plan changes. */
  overrides: FeatureMap;
}

export interface MergePlanInput {
  current: FeatureLayers | null;
  plan: FeatureMap;
  strategy: MergeStrategy;
}

/**
 * Applies a plan's feature defaults to a tenant. Always returns fresh objects (inputs are never
 * mutated or aliased), so callers can diff `current` against the result.
 *
 * Example: current = { features: { sso: true, max_users: 50, white_label: true },
 *                      planFeatures: { sso: true, max_users: 10, white_label: true },
 *                      overrides: { max_users: 50 } }
 *          plan    = { sso: true, max_users: 20, api_access: true }
 *
 * - 'merge' (default; plan change): features = plan, then overrides on top. white_label came only
 *   from the old plan, so it disappears.
 *     → features { api_access: true, max_users: 50, sso: true }, overrides { max_users: 50 }
 * - 'replace' (reset to plan): overrides are discarded.
 *     → features { api_access: true, max_users: 20, sso: true }, overrides {}
 * - 'preserve' (backfill): only keys the tenant lacks are added; nothing is changed or removed.
 *     → features { api_access: true, max_users: 50, sso: true, white_label: true }, overrides { max_users: 50 }
 *
 * In every strategy planFeatures becomes a copy of `plan`. A null `current` is an empty tenant.
 */
export function mergePlanIntoTenant(input: MergePlanInput): FeatureLayers {
  const current = input.current ?? { features: {}, planFeatures: {}, overrides: {} };
  const plan = copyFeatures(input.plan);
  switch (input.strategy) {
    case 'replace':
      return { features: copyFeatures(plan), planFeatures: plan, overrides: {} };
    case 'preserve':
      return {
        features: combineFeatures(plan, current.features),
        planFeatures: plan,
        overrides: copyFeatures(current.overrides),
      };
    case 'merge':
    default:
      // The old plan's keys are not consulted: features are derived from plan + overrides alone,
      // which is exactly "old-plan keys the new plan lacks are removed unless overridden".
      return {
        features: combineFeatures(plan, current.overrides),
        planFeatures: plan,
        overrides: copyFeatures(current.overrides),
      };
  }
}
