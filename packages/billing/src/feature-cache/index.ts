export {
  type TenantFeatures,
  type FeatureReaderStats,
  type FeatureReader,
  type FeatureReaderOptions,
  type FeatureChange,
  type FeatureChangeListener,
  toTenantFeatures,
  createFeatureReader,
} from './feature-reader.js';
export { readTenantWithFeatures, readTenantsWithFeatures, type TenantWithFeatures } from './tenant-read.js';
export { uncachedFeatureReader } from './uncached.js';
