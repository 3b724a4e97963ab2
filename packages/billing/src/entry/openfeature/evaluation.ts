import type { TenantFeatures } from '../../io/feature-cache/index.js';
import type { FeatureCatalog, FeatureValue } from '../../core/types.js';

/**
 * A tenant's features as OpenFeature flags, shared by the OFREP endpoints and the in-process
 * provider so both answer alike. Pure: the tenant's cached features and the catalog in, the
 * evaluation out.
 *
 * - A boolean feature is a boolean flag, a numeric one an integer flag (a limit).
 * - A key the catalog knows but the tenant's plan does not grant is off (false / 0), as
 *   isFeatureEnabled reads it: reason STATIC, variant `not_in_plan`.
 * - A tenant whose subscription grants no access has every value off: reason DISABLED,
 *   source `restricted`.
 * - Otherwise the value is the tenant's: reason TARGETING_MATCH (the targeting key, the tenant,
 *   decided it), source `override` when a tenant override set it, else `plan`.
 * - A key neither the catalog nor the tenant has is FLAG_NOT_FOUND.
 */

/** Where an evaluated value comes from, as `metadata.source` says it. */
export type FlagSource = 'plan' | 'override' | 'restricted' | 'none';

/** OFREP's success reasons that our evaluations use. */
export type FlagReason = 'TARGETING_MATCH' | 'STATIC' | 'DISABLED';

/** Flag metadata: OFREP allows only booleans, strings and numbers as values. */
export type FlagMetadata = Record<string, string | number | boolean>;

export interface FlagEvaluation {
  key: string;
  value: boolean | number;
  reason: FlagReason;
  variant: string;
  metadata: FlagMetadata;
}

export interface FlagNotFound {
  key: string;
  errorCode: 'FLAG_NOT_FOUND';
  errorDetails: string;
}

/**
 * The value of a metered key, when a usage service knows one: the amount left this period
 * (the plan's limit minus what was used). Absent: the key is read as its plan value.
 */
export type RemainingOf = (key: string, limit: number) => number | undefined;

export function evaluateFlag(
  key: string,
  tenant: TenantFeatures | null,
  catalog: FeatureCatalog | undefined,
  remaining?: RemainingOf,
): FlagEvaluation | FlagNotFound {
  const has = tenant !== null && Object.hasOwn(tenant.features, key);
  const definition = catalog?.get(key);
  if (!has && !definition) {
    return { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `Flag '${key}' was not found` };
  }
  const metadata = baseMetadata(tenant);
  if (!has) {
    const value = definition!.type === 'number' ? 0 : false;
    return {
      key,
      value,
      reason: 'STATIC',
      variant: 'not_in_plan',
      metadata: { ...metadata, source: 'none' },
    };
  }
  const stored: FeatureValue = tenant.features[key]!;
  if (!tenant.accessActive) {
    return {
      key,
      value: typeof stored === 'number' ? 0 : false,
      reason: 'DISABLED',
      variant: 'restricted',
      metadata: { ...metadata, source: 'restricted' },
    };
  }
  const overridden = tenant.overridden?.includes(key) ?? false;
  const source: FlagSource = overridden ? 'override' : 'plan';
  let value: boolean | number = stored;
  if (typeof stored === 'number' && remaining) {
    const left = remaining(key, stored);
    if (left !== undefined) {
      value = left;
      metadata.limit = stored;
      metadata.metered = true;
    }
  }
  return {
    key,
    value,
    reason: 'TARGETING_MATCH',
    variant: overridden ? 'override' : (tenant.bundle ?? 'plan'),
    metadata: { ...metadata, source },
  };
}

/** Every flag the tenant can be asked about: the catalog's keys and the tenant's own, sorted. */
export function evaluateAll(
  tenant: TenantFeatures | null,
  catalog: FeatureCatalog | undefined,
  remaining?: RemainingOf,
): FlagEvaluation[] {
  const keys = new Set<string>(catalog ? catalog.keys() : []);
  if (tenant) for (const key of Object.keys(tenant.features)) keys.add(key);
  return [...keys].sort().map((key) => evaluateFlag(key, tenant, catalog, remaining) as FlagEvaluation);
}

function baseMetadata(tenant: TenantFeatures | null): FlagMetadata {
  if (!tenant) return { configured: false };
  const metadata: FlagMetadata = {
    configured: true,
    version: tenant.version,
    accessActive: tenant.accessActive,
  };
  if (tenant.bundle !== null) metadata.bundle = tenant.bundle;
  if (tenant.subscriptionStatus !== null) metadata.subscriptionStatus = tenant.subscriptionStatus;
  return metadata;
}

export function isNotFound(result: FlagEvaluation | FlagNotFound): result is FlagNotFound {
  return 'errorCode' in result;
}
