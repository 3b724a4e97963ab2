export {
  type FeatureReaderStats,
  type FeatureReader,
  type FeatureReaderOptions,
  createFeatureReader,
} from './feature-reader.js';
export {
  type TenantFeatures,
  type FeatureChange,
  type FeatureChangeListener,
  toTenantFeatures,
} from './tenant-features.js';
export { readTenantWithFeatures, readTenantsWithFeatures, type TenantWithFeatures } from './tenant-read.js';
export { uncachedFeatureReader } from './uncached.js';
