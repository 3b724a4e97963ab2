export {
  type TenantFeatures,
  type FeatureReaderStats,
  type FeatureReader,
  type FeatureReaderOptions,
  toTenantFeatures,
  createFeatureReader,
} from './feature-reader.js';
