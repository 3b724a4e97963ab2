export {
  decodeVersioned,
  type CacheBus,
  type KeyValueCache,
  type VersionedEntry,
} from './key-value-cache.js';
export { createNoCache } from './no-cache.js';
export { createMemoryCache, DEFAULT_CACHE_MEMORY_MB, type MemoryCacheOptions } from './memory-cache.js';
export { createRedisCache, type RedisCacheOptions } from './redis-cache.js';
export { createCacheFromEnv } from './from-env.js';
export { createTtlCache, type TtlCache, type TtlCacheOptions } from './lru.js';
export { createCircuitBreaker, type CircuitBreaker, type CircuitBreakerOptions } from './breaker.js';
