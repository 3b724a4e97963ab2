import { isValidFeatureKey } from '../catalog/feature-catalog.js';
import { ValidationError } from '../../core/errors.js';
import type { FeatureMap, FeatureValue } from '../../core/types.js';
import { describeValue } from './fields.js';
import { MAX_SCRAPE_INTERVAL_HOURS, STRIPE_METADATA_LIMITS } from './types.js';
import { featureValueProblem, isPlainObject, normalizeFeatureValue } from './values.js';

export interface ProductMetadataInput {
  bundle?: string | null;
  features: FeatureMap;
  scrapeIntervalHours?: number | null;
  custom?: boolean;
  /** Informational on products (the parser reads tenantId from the price); helps humans in the dashboard. */
  tenantId?: string | null;
  basePlanId?: string | null;
}

export interface PriceMetadataInput {
  tenantId?: string | null;
  custom?: boolean;
  features?: FeatureMap;
}

type Issues = { path: string; message: string }[];

/**
 * Writes product metadata the parser reads back to the same values. Enabled booleans go into the
 * human-readable `features` list; `false` and numbers need `featuresJson`. Absent inputs produce no
 * key; when updating an existing product, blank stale keys (see PRODUCT_METADATA_KEYS) yourself.
 * No catalog is consulted: keys are checked for shape only, the parser checks membership.
 */
export function buildProductMetadata(input: ProductMetadataInput): Record<string, string> {
  const issues: Issues = [];
  const out: Record<string, string> = {};
  const features = checkFeatures(input.features, 'features', issues);
  const enabled = features.filter(([, v]) => v === true).map(([k]) => k);
  const rest = features.filter(([, v]) => v !== true);
  putText(out, 'bundle', input.bundle, issues);
  if (enabled.length > 0) putLimited(out, 'features', enabled.join(', '), issues);
  if (rest.length > 0) putLimited(out, 'featuresJson', JSON.stringify(Object.fromEntries(rest)), issues);
  putInterval(out, input.scrapeIntervalHours, issues);
  putFlag(out, 'custom', input.custom, issues);
  putText(out, 'tenantId', input.tenantId, issues);
  putText(out, 'basePlanId', input.basePlanId, issues);
  return finish('product', out, issues);
}

/** Writes price metadata; all features go into the `features` JSON object. */
export function buildPriceMetadata(input: PriceMetadataInput): Record<string, string> {
  const issues: Issues = [];
  const out: Record<string, string> = {};
  putText(out, 'tenantId', input.tenantId, issues);
  putFlag(out, 'custom', input.custom, issues);
  const features = checkFeatures(input.features ?? {}, 'features', issues);
  if (features.length > 0) putLimited(out, 'features', JSON.stringify(Object.fromEntries(features)), issues);
  return finish('price', out, issues);
}

function checkFeatures(features: unknown, path: string, issues: Issues): [string, FeatureValue][] {
  if (!isPlainObject(features)) {
    issues.push({
      path,
      message: `must be an object of feature key to boolean or number, got ${describeValue(features)}`,
    });
    return [];
  }
  const valid: [string, FeatureValue][] = [];
  for (const [key, value] of Object.entries(features)) {
    if (!isValidFeatureKey(key)) {
      issues.push({ path: `${path}.${key}`, message: `invalid feature key ${JSON.stringify(key)}` });
      continue;
    }
    const problem = typeof value === 'boolean' ? null : featureValueProblem({ type: 'number' }, value);
    if (problem === null) valid.push([key, normalizeFeatureValue(value as FeatureValue)]);
    else issues.push({ path: `${path}.${key}`, message: `feature "${key}" ${problem}` });
  }
  // Sorted so the same map always produces byte-identical metadata (no spurious Stripe updates).
  return valid.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function putLimited(out: Record<string, string>, key: string, value: string, issues: Issues): void {
  if (value.length > STRIPE_METADATA_LIMITS.maxValueLength) {
    issues.push({
      path: key,
      message: `${key} would be ${value.length} characters; Stripe metadata values are limited to ${STRIPE_METADATA_LIMITS.maxValueLength}. Move some features to the price metadata or drop unused ones`,
    });
    return;
  }
  out[key] = value;
}

/** Trimmed, because the parser trims: writing " pro " would otherwise not read back identically. */
function putText(
  out: Record<string, string>,
  key: string,
  value: string | null | undefined,
  issues: Issues,
): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'string') {
    issues.push({ path: key, message: `must be a string, got ${describeValue(value)}` });
    return;
  }
  const trimmed = value.trim();
  if (trimmed !== '') putLimited(out, key, trimmed, issues);
}

function putFlag(out: Record<string, string>, key: string, value: boolean | undefined, issues: Issues): void {
  if (value === undefined) return;
  if (typeof value !== 'boolean')
    issues.push({ path: key, message: `must be a boolean, got ${describeValue(value)}` });
  else out[key] = String(value);
}

function putInterval(out: Record<string, string>, value: number | null | undefined, issues: Issues): void {
  if (value === null || value === undefined) return;
  if (Number.isInteger(value) && value >= 1 && value <= MAX_SCRAPE_INTERVAL_HOURS)
    out.scrapeIntervalHours = String(value);
  else
    issues.push({
      path: 'scrapeIntervalHours',
      message: `must be a whole number of hours from 1 to ${MAX_SCRAPE_INTERVAL_HOURS}, got ${describeValue(value)}`,
    });
}

function finish(
  objectType: 'product' | 'price',
  out: Record<string, string>,
  issues: Issues,
): Record<string, string> {
  const keys = Object.keys(out);
  // Our key names are fixed and short, so these only fire if someone adds a field carelessly.
  if (keys.length > STRIPE_METADATA_LIMITS.maxKeys)
    issues.push({ path: '', message: `too many metadata keys (${keys.length})` });
  for (const key of keys) {
    if (key.length > STRIPE_METADATA_LIMITS.maxKeyLength)
      issues.push({ path: key, message: `metadata key "${key}" is too long` });
  }
  if (issues.length > 0) {
    throw new ValidationError(
      `Cannot build ${objectType} metadata: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
      issues,
    );
  }
  return out;
}
