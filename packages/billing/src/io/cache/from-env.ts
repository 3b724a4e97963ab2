import type { KeyValueCache } from './key-value-cache.js';
import { createMemoryCache } from './memory-cache.js';
import { createRedisCache, type RedisCacheOptions } from './redis-cache.js';

/** Redis when REDIS_URL is set, in-memory (within `memoryBytes`, default 128 MiB) otherwise. */
export function createCacheFromEnv(
  env: { REDIS_URL?: string },
  options: RedisCacheOptions & { memoryBytes?: number } = {},
): KeyValueCache {
  const { memoryBytes, ...redis } = options;
  return env.REDIS_URL
    ? createRedisCache(env.REDIS_URL, redis)
    : createMemoryCache({ maxBytes: memoryBytes });
}
