export {
  createFeatureCatalog,
  DEFAULT_FEATURE_CATALOG,
  FEATURE_KEY_PATTERN,
  featureKeyProblem,
  isValidFeatureKey,
  MAX_FEATURE_KEY_LENGTH,
} from './feature-catalog.js';
export { loadFeatureCatalog } from './load.js';
