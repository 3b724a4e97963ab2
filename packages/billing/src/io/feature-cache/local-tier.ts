import { createTtlCache, DEFAULT_CACHE_MEMORY_MB, type KeyValueCache } from '../cache/index.js';
import type { BillingMetrics } from '../metrics/index.js';
import { estimateFeaturesBytes, type TenantFeatures } from './tenant-features.js';

/**
 * The reader's in-process tier (feature-reader.ts): only in front of a shared cache with a change
 * bus, bounded by memory, each copy living no longer than what it was copied from. Without a bus
 * there is none, and the shared in-process cache's own size and evictions are observed instead.
 */
export type LocalTier = ReturnType<typeof createLocalTier>;

export function createLocalTier(
  cache: KeyValueCache,
  ttl: number,
  metrics: BillingMetrics,
  options: { localTtlSeconds?: number; localMaxBytes?: number; localMaxEntries?: number; now?: () => number },
) {
  const bus = cache.bus;
  const localTtlMs = Math.min(options.localTtlSeconds ?? ttl, ttl) * 1000;
  const local = bus
    ? createTtlCache<TenantFeatures>({
        maxBytes: options.localMaxBytes ?? DEFAULT_CACHE_MEMORY_MB * 1024 * 1024,
        sizeOf: estimateFeaturesBytes,
        maxEntries: options.localMaxEntries,
        onEvict: () => metrics.cacheEviction?.('local'),
        ttlMs: localTtlMs,
        now: options.now,
      })
    : undefined;
  if (local) {
    metrics.observeCacheSize?.('local', () => ({ entries: local.size, bytes: local.calculatedSize }));
  } else {
    cache.onEvict?.((count) => {
      for (let i = 0; i < count; i++) metrics.cacheEviction?.('redis');
    });
    const size = cache.size?.bind(cache);
    if (size) metrics.observeCacheSize?.('redis', size);
  }

  /**
   * Keeps a committed version in process, for `ttlMs` at most (what the entry it was copied from has
   * left; by default a full lifetime, for a value just read from the database or published).
   */
  function putLocal(entry: TenantFeatures, ttlMs = localTtlMs) {
    if (!local || ttlMs <= 0) return;
    const current = local.get(entry.tenantId);
    if (current && current.version > entry.version) return;
    local.set(entry.tenantId, Object.freeze(entry), { ttl: Math.min(ttlMs, localTtlMs) });
  }

  return { local, localTtlMs, putLocal };
}
