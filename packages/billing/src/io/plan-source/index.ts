export {
  DEFAULT_PLAN_SOURCE,
  PLAN_SOURCES,
  isPlanSource,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type PlanSource,
} from './source.js';
export {
  ENTITLEMENT_VALUE_KEY,
  LOOKUP_KEY_TAG_SEPARATOR,
  featureKeyOfLookupKey,
  entitlementFeatureValue,
  featuresFromEntitlements,
  type EntitlementFeatureLike,
} from './entitlement-features.js';
