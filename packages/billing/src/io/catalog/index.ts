export {
  COMBINE_RULES,
  combineProblem,
  createFeatureCatalog,
  MAX_OVER_LIMIT_GRACE_DAYS,
  overLimitGraceDays,
  overLimitProblem,
  DEFAULT_FEATURE_CATALOG,
  FEATURE_KEY_PATTERN,
  featureKeyProblem,
  isValidFeatureKey,
  MAX_FEATURE_KEY_LENGTH,
} from './feature-catalog.js';
export { loadFeatureCatalog } from './load.js';
