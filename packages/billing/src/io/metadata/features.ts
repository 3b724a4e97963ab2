import { featureKeyProblem } from '../catalog/feature-catalog.js';
import type { FeatureCatalog, FeatureDefinition, FeatureValue } from '../../core/types.js';
import { describeValue, quote } from './fields.js';
import { featureValueProblem, normalizeFeatureValue } from './values.js';

type Fail = (reason: string) => never;

/**
 * The definition `key` is checked against. With a catalog, only its keys exist. Without one (a
 * reader that has no database, e.g. `createStripeSyncService(stripe)`), every well-formed key is
 * accepted with the type its value has; whoever writes the result checks it against the catalog.
 */
function definitionOf(
  catalog: FeatureCatalog | undefined,
  key: string,
  value: unknown,
  fail: Fail,
): Pick<FeatureDefinition, 'type'> {
  if (catalog) {
    const def = catalog.get(key);
    return def ?? fail(`contains unknown feature key ${quote(key)}`);
  }
  const problem = featureKeyProblem(key);
  if (problem !== null) return fail(`contains malformed feature key ${quote(key)}: it ${problem}`);
  return { type: typeof value === 'number' ? 'number' : 'boolean' };
}

/** "api_access, sso" → every listed key on. Only boolean features may be listed this way. */
export function parseFeatureList(
  raw: string,
  catalog: FeatureCatalog | undefined,
  fail: Fail,
): Map<string, FeatureValue> {
  const out = new Map<string, FeatureValue>();
  for (const entry of raw.split(',')) {
    const key = entry.trim();
    if (key === '') continue;
    const def = definitionOf(catalog, key, true, fail);
    if (def.type !== 'boolean') {
      return fail(`lists ${quote(key)}, which is a number feature; set numeric limits in JSON instead`);
    }
    out.set(key, true);
  }
  return out;
}

/**
 * A JSON object of feature key → boolean|number. Nested values (objects, arrays, strings, null)
 * are type errors, so deeply nested input never gets further than one level of inspection.
 */
export function parseFeatureJson(
  raw: string,
  catalog: FeatureCatalog | undefined,
  fail: Fail,
): Map<string, FeatureValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return fail('is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return fail(`must be a JSON object of feature key to boolean or number, got ${describeValue(parsed)}`);
  }
  const out = new Map<string, FeatureValue>();
  // JSON.parse defines "__proto__" as an own data property, so it shows up here and is rejected.
  for (const [key, value] of Object.entries(parsed)) {
    const def = definitionOf(catalog, key, value, fail);
    const problem = featureValueProblem(def, value);
    if (problem !== null) return fail(`feature ${quote(key)} ${problem}`);
    out.set(key, normalizeFeatureValue(value as FeatureValue));
  }
  return out;
}
