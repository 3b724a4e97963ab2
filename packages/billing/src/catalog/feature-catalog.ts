import { usageRulesIssues, usageRulesOf } from '../core/usage.js';
import { ValidationError } from '../errors.js';
import type { FeatureCatalog, FeatureDefinition } from '../types.js';

/**
 * Dot-separated segments, each a letter followed by letters, digits or underscores: the spec's
 * namespaced camelCase keys (`google.reviews`, `platform.whiteLabel`) as well as snake_case ones
 * (`max_users`). No empty segment, no leading/trailing dot, nothing that needs quoting anywhere.
 */
export const FEATURE_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$/;

/** Long enough for `namespace.subArea.featureName`, short enough to stay readable in a UI and a log line. */
export const MAX_FEATURE_KEY_LENGTH = 64;

/**
 * Names that match FEATURE_KEY_PATTERN but are properties every plain object inherits; allowing
 * them would let `features.constructor` look "present" and invites prototype tricks downstream.
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['constructor', 'prototype']);

export function isValidFeatureKey(key: unknown): key is string {
  return (
    typeof key === 'string' &&
    key.length <= MAX_FEATURE_KEY_LENGTH &&
    FEATURE_KEY_PATTERN.test(key) &&
    !RESERVED_KEYS.has(key)
  );
}

/** Why `key` is not a well-formed feature key, or null when it is. */
export function featureKeyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return 'must be a string';
  if (key.length > MAX_FEATURE_KEY_LENGTH) return `must be at most ${MAX_FEATURE_KEY_LENGTH} characters`;
  if (RESERVED_KEYS.has(key)) return `"${key}" is reserved`;
  if (!FEATURE_KEY_PATTERN.test(key))
    return 'must be dot-separated segments of letters, digits and underscores, each starting with a letter (e.g. "platform.whiteLabel", "max_users")';
  return null;
}

/**
 * Builds a catalog from definitions, rejecting the whole set on any problem: a catalog with a
 * silently dropped key would make valid Stripe metadata fail later with a confusing error.
 */
export function createFeatureCatalog(defs: readonly FeatureDefinition[]): FeatureCatalog {
  const issues: { path: string; message: string }[] = [];
  const catalog = new Map<string, FeatureDefinition>();
  defs.forEach((def, i) => {
    const key: unknown = def?.key;
    if (!isValidFeatureKey(key)) {
      issues.push({
        path: `[${i}].key`,
        message: `invalid feature key ${JSON.stringify(key)}: ${featureKeyProblem(key)}`,
      });
      return;
    }
    if (def.type !== 'boolean' && def.type !== 'number') {
      issues.push({
        path: `[${i}].type`,
        message: `feature "${key}" has type ${JSON.stringify(def.type)}; expected "boolean" or "number"`,
      });
      return;
    }
    if (typeof def.description !== 'string') {
      issues.push({ path: `[${i}].description`, message: `feature "${key}" needs a string description` });
      return;
    }
    const usageIssues = usageRulesIssues(def.usage, def.type, `[${i}].usage`);
    if (usageIssues.length > 0) {
      issues.push(...usageIssues.map((x) => ({ ...x, message: `feature "${key}" usage ${x.message}` })));
      return;
    }
    if (catalog.has(key)) {
      issues.push({ path: `[${i}].key`, message: `duplicate feature key "${key}"` });
      return;
    }
    catalog.set(
      key,
      Object.freeze({
        key,
        type: def.type,
        description: def.description,
        ...(def.deprecatedAt ? { deprecatedAt: def.deprecatedAt } : {}),
        ...(def.usage ? { usage: Object.freeze(usageRulesOf(def.usage)!) } : {}),
      }),
    );
  });
  if (issues.length > 0) {
    throw new ValidationError(`Invalid feature catalog: ${issues.map((x) => x.message).join('; ')}`, issues);
  }
  return catalog;
}

/**
 * The demo's keys, which the demo and the tests register: mirrors the seed migration
 * 20261125000100_seed_feature_catalog (a test keeps them in sync), which new installs no longer keep.
 */
export const DEFAULT_FEATURE_CATALOG: FeatureCatalog = createFeatureCatalog([
  { key: 'api_access', type: 'boolean', description: 'Access to the public REST API' },
  { key: 'advanced_analytics', type: 'boolean', description: 'Advanced analytics dashboards' },
  { key: 'priority_support', type: 'boolean', description: 'Priority support queue' },
  { key: 'sso', type: 'boolean', description: 'Single sign-on (SAML/OIDC)' },
  { key: 'custom_domains', type: 'boolean', description: 'Custom domains' },
  { key: 'white_label', type: 'boolean', description: 'Remove product branding' },
  { key: 'audit_export', type: 'boolean', description: 'Export of the audit log' },
  { key: 'webhooks', type: 'boolean', description: 'Outgoing webhooks' },
  { key: 'scheduled_reports', type: 'boolean', description: 'Scheduled e-mail reports' },
  { key: 'bulk_export', type: 'boolean', description: 'Bulk data export' },
  { key: 'max_projects', type: 'number', description: 'Maximum number of projects' },
  { key: 'max_users', type: 'number', description: 'Maximum number of seats' },
  { key: 'max_scrapers', type: 'number', description: 'Maximum number of concurrent scrapers' },
  { key: 'api_rate_limit', type: 'number', description: 'API requests per minute' },
  { key: 'data_retention_days', type: 'number', description: 'Days of data retention' },
]);
