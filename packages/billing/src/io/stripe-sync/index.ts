export { mapStripeError, isRetryable, retryAfterMs } from './errors.js';
export { createTokenBucket, type TokenBucket, type TokenBucketOptions } from './limiter.js';
export {
  connectSharedStripeLimiter,
  createRedisTokenBucket,
  type RedisTokenBucketOptions,
  type SharedLimiterOptions,
} from './redis-limiter.js';
export { currentStripePriority, withStripePriority, type StripePriority } from './priority.js';
export { createTtlCache, type TtlCache } from '../cache/lru.js';
export { createSingleFlight } from './single-flight.js';
export { listAll, forEachPage } from './list-pages.js';
export { type StripePlanDefaults } from './plans.js';
export {
  listByCreatedRanges,
  type CreatedRange,
  type CreatedRangeWalkOptions,
  type RangePageParams,
} from './created-ranges.js';
export type { StripeSyncStats, StripeCall } from './client.js';
export {
  compareSubscriptions,
  chooseSubscription,
  planItem,
  type ActiveSubscription,
  type GrantingSubscription,
  type SubscriptionState,
  type CustomerSubscriptionEntry,
} from './subscriptions.js';
export {
  type StripeSyncOptions,
  type PlanStatistics,
  type StripeSyncService,
  createStripeSyncService,
} from './service.js';
export { readSubscriptionTruth, type TruthReader } from './subscription-truth.js';
