export type { ManagementOptions, TenantManagementOptions } from './common.js';
export {
  addFeature,
  describeFeature,
  deprecateFeature,
  listFeatures,
  setFeatureUsage,
  MAX_FEATURE_DESCRIPTION_LENGTH,
  setFeatureRules,
  type AddFeatureInput,
  type FeatureRules,
  type CatalogEntry,
} from './catalog.js';
export { listTenantsOptions, type TenantListFilter } from './list-filter.js';
export { setFeatureOverride, clearFeatureOverride, type OverrideResult } from './overrides.js';
export {
  createTenant,
  getTenant,
  renameTenant,
  linkStripeCustomer,
  unlinkStripeCustomer,
  deleteTenant,
  listTenants,
  LIST_TENANTS_MAX_LIMIT,
  TENANT_ID_PATTERN,
  type ListTenantsOptions,
  type TenantSummary,
} from './tenants.js';
