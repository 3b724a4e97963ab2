export {
  PrismaClient,
  createPrismaClient,
  DEFAULT_DATABASE_TIMEOUTS,
  QUERY_TIMEOUT_MARGIN_MS,
  type DatabaseTimeouts,
  type PrismaHandle,
  type QueryStats,
} from './client.js';
export {
  openDatabase,
  createIsolatedDatabase,
  dropSchema,
  type Database,
  type OpenDatabaseOptions,
} from './database.js';
export {
  DatabaseConfigError,
  DEFAULT_SCHEMA,
  SCHEMA_NAME_PATTERN,
  checkSchemaName,
  parseDatabaseUrl,
  resolveDatabaseTarget,
  type DatabaseTarget,
} from './target.js';
export {
  startEmbeddedPostgres,
  writeEmbeddedTemplate,
  EMBEDDED_TEMPLATE_VARIABLE,
  type EmbeddedPostgres,
  type StartEmbeddedOptions,
} from './embedded.js';
export {
  migrate,
  migrationStatus,
  readMigrations,
  MigrationChecksumError,
  DatabaseConnectError,
  MIGRATIONS_DIR,
  type MigrationResult,
  type MigrationStatus,
} from './migrate.js';
export { Prisma } from './generated/prisma/client.js';
export type {
  Tenant,
  TenantFeatureConfig,
  FeatureAuditLog,
  ProcessedStripeEvent,
  CustomPlan,
  FeatureCatalog as FeatureCatalogRow,
  ApiToken,
} from './generated/prisma/client.js';
export { FeatureSource, AuditSource, FeatureType, EventStatus } from './generated/prisma/enums.js';
