import type { FeatureDefinition, FeatureMap, FeatureValue } from '../../core/types.js';
import { describeValue } from './fields.js';

/** Numeric limits are counts/rates; 1e9 leaves room for "unlimited"-style values and fits an int. */
export const MAX_FEATURE_NUMBER = 1_000_000_000;

/** Returns why `value` is not valid for `def`, or null if it is. */
export function featureValueProblem(
  def: Pick<FeatureDefinition, 'type' | 'usage'>,
  value: unknown,
): string | null {
  if (def.type === 'boolean') {
    return typeof value === 'boolean' ? null : `must be a boolean (true/false), got ${describeValue(value)}`;
  }
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_FEATURE_NUMBER)
    return null;
  // A metered key granted as `true`: unlimited, but counted (docs/usage.md).
  if (def.usage && value === true) return null;
  return `must be an integer from 0 to ${MAX_FEATURE_NUMBER}, got ${describeValue(value)}`;
}

/** -0 survives JSON.parse("-0") but not a round trip through JSON.stringify, so fold it to 0. */
export function normalizeFeatureValue(value: FeatureValue): FeatureValue {
  return typeof value === 'number' ? value + 0 : value;
}

/** Plain object with sorted keys; keys have already been checked against the catalog. */
export function toFeatureMap(entries: Iterable<[string, FeatureValue]>): FeatureMap {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Object literal or null-prototype object; rejects arrays, class instances and exotic prototypes. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
