import { UnknownFeatureError, ValidationError } from '../../core/errors.js';
import type { FeatureCatalog, FeatureMap, FeatureValue } from '../../core/types.js';
import { describeValue, quote } from './fields.js';
import { featureValueProblem, isPlainObject, normalizeFeatureValue, toFeatureMap } from './values.js';

/**
 * Validates a feature map from an admin/API caller. Unknown keys throw UnknownFeatureError (the
 * fix is to extend the catalog, a different action from fixing a value); every bad value is
 * collected into one ValidationError so a form can show all problems at once.
 */
export function validateFeatureMap(input: unknown, catalog: FeatureCatalog, context: string): FeatureMap {
  if (!isPlainObject(input)) {
    const message = `must be an object of feature key to boolean or number, got ${describeValue(input)}`;
    throw new ValidationError(`${context}: features ${message}`, [{ path: context, message }]);
  }
  const entries = Object.entries(input);
  for (const [key] of entries) {
    if (!catalog.has(key)) throw new UnknownFeatureError(key, context);
  }
  const issues: { path: string; message: string }[] = [];
  const out = new Map<string, FeatureValue>();
  for (const [key, value] of entries) {
    const problem = featureValueProblem(catalog.get(key)!, value);
    if (problem === null) out.set(key, normalizeFeatureValue(value as FeatureValue));
    else issues.push({ path: `${context}.${key}`, message: `feature ${quote(key)} ${problem}` });
  }
  if (issues.length > 0) {
    throw new ValidationError(`${context}: ${issues.map((i) => i.message).join('; ')}`, issues);
  }
  return toFeatureMap(out);
}
