import { featureKeyProblem } from '../catalog/feature-catalog.js';
import { EntitlementFeatureError } from '../../core/errors.js';
import { MAX_FEATURE_NUMBER, toFeatureMap } from '../metadata/values.js';
import { quote } from '../metadata/fields.js';
import type { FeatureCatalog, FeatureDefinition, FeatureMap, FeatureValue } from '../../core/types.js';

/** The part of a Stripe `entitlements.feature` this library reads. */
export interface EntitlementFeatureLike {
  id: string;
  lookup_key: string;
  active: boolean;
  metadata?: Record<string, string> | null;
}

/**
 * The metadata key on a Stripe Feature that carries a number feature's limit ("25"). Stripe's
 * Features have no value of their own; a feature without it is a boolean that is on while attached.
 */
export const ENTITLEMENT_VALUE_KEY = 'value';

/**
 * Stripe wants every Feature's lookup_key to be unique, yet two plans need two Features for one
 * number key (`max_users` 5 and 25). So a lookup_key is the feature key, optionally followed by
 * this separator and any tag: `max_users#25`, `max_users#pro`. Feature keys never contain it.
 */
export const LOOKUP_KEY_TAG_SEPARATOR = '#';

/** The feature key a Stripe Feature's lookup_key names (the part before `#`). */
export function featureKeyOfLookupKey(lookupKey: string): string {
  const at = lookupKey.indexOf(LOOKUP_KEY_TAG_SEPARATOR);
  return at === -1 ? lookupKey : lookupKey.slice(0, at);
}

/** A deprecated key keeps stored values readable, but no plan may grant it anew. */
const isDeprecated = (def: FeatureDefinition): boolean => def.deprecatedAt != null;

/**
 * One attached Stripe Feature as our (key, value): the lookup_key is the feature key (same key
 * rules and catalog as metadata), the value is `true`, or the whole number in metadata `value` for
 * a number feature. Throws EntitlementFeatureError naming the product and the feature.
 */
export function entitlementFeatureValue(
  productId: string,
  feature: EntitlementFeatureLike,
  catalog: FeatureCatalog | undefined,
): [string, FeatureValue] {
  const fail = (reason: string): never => {
    throw new EntitlementFeatureError(productId, feature.id, String(feature.lookup_key), reason);
  };
  const key = featureKeyOfLookupKey(String(feature.lookup_key));
  const problem = featureKeyProblem(key);
  if (problem !== null) return fail(`${quote(key)} is not a valid feature key: it ${problem}`);
  // Without a catalog (a Stripe reader with no database) any well-formed key is accepted, typed
  // by its value, as for metadata; the database-facing services check the catalog.
  const def = catalog ? catalog.get(key) : undefined;
  if (catalog && !def) return fail(`feature key ${quote(key)} is not in the feature catalog`);
  if (def && isDeprecated(def)) return fail(`feature key ${quote(key)} is deprecated in the feature catalog`);
  const metadata = feature.metadata ?? {};
  const raw = Object.hasOwn(metadata, ENTITLEMENT_VALUE_KEY) ? metadata[ENTITLEMENT_VALUE_KEY]?.trim() : '';
  if (!raw) {
    if (!def || def.type === 'boolean') return [key, true];
    return fail(`is a number feature; put its limit in metadata "${ENTITLEMENT_VALUE_KEY}"`);
  }
  const n = /^[0-9]{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 0 && n <= MAX_FEATURE_NUMBER)) {
    return fail(
      `metadata "${ENTITLEMENT_VALUE_KEY}" must be a whole number from 0 to ${MAX_FEATURE_NUMBER}, got ${quote(raw)}`,
    );
  }
  if (def?.type === 'boolean') {
    return fail(`carries a numeric metadata "${ENTITLEMENT_VALUE_KEY}", but it is a boolean feature`);
  }
  return [key, n];
}

/**
 * Features granted by a product's attached Stripe Features. Archived Features grant nothing; two
 * attached Features naming the same key (`max_users#5`, `max_users#25`) are an error, not a guess.
 */
export function featuresFromEntitlements(
  productId: string,
  features: readonly EntitlementFeatureLike[],
  catalog: FeatureCatalog | undefined,
): FeatureMap {
  const out = new Map<string, FeatureValue>();
  const from = new Map<string, EntitlementFeatureLike>();
  for (const feature of features) {
    if (!feature.active) continue;
    const [key, value] = entitlementFeatureValue(productId, feature, catalog);
    const other = from.get(key);
    if (other) {
      throw new EntitlementFeatureError(
        productId,
        feature.id,
        feature.lookup_key,
        `feature key ${quote(key)} is also granted by ${other.id} (lookup_key ${quote(other.lookup_key)}); attach one Feature per key`,
      );
    }
    from.set(key, feature);
    out.set(key, value);
  }
  return toFeatureMap(out);
}
