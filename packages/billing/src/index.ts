// Public API of @packages/billing. Everything a host application needs is exported here;
// deep imports into src/ are not part of the contract.

export * from './core/errors.js';
export * from './core/error-codes.js';
export type {
  FeatureValue,
  FeatureMap,
  FeatureDefinition,
  FeatureCatalog,
  MergeStrategy,
  AuditSourceName,
  PlanDefaults,
} from './core/types.js';

// Stripe → plan metadata
export {
  parseProductMetadata,
  parsePriceMetadata,
  resolvePlanDefaults,
  validateFeatureMap,
  buildProductMetadata,
  buildPriceMetadata,
} from './io/metadata/index.js';
export {
  DEFAULT_FEATURE_CATALOG,
  FEATURE_KEY_PATTERN,
  MAX_FEATURE_KEY_LENGTH,
  createFeatureCatalog,
  featureKeyProblem,
  isValidFeatureKey,
  loadFeatureCatalog,
} from './io/catalog/index.js';
export {
  mergePlanIntoTenant,
  restrictFeatures,
  diffFeatures,
  featuresEqual,
  DEFAULT_GRACE_PERIOD_DAYS,
  graceExpired,
  type TenantFeatureState,
} from './core/index.js';
export {
  PLAN_SOURCES,
  ENTITLEMENT_VALUE_KEY,
  featuresFromEntitlements,
  type PlanSource,
  type EntitlementFeatureLike,
} from './io/plan-source/index.js';

// Services
export {
  createStripeSyncService,
  createTokenBucket,
  createRedisTokenBucket,
  withStripePriority,
  type StripePriority,
  type TokenBucket,
  type StripeSyncService,
  type StripeSyncOptions,
  type PlanStatistics,
} from './io/stripe-sync/index.js';
export {
  createFeatureSyncService,
  type FeatureSyncService,
  type FeatureSyncOptions,
  type ApplyPlanDefaultsOptions,
  type ApplyPlanResult,
  type SyncAllOptions,
  type SyncResult,
  type SyncSummary,
  createSyncRuns,
  type SyncRuns,
  type SyncRunsOptions,
  type SyncRunRequest,
  type SyncRunPage,
  type FinishedSyncRun,
} from './flows/feature-sync/index.js';
export type { SyncRunRecord, SyncRunStatus } from './io/sync-runs/store.js';
export {
  createCustomPlanService,
  type CustomPlanService,
  type CreateCustomPlanInput,
  type CustomPlanResult,
} from './flows/custom-plans/index.js';
export * from './flows/webhooks/index.js';
export {
  LISTED_RECONCILE_RESULTS,
  reconcileTenants,
  type ReconcileResult,
  type ReconcileOptions,
  type ReconcileVerdict,
} from './flows/reconcile/index.js';

// Metered features: usage counted against the tenants' limits (docs/usage.md)
export * from './flows/usage/index.js';
export {
  USAGE_OVERAGE_POLICIES,
  USAGE_RESETS,
  type UsageOveragePolicy,
  type UsageReset,
  type UsageRules,
} from './core/index.js';

// Feature resolution and caching
export {
  createFeatureReader,
  uncachedFeatureReader,
  type FeatureReader,
  type TenantFeatures,
} from './io/feature-cache/index.js';
export {
  createCacheFromEnv,
  createMemoryCache,
  createRedisCache,
  type KeyValueCache,
} from './io/cache/index.js';
export { updateTenantFeatures, inTransaction, type UpdateOutcome } from './io/tenant-store/index.js';

// Typed feature keys (augmented by the file `generate-feature-types` writes) and limit checks
export type {
  FeatureKeyTypes,
  FeatureKey,
  NumericFeatureKey,
  MeteredFeatureKeyTypes,
  MeteredFeatureKey,
  CheckedKey,
  FeatureChecks,
  LimitCheck,
} from './io/feature-keys.js';

// What every host adapter shares, and the web-standard one (no framework types). The Express and
// Fastify adapters are at '@packages/billing/express' and '/fastify', so importing the core
// loads no HTTP framework and its declarations name none.
export {
  answerWebhook,
  answerFeatureRead,
  answerFeatureGuard,
  type AdapterLogger,
  type HostAdapterOptions,
  type HttpAnswer,
  type TenantResolver,
} from './entry/adapters/core.js';
export { createFeatureChecks, type TenantFeatureSource } from './flows/features/checks.js';
export {
  createWebAdapter,
  type WebAdapter,
  type WebAdapterOptions,
  type WebHandler,
} from './entry/adapters/web.js';

// OpenFeature: OFREP endpoints (also in the adapters and our server) and the flag evaluation they
// share. The server provider, which loads @openfeature/server-sdk, is '@packages/billing/openfeature'.
export * from './entry/openfeature/http.js';

// Why a tenant has a value (now or at a past instant), from its config and the audit log
export * from './flows/explain/index.js';

// What a plan edit would do to its tenants, before it is made (nothing written)
export * from './flows/preview/index.js';

// Metrics: an injected interface, and its Prometheus implementation
export * from './io/metrics/index.js';

// Admin API tokens and the one HTTP error shape (the Fastify server itself is at '@packages/billing/server')
export { errorResponse, HttpError, type ApiErrorBody } from './io/http/error-response.js';
export {
  createApiToken,
  revokeApiToken,
  hashToken,
  parseAdminTokens,
  type AuthConfig,
} from './io/http/auth.js';

// Managing tenants, overrides and the feature catalog (also over the admin API and the CLI)
export * from './flows/management/index.js';
export { databaseCatalog, type CatalogSource } from './io/catalog/registry.js';
export { createBillingContext, type BillingContext, type BillingContextOptions } from './entry/context.js';
export { lazyBillingContext, type LazyBillingContext } from './entry/lazy-context.js';

// The database: opened from DATABASE_URL / DATABASE_SCHEMA (else an embedded PGlite), our migrations
// and their runner, and the generated Prisma client (built and shipped; no `prisma generate`).
export {
  openDatabase,
  migrate,
  readMigrations,
  MigrationChecksumError,
  MIGRATIONS_DIR,
  DEFAULT_SCHEMA,
  DatabaseConfigError,
  resolveDatabaseTarget,
  createPrismaClient,
  PrismaClient,
  Prisma,
  type Database,
  type OpenDatabaseOptions,
  type MigrationResult,
  type DatabaseTarget,
  type PrismaHandle,
} from '@packages/db';
