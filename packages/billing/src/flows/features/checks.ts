import type { FeatureChecks } from '../../io/feature-keys.js';
import type { TenantFeatures } from '../../io/feature-cache/index.js';
import { compareToLimit, featureOn, limitOf } from './access.js';
import type { OverLimitTracker } from './over-limit.js';

/** Reads a tenant's effective features; `featureSync.reader` (the cached reader) is the usual one. */
export interface TenantFeatureSource {
  getTenantFeatures(tenantId: string): Promise<TenantFeatures | null>;
}

/**
 * isFeatureEnabled / getLimit / checkLimit for application code, over any feature source — the
 * cached reader behind `featureSync.isFeatureEnabled`, so all of them share one cache and answer
 * from the same version of a tenant's features.
 */
export function createFeatureChecks(
  source: TenantFeatureSource,
  /** Records reported usage and decides above a lowered limit (the feature-sync service passes one). */
  overLimits?: OverLimitTracker,
): FeatureChecks {
  const featuresOf = async (tenantId: string) => (await source.getTenantFeatures(tenantId))?.features ?? {};
  return {
    isFeatureEnabled: async (tenantId: string, key: string) => featureOn(await featuresOf(tenantId), key),
    getLimit: async (tenantId: string, key: string) => limitOf(await featuresOf(tenantId), key),
    async checkLimit(tenantId: string, key: string, used: number) {
      const tenant = await source.getTenantFeatures(tenantId);
      const limit = limitOf(tenant?.features ?? {}, key);
      const plain = compareToLimit(limit, used);
      // Usage is tracked for configured tenants only (an unknown tenant has nothing to be over).
      if (!overLimits || !tenant) return plain;
      return overLimits.check(tenantId, key, used, limit);
    },
  };
}
