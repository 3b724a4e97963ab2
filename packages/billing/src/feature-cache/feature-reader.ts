import type { PrismaClient } from '@packages/db';
import { decodeVersioned, type KeyValueCache } from '../cache/index.js';
import { type TenantFeatureState } from '../core/index.js';
import { toState } from '../tenant-store/index.js';
import type { FeatureMap } from '../types.js';

/** What the application reads to decide what a tenant may do. */
export interface TenantFeatures {
  tenantId: string;
  features: FeatureMap;
  bundle: string | null;
  scrapeIntervalHours: number | null;
  accessActive: boolean;
  subscriptionStatus: string | null;
  source: TenantFeatureState['source'];
  version: number;
}

export interface FeatureReaderStats {
  hits: number;
  misses: number;
  /** Cache operations that failed (e.g. Redis down); the read was served from the database. */
  cacheErrors: number;
}

export interface FeatureReader {
  getTenantFeatures(tenantId: string): Promise<TenantFeatures | null>;
  /** True when the feature is on (boolean true, or a number above zero). Unknown tenant or key → false. */
  isFeatureEnabled(tenantId: string, key: string): Promise<boolean>;
  /** Called after a write commits: puts the committed version in the cache. */
  publish(states: TenantFeatureState[]): Promise<void>;
  invalidate(...tenantIds: string[]): Promise<void>;
  readonly stats: FeatureReaderStats;
}

export interface FeatureReaderOptions {
  ttlSeconds?: number;
  /** Prefix of this reader's cache keys; tests use one per file so they never see each other's entries. */
  namespace?: string;
}

export function toTenantFeatures(state: TenantFeatureState): TenantFeatures {
  return {
    tenantId: state.tenantId,
    features: state.features,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    accessActive: state.accessActive,
    subscriptionStatus: state.subscriptionStatus,
    source: state.source,
    version: state.version,
  };
}

/**
 * Cached feature resolution. Reads go cache → database; writers publish the committed version
 * after commit. Versioned entries mean a reader that raced a writer can never leave an older
 * value in the cache, and a cache outage degrades to database reads instead of errors.
 */
export function createFeatureReader(
  prisma: PrismaClient,
  cache: KeyValueCache,
  options: FeatureReaderOptions = {},
): FeatureReader {
  const ttl = options.ttlSeconds ?? 300;
  const namespace = options.namespace ?? 'features';
  const keyOf = (tenantId: string) => `${namespace}:${tenantId}`;
  const stats: FeatureReaderStats = { hits: 0, misses: 0, cacheErrors: 0 };

  async function safely<T>(op: () => Promise<T>): Promise<T | undefined> {
    try {
      return await op();
    } catch {
      stats.cacheErrors += 1;
      return undefined;
    }
  }

  async function getTenantFeatures(tenantId: string): Promise<TenantFeatures | null> {
    const cached = decodeVersioned((await safely(() => cache.get(keyOf(tenantId)))) ?? null);
    if (cached) {
      stats.hits += 1;
      return JSON.parse(cached.value) as TenantFeatures;
    }
    stats.misses += 1;
    const row = await prisma.tenantFeatureConfig.findUnique({ where: { tenantId } });
    if (!row) return null;
    const features = toTenantFeatures(toState(row));
    await safely(() => cache.setIfNewer(keyOf(tenantId), features.version, JSON.stringify(features), ttl));
    return features;
  }

  return {
    stats,
    getTenantFeatures,
    async isFeatureEnabled(tenantId, key) {
      const resolved = await getTenantFeatures(tenantId);
      if (!resolved || !Object.hasOwn(resolved.features, key)) return false;
      const value = resolved.features[key];
      return value === true || (typeof value === 'number' && value > 0);
    },
    async publish(states) {
      await Promise.all(
        states.map((state) =>
          safely(async () => {
            const ok = await cache.setIfNewer(
              keyOf(state.tenantId),
              state.version,
              JSON.stringify(toTenantFeatures(state)),
              ttl,
            );
            if (!ok) return;
          }),
        ),
      );
    },
    async invalidate(...tenantIds) {
      await safely(() => cache.del(...tenantIds.map(keyOf)));
    },
  };
}
