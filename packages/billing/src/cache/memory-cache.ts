import { LRUCache } from 'lru-cache';
import { decodeVersioned, type KeyValueCache } from './key-value-cache.js';

/** The cache of a single process (no REDIS_URL): lru-cache with a TTL per entry. */
export function createMemoryCache(options: { maxEntries?: number; now?: () => number } = {}): KeyValueCache {
  const entries = new LRUCache<string, string>({
    max: Math.max(1, options.maxEntries ?? 10_000),
    // Every set passes its own TTL; this default only satisfies lru-cache's "ttl needs a bound" check.
    ttl: 300_000,
    // A hand-moved clock must be read on every check, not cached for ttlResolution.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
  return {
    kind: 'memory',
    async get(key) {
      return entries.get(key) ?? null;
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, value, { ttl: Math.max(1, ttlSeconds * 1000) });
    },
    async setIfNewer(key, version, value, ttlSeconds) {
      const current = decodeVersioned(entries.get(key) ?? null);
      if (current && current.version > version) return false;
      entries.set(key, `${version}|${value}`, { ttl: Math.max(1, ttlSeconds * 1000) });
      return true;
    },
    async del(...keys) {
      for (const key of keys) entries.delete(key);
    },
    async close() {
      entries.clear();
    },
  };
}
