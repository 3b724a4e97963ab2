export { decodeVersioned, type KeyValueCache } from './key-value-cache.js';
export { createMemoryCache } from './memory-cache.js';
export { createCacheFromEnv, createRedisCache, type RedisCacheOptions } from './redis-cache.js';
