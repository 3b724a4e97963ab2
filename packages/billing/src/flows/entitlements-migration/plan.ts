import {
  ENTITLEMENT_VALUE_KEY,
  LOOKUP_KEY_TAG_SEPARATOR,
  featureKeyOfLookupKey,
  type EntitlementFeatureLike,
} from '../../io/plan-source/index.js';
import type { FeatureCatalog, FeatureMap, FeatureValue } from '../../core/types.js';

/** A product as the migration sees it: the features its metadata grants, or why they cannot be read. */
export interface MigrationProduct {
  id: string;
  name: string;
  features: FeatureMap | null;
  error?: string;
}

export type MigrationAction =
  | { kind: 'create_feature'; lookupKey: string; name: string; value: number | null }
  | { kind: 'attach_feature'; productId: string; lookupKey: string };

export interface MigrationProblem {
  productId: string;
  lookupKey: string | null;
  reason: string;
}

export interface MigrationPlan {
  actions: MigrationAction[];
  problems: MigrationProblem[];
  /** Product features that are already attached as they should be. */
  alreadyAttached: number;
}

/**
 * The Stripe Feature that expresses one metadata feature: booleans by their key, numbers by
 * `key#value` with the value in metadata, so every limit of a key gets its own unique lookup_key.
 * A boolean `false` needs no Feature (not attached means not granted).
 */
export function lookupKeyFor(key: string, value: FeatureValue): string | null {
  if (value === false) return null;
  return value === true ? key : `${key}${LOOKUP_KEY_TAG_SEPARATOR}${value}`;
}

const valueOf = (feature: EntitlementFeatureLike): string | null =>
  feature.metadata?.[ENTITLEMENT_VALUE_KEY]?.trim() || null;

/**
 * What to create and attach so that every product's attached Features grant what its metadata
 * grants. Pure: reads nothing, changes nothing. Never plans a detach, an archive or a metadata edit,
 * so running it again after a partial run only plans what is still missing.
 */
export function planEntitlementMigration(
  products: readonly MigrationProduct[],
  existing: readonly EntitlementFeatureLike[],
  attachedByProduct: ReadonlyMap<string, readonly EntitlementFeatureLike[]>,
  catalog: FeatureCatalog,
  /**
   * lookup_keys whose creation an earlier call planned: planning page after page with one set gives
   * the plan one call over every product gives (each Feature created once, before its first attach).
   */
  planned: Set<string> = new Set(),
): MigrationPlan {
  const byLookupKey = new Map(existing.map((f) => [f.lookup_key, f]));
  const actions: MigrationAction[] = [];
  const problems: MigrationProblem[] = [];
  let alreadyAttached = 0;

  for (const product of products) {
    if (product.error !== undefined || product.features === null) {
      problems.push({ productId: product.id, lookupKey: null, reason: product.error ?? 'no features' });
      continue;
    }
    const attached = attachedByProduct.get(product.id) ?? [];
    for (const [key, value] of Object.entries(product.features)) {
      const lookupKey = lookupKeyFor(key, value);
      if (lookupKey === null) continue;
      const problem = (reason: string) => problems.push({ productId: product.id, lookupKey, reason });
      const want = typeof value === 'number' ? String(value) : null;
      const feature = byLookupKey.get(lookupKey);
      if (feature && !feature.active) {
        problem(`Feature ${feature.id} with this lookup_key is archived; restore it to attach it`);
        continue;
      }
      if (feature && valueOf(feature) !== want) {
        problem(
          `Feature ${feature.id} with this lookup_key has metadata "${ENTITLEMENT_VALUE_KEY}" ${JSON.stringify(valueOf(feature))}, expected ${JSON.stringify(want)}`,
        );
        continue;
      }
      if (attached.some((f) => f.lookup_key === lookupKey)) {
        alreadyAttached += 1;
        continue;
      }
      const rival = attached.find((f) => f.active && featureKeyOfLookupKey(f.lookup_key) === key);
      if (rival) {
        problem(
          `product already grants "${key}" through Feature ${rival.id} (lookup_key "${rival.lookup_key}")`,
        );
        continue;
      }
      if (!feature && !planned.has(lookupKey)) {
        planned.add(lookupKey);
        actions.push({
          kind: 'create_feature',
          lookupKey,
          name: catalog.get(key)?.description || key,
          value: typeof value === 'number' ? value : null,
        });
      }
      actions.push({ kind: 'attach_feature', productId: product.id, lookupKey });
    }
  }
  return { actions, problems, alreadyAttached };
}
