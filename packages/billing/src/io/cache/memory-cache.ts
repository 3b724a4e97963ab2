import { LRUCache } from 'lru-cache';
import { decodeVersioned, type KeyValueCache } from './key-value-cache.js';

/** The in-process caches' default memory budget, in MiB (FEATURE_CACHE_MEMORY_MB). */
export const DEFAULT_CACHE_MEMORY_MB = 128;

export interface MemoryCacheOptions {
  /** Memory budget in bytes (estimated per entry); least recently used entries go first. Default 128 MiB. */
  maxBytes?: number;
  /** An additional bound on the number of entries (none by default: the byte budget decides). */
  maxEntries?: number;
  now?: () => number;
}

interface Stored {
  raw: string;
  /** What the last `getDecoded` made of `raw`, kept so a hit does not parse again. */
  decoded?: { by: (raw: string) => unknown; value: unknown };
}

/**
 * What an entry costs on the heap, roughly: the string (V8 keeps a string of Latin-1 characters at
 * one byte a character, any other at two), the parsed value a reader keeps beside it at about twice
 * the string, and the LRU's bookkeeping. Measured for a typical tenant's features (a 201-character
 * entry): 678 B on the heap, 799 B estimated (bench/lookups-scale.ts prints both); it errs high.
 */
const storedBytes = (key: string, raw: string) =>
  3 * (ONE_BYTE.test(raw) ? 1 : 2) * raw.length + 2 * key.length + 160;
// eslint-disable-next-line no-control-regex -- every Latin-1 character, control characters included
const ONE_BYTE = /^[\u0000-\u00ff]*$/;

/** The cache of a single process (no REDIS_URL): lru-cache with a TTL per entry, sized by memory. */
export function createMemoryCache(options: MemoryCacheOptions = {}): KeyValueCache {
  const evictionListeners: Array<(count: number) => void> = [];
  const entries = new LRUCache<string, Stored>({
    maxSize: Math.max(1024, options.maxBytes ?? DEFAULT_CACHE_MEMORY_MB * 1024 * 1024),
    sizeCalculation: (value, key) => storedBytes(key, value.raw),
    ...(options.maxEntries !== undefined ? { max: Math.max(1, options.maxEntries) } : {}),
    // Every set passes its own TTL; this default only satisfies lru-cache's "ttl needs a bound" check.
    ttl: 300_000,
    // A hand-moved clock must be read on every check, not cached for ttlResolution.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    dispose: (_value, _key, reason) => {
      if (reason === 'evict') for (const listener of evictionListeners) listener(1);
    },
  });
  const put = (key: string, raw: string, ttlSeconds: number) =>
    entries.set(key, { raw }, { ttl: Math.max(1, ttlSeconds * 1000) });
  const setIfNewer = (key: string, version: number, value: string, ttlSeconds: number) => {
    const current = decodeVersioned(entries.get(key)?.raw ?? null);
    if (current && current.version > version) return false;
    put(key, `${version}|${value}`, ttlSeconds);
    return true;
  };
  return {
    kind: 'memory',
    async get(key) {
      return entries.get(key)?.raw ?? null;
    },
    async getDecoded<T>(key: string, decode: (raw: string) => T): Promise<T | null> {
      const stored = entries.get(key);
      if (!stored) return null;
      if (stored.decoded?.by !== decode) stored.decoded = { by: decode, value: decode(stored.raw) };
      return stored.decoded.value as T;
    },
    async set(key, value, ttlSeconds) {
      put(key, value, ttlSeconds);
    },
    async setIfNewer(key, version, value, ttlSeconds) {
      return setIfNewer(key, version, value, ttlSeconds);
    },
    async setManyIfNewer(batch, ttlSeconds) {
      return batch.map((e) => setIfNewer(e.key, e.version, e.value, ttlSeconds));
    },
    async del(...keys) {
      for (const key of keys) entries.delete(key);
    },
    onEvict(listener) {
      evictionListeners.push(listener);
    },
    size: () => ({ entries: entries.size, bytes: entries.calculatedSize }),
    async close() {
      entries.clear();
    },
  };
}
