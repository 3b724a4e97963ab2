import { Redis } from 'ioredis';
import type { KeyValueCache } from './key-value-cache.js';
import { createMemoryCache } from './memory-cache.js';

const SET_IF_NEWER_LUA = `
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(%-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1`;

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
