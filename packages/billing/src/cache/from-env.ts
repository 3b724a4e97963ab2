import type { KeyValueCache } from './key-value-cache.js';
import { createMemoryCache } from './memory-cache.js';
import { createRedisCache, type RedisCacheOptions } from './redis-cache.js';

/** Redis when REDIS_URL is set, in-memory otherwise. */
export function createCacheFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: RedisCacheOptions = {},
): KeyValueCache {
  return env.REDIS_URL ? createRedisCache(env.REDIS_URL, options) : createMemoryCache();
}
