export {
  type TenantFeatures,
  type FeatureReaderStats,
  type FeatureReader,
  type FeatureReaderOptions,
  toTenantFeatures,
  createFeatureReader,
} from './feature-reader.js';
export { readTenantWithFeatures, readTenantsWithFeatures, type TenantWithFeatures } from './tenant-read.js';
