import type { FeatureChecks } from '../feature-keys.js';
import type { TenantFeatures } from '../feature-cache/index.js';
import { compareToLimit, featureOn, limitOf } from './access.js';

/** Reads a tenant's effective features; `featureSync.reader` (the cached reader) is the usual one. */
export interface TenantFeatureSource {
  getTenantFeatures(tenantId: string): Promise<TenantFeatures | null>;
}

/**
 * isFeatureEnabled / getLimit / checkLimit for application code, over any feature source — the
 * cached reader behind `featureSync.isFeatureEnabled`, so all of them share one cache and answer
 * from the same version of a tenant's features.
 */
export function createFeatureChecks(source: TenantFeatureSource): FeatureChecks {
  const featuresOf = async (tenantId: string) => (await source.getTenantFeatures(tenantId))?.features ?? {};
  return {
    isFeatureEnabled: async (tenantId: string, key: string) => featureOn(await featuresOf(tenantId), key),
    getLimit: async (tenantId: string, key: string) => limitOf(await featuresOf(tenantId), key),
    checkLimit: async (tenantId: string, key: string, used: number) =>
      compareToLimit(limitOf(await featuresOf(tenantId), key), used),
  };
}
