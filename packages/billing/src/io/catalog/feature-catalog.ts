import { graceDaysOf } from '../../core/index.js';
import { usageRulesIssues, usageRulesOf } from '../../core/usage.js';
import { ValidationError } from '../../core/errors.js';
import type { CombineRule, FeatureCatalog, FeatureDefinition, OverLimitPolicy } from '../../core/types.js';

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

export const COMBINE_RULES: readonly CombineRule[] = ['max', 'sum'];

/** `grace:<days>` allows at most a year, like the other day counts. */
export const MAX_OVER_LIMIT_GRACE_DAYS = 365;

/** Why `rule` is not a combine rule for a key of `type`, or null. Booleans are always OR'ed. */
export function combineProblem(type: unknown, rule: unknown): string | null {
  if (rule === undefined || rule === null) return null;
  if (!(COMBINE_RULES as readonly unknown[]).includes(rule))
    return 'has combine rule that is not "max" or "sum"';
  if (type !== 'number' && rule !== 'max')
    return 'is a boolean feature; only number features have a combine rule';
  return null;
}

/** The days of a `grace:<days>` policy, or null for the other policies. */
export const overLimitGraceDays = (policy: OverLimitPolicy | undefined): number | null => graceDaysOf(policy);

/** Why `policy` is not an over-limit policy for a key of `type`, or null. */
export function overLimitProblem(type: unknown, policy: unknown): string | null {
  if (policy === undefined || policy === null) return null;
  const days = typeof policy === 'string' ? overLimitGraceDays(policy as OverLimitPolicy) : null;
  const valid =
    policy === 'block_new' ||
    policy === 'allow' ||
    (days !== null && days >= 1 && days <= MAX_OVER_LIMIT_GRACE_DAYS);
  if (!valid)
    return `has over-limit policy that is not "block_new", "allow" or "grace:<days>" (1 to ${MAX_OVER_LIMIT_GRACE_DAYS})`;
  if (type !== 'number' && policy !== 'block_new')
    return 'is a boolean feature; only number features have an over-limit policy';
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
    const ruleProblem = combineProblem(def.type, def.combine) ?? overLimitProblem(def.type, def.overLimit);
    if (ruleProblem !== null) {
      issues.push({ path: `[${i}]`, message: `feature "${key}" ${ruleProblem}` });
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
        // Defaults are left out, so a catalog of plain keys reads exactly as before the rules existed.
        ...(def.combine && def.combine !== 'max' ? { combine: def.combine } : {}),
        ...(def.overLimit && def.overLimit !== 'block_new' ? { overLimit: def.overLimit } : {}),
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
