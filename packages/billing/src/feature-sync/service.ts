import type { PrismaClient } from '@packages/db';
import { createMemoryCache, type KeyValueCache } from '../cache/index.js';
import { createFeatureReader, type FeatureReader, type TenantFeatures } from '../feature-cache/index.js';
import type { StripeSyncService } from '../stripe-sync/index.js';
import type { FeatureCatalog } from '../types.js';
import { createPlanApplier, type ApplyPlanDefaultsOptions, type ApplyPlanResult } from './apply.js';
import { createBulkSync, type SyncAllOptions, type SyncResult, type SyncSummary } from './sync-all.js';

export interface FeatureSyncOptions {
  /** Backing store of the default FeatureReader (in-memory when omitted). */
  cache?: KeyValueCache;
  /** Client the default FeatureReader reads through (a read pool, e.g. `db.readPrisma`); defaults to `prisma`. */
  readPrisma?: PrismaClient;
  /** Use this reader (and its cache) instead of building one. */
  featureReader?: FeatureReader;
  cacheNamespace?: string;
  /**
   * Write statements syncAllTenantsFromStripe keeps in flight at once (default 2); each writes a
   * batch of `batchSize` tenants (default 500) in one statement.
   */
  concurrency?: number;
  batchSize?: number;
  /**
   * When set (e.g. loadFeatureCatalog(prisma)), plan features are re-checked against it before
   * being written, so a key removed from the database catalog is never granted from Stripe.
   */
  catalog?: FeatureCatalog;
}

export interface FeatureSyncService {
  applyPlanDefaultsToTenant(
    tenantId: string,
    planId: string,
    options?: ApplyPlanDefaultsOptions,
  ): Promise<ApplyPlanResult>;
  applyPlanDefaultsToTenantOrThrow(
    tenantId: string,
    planId: string,
    options?: ApplyPlanDefaultsOptions,
  ): Promise<ApplyPlanResult>;
  syncAllTenantsFromStripe(
    options?: SyncAllOptions,
  ): Promise<{ results: SyncResult[]; summary: SyncSummary }>;
  getTenantFeatures(tenantId: string): Promise<TenantFeatures | null>;
  isFeatureEnabled(tenantId: string, key: string): Promise<boolean>;
  readonly reader: FeatureReader;
  readonly stripeSync: StripeSyncService;
}

export function createFeatureSyncService(
  prisma: PrismaClient,
  stripeSync: StripeSyncService,
  options: FeatureSyncOptions = {},
): FeatureSyncService {
  const reader =
    options.featureReader ??
    createFeatureReader(options.readPrisma ?? prisma, options.cache ?? createMemoryCache(), {
      namespace: options.cacheNamespace,
    });
  const applier = createPlanApplier({ prisma, stripeSync, reader, catalog: options.catalog });
  const syncAll = createBulkSync({
    prisma,
    stripeSync,
    reader,
    concurrency: options.concurrency ?? 2,
    batchSize: options.batchSize,
    catalog: options.catalog,
  });
  return {
    applyPlanDefaultsToTenant: applier.applyPlanDefaultsToTenant,
    applyPlanDefaultsToTenantOrThrow: applier.applyPlanDefaultsToTenantOrThrow,
    syncAllTenantsFromStripe: syncAll,
    getTenantFeatures: (tenantId) => reader.getTenantFeatures(tenantId),
    isFeatureEnabled: (tenantId, key) => reader.isFeatureEnabled(tenantId, key),
    reader,
    stripeSync,
  };
}
