import { decodeVersioned, type KeyValueCache } from './key-value-cache.js';

export function createMemoryCache(options: { maxEntries?: number; now?: () => number } = {}): KeyValueCache {
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: string; expiresAt: number }>();
  return {
    kind: 'memory',
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return null;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return null;
      }
      // Re-insert so Map order tracks recency and eviction drops the least recently used.
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    async set(key, value, ttlSeconds) {
      entries.delete(key);
      entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
    },
    async setIfNewer(key, version, value, ttlSeconds) {
      const current = decodeVersioned(await this.get(key));
      if (current && current.version > version) return false;
      await this.set(key, `${version}|${value}`, ttlSeconds);
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
