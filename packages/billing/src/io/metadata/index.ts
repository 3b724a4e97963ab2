export { parseProductMetadata } from './product.js';
export { parsePriceMetadata } from './price.js';
export {
  resolvePlanDefaults,
  type PriceLike,
  type ProductFeatureSources,
  type ProductLike,
} from './resolve.js';
export { validateFeatureMap } from './validate.js';
export {
  buildPriceMetadata,
  buildProductMetadata,
  type PriceMetadataInput,
  type ProductMetadataInput,
} from './build.js';
export { MAX_FEATURE_NUMBER } from './values.js';
export {
  MAX_SCRAPE_INTERVAL_HOURS,
  PRICE_METADATA_KEYS,
  PRODUCT_METADATA_KEYS,
  STRIPE_METADATA_LIMITS,
  type MetadataObjectType,
  type PricePlanMetadata,
  type ProductPlanMetadata,
  type StripeObjectLike,
} from './types.js';
export {
  combineFeatureMaps,
  combineRuleOf,
  combineSubscriptions,
  itemFeatures,
  parsePlanUnits,
  pickPlanItem,
  type CombinedPlan,
  type ItemGrant,
  type PlanUnits,
  type SubscriptionGrants,
} from './combine.js';
