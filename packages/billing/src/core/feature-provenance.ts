import type { FeatureCatalog, FeatureMap, FeatureValue } from './types.js';

/** Where a tenant's value of one feature comes from. */
export type FeatureOrigin = 'override' | 'plan' | 'price' | 'kept';

export interface FeatureRow {
  key: string;
  /** What the application reads now. */
  effective: FeatureValue;
  /** What plan + overrides give before access is applied (equal to `effective` when access is active). */
  configured: FeatureValue | null;
  origin: FeatureOrigin;
  /** The value is forced off/0 because the subscription does not grant access. */
  restrictedByAccess: boolean;
  description: string | null;
  deprecated: boolean;
}

export interface ProvenanceInput {
  features: FeatureMap;
  planFeatures: FeatureMap;
  overrides: FeatureMap;
  accessActive: boolean;
  /**
   * The product's own defaults (without the price's metadata), when Stripe could be read: a plan
   * value that differs from them came from the price. Null: plan and price are not told apart.
   */
  productFeatures: FeatureMap | null;
}

/**
 * Explains every effective feature: an override wins over the plan (tenant-store's merge), plan
 * values come from the product unless the price refines them, a key in neither was kept from an
 * earlier plan by the `preserve` strategy, and without access every value is restricted.
 */
export function explainFeatures(
  input: ProvenanceInput,
  catalog: FeatureCatalog,
  isDeprecated: (key: string) => boolean = () => false,
): FeatureRow[] {
  const keys = new Set([...Object.keys(input.features), ...Object.keys(input.overrides)]);
  return [...keys].sort().map((key) => {
    const inOverrides = Object.hasOwn(input.overrides, key);
    const inPlan = Object.hasOwn(input.planFeatures, key);
    const configured = inOverrides
      ? input.overrides[key]!
      : inPlan
        ? input.planFeatures[key]!
        : (input.features[key] ?? null);
    let origin: FeatureOrigin;
    if (inOverrides) origin = 'override';
    else if (!inPlan) origin = 'kept';
    else if (input.productFeatures && input.productFeatures[key] !== input.planFeatures[key])
      origin = 'price';
    else origin = 'plan';
    const effective = input.features[key] ?? configured ?? false;
    return {
      key,
      effective,
      configured,
      origin,
      restrictedByAccess: !input.accessActive,
      description: catalog.get(key)?.description ?? null,
      deprecated: isDeprecated(key),
    };
  });
}
