/**
 * Where a plan's features come from: product/price metadata, the product's attached Stripe
 * Features (native Entitlements), or both. See docs/metadata.md ("Plan sources") for the merge rule.
 */
export const PLAN_SOURCES = ['metadata', 'entitlements', 'both'] as const;
export type PlanSource = (typeof PLAN_SOURCES)[number];
export const DEFAULT_PLAN_SOURCE: PlanSource = 'metadata';

export function isPlanSource(value: unknown): value is PlanSource {
  return typeof value === 'string' && (PLAN_SOURCES as readonly string[]).includes(value);
}

/** Whether plans in this mode read product metadata features / attached Stripe Features. */
export const readsMetadataFeatures = (source: PlanSource): boolean => source !== 'entitlements';
export const readsEntitlementFeatures = (source: PlanSource): boolean => source !== 'metadata';
