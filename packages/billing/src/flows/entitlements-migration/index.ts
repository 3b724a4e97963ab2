export {
  lookupKeyFor,
  planEntitlementMigration,
  type MigrationAction,
  type MigrationPlan,
  type MigrationProblem,
  type MigrationProduct,
} from './plan.js';
export {
  LISTED_MIGRATION_RESULTS,
  migrateMetadataToEntitlements,
  type EntitlementMigrationDeps,
  type EntitlementMigrationOptions,
  type EntitlementMigrationResult,
} from './migrate.js';
