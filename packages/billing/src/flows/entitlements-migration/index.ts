export {
  lookupKeyFor,
  planEntitlementMigration,
  type MigrationAction,
  type MigrationPlan,
  type MigrationProblem,
  type MigrationProduct,
} from './plan.js';
export {
  migrateMetadataToEntitlements,
  type EntitlementMigrationDeps,
  type EntitlementMigrationOptions,
  type EntitlementMigrationResult,
} from './migrate.js';
