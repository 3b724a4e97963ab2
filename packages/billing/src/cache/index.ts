import { Redis } from 'ioredis';

/**
 * The small key/value surface the library needs from a cache. Redis when REDIS_URL is set,
 * an in-process LRU otherwise; both expire entries so a missed invalidation heals itself.
 */
export interface KeyValueCache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Stores `value` unless the entry already holds a higher version. Writers publish each committed
   * version and readers fill misses with what they read; the version check keeps a slow reader's
   * older read from overwriting a newer write.
   */
  setIfNewer(key: string, version: number, value: string, ttlSeconds: number): Promise<boolean>;
  del(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Entries written by setIfNewer are stored as "<version>|<value>". */
export function decodeVersioned(raw: string | null): { version: number; value: string } | null {
  if (raw === null) return null;
  const bar = raw.indexOf('|');
  if (bar < 0) return null;
  const version = Number(raw.slice(0, bar));
  return Number.isFinite(version) ? { version, value: raw.slice(bar + 1) } : null;
}

const SET_IF_NEWER_LUA = `
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(%-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1`;

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

export interface RedisCacheOptions {
  keyPrefix?: string;
  /** How long a command may wait for Redis before failing (callers fall back to the database). */
  commandTimeoutMs?: number;
}

export function createRedisCache(url: string, options: RedisCacheOptions = {}): KeyValueCache {
  const redis = new Redis(url, {
    keyPrefix: options.keyPrefix ?? 'entitlements:',
    // Commands wait for the connection at most commandTimeout, so a feature read never hangs on a dead cache.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface on the commands; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  return {
    kind: 'redis',
    async get(key) {
      return redis.get(key);
    },
    async set(key, value, ttlSeconds) {
      await redis.set(key, value, 'EX', Math.max(1, Math.round(ttlSeconds)));
    },
    async setIfNewer(key, version, value, ttlSeconds) {
      const result = await redis.eval(
        SET_IF_NEWER_LUA,
        1,
        key,
        String(version),
        value,
        String(Math.max(1, Math.round(ttlSeconds))),
      );
      return result === 1;
    },
    async del(...keys) {
      if (keys.length > 0) await redis.del(...keys);
    },
    async close() {
      redis.disconnect();
    },
  };
}

/** Redis when REDIS_URL is set, in-memory otherwise. */
export function createCacheFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: RedisCacheOptions = {},
): KeyValueCache {
  return env.REDIS_URL ? createRedisCache(env.REDIS_URL, options) : createMemoryCache();
}
