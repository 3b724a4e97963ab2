export {
  type TenantFeatures,
  type FeatureReaderStats,
  type FeatureReader,
  type FeatureReaderOptions,
  toTenantFeatures,
  createFeatureReader,
} from './feature-reader.js';
export { readTenantWithFeatures, type TenantWithFeatures } from './tenant-read.js';
