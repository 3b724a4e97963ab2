import type { PrismaClient } from '@packages/db';
import { createMemoryCache, type KeyValueCache } from '../../io/cache/index.js';
import {
  createFeatureReader,
  uncachedFeatureReader,
  type FeatureReader,
  type TenantFeatures,
} from '../../io/feature-cache/index.js';
import { withStripePriority, type StripeSyncService } from '../../io/stripe-sync/index.js';
import { databaseCatalog, isCatalogSource, type CatalogSource } from '../../io/catalog/registry.js';
import type { FeatureChecks } from '../../io/feature-keys.js';
import { createFeatureChecks } from '../features/checks.js';
import { createOverLimitTracker } from '../features/over-limit.js';
import { noopMetrics, type BillingMetrics } from '../../io/metrics/index.js';
import type { FeatureCatalog } from '../../core/types.js';
import { createPlanApplier, type ApplyPlanDefaultsOptions, type ApplyPlanResult } from './apply.js';
import { createBulkSync, type SyncAllOptions, type SyncResult, type SyncSummary } from './sync-all.js';

import { sqlThroughPool, type SqlPool } from '../../io/sql-runner.js';

export interface FeatureSyncOptions {
  /** Backing store of the default FeatureReader (in-memory when omitted). */
  cache?: KeyValueCache;
  /** Client the default FeatureReader reads through (a read pool, e.g. `db.readPrisma`); defaults to `prisma`. */
  readPrisma?: PrismaClient;
  /** Use this reader (and its cache) instead of building one. */
  featureReader?: FeatureReader;
  cacheNamespace?: string;
  /** Memory budget of the default reader's in-process tier in bytes (FeatureReaderOptions.localMaxBytes). */
  cacheMemoryBytes?: number;
  /**
   * Write statements syncAllTenantsFromStripe keeps in flight at once (default 3); each writes a
   * batch of `batchSize` tenants (default 500) in one statement.
   */
  concurrency?: number;
  batchSize?: number;
  /**
   * New tenants (no config yet) whose first result a streaming full sync holds until its walk ends
   * (default 1,000 at once; see createBulkSync): a later page may complete their customer.
   */
  holdNewTenants?: number;
  /**
   * The pg pool behind `prisma` (`db.pool`): the bulk sync's write statements go straight through it,
   * skipping Prisma's per-query work, which grows with the size of their parameters (500 tenants'
   * configs each). Without it they go through `prisma`.
   */
  pool?: SqlPool;
  /**
   * What plan features are checked against before being written. Default: the database's catalog
   * (`databaseCatalog(prisma)`, shared per database and re-read when it lacks a key), read through
   * `stripeSync.withCatalog`, so a key unknown to the database is never granted from Stripe.
   * A fixed catalog is checked after the plan is read instead.
   */
  catalog?: FeatureCatalog | CatalogSource;
  /** Sync runs and tenants changed; also the default reader's cache hits and misses. */
  metrics?: BillingMetrics;
}

/** isFeatureEnabled, getLimit and checkLimit come from FeatureChecks: typed keys, one cached reader. */
export interface FeatureSyncService extends FeatureChecks {
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
  readonly reader: FeatureReader;
  readonly stripeSync: StripeSyncService;
}

export function createFeatureSyncService(
  prisma: PrismaClient,
  stripeSync: StripeSyncService,
  options: FeatureSyncOptions = {},
): FeatureSyncService {
  // Without a cache or reader of its own, an uncached one: services built apart on one database (the
  // spec's argument lists) then read each other's committed writes at once.
  const reader =
    options.featureReader ??
    (options.cache || options.cacheNamespace
      ? createFeatureReader(options.readPrisma ?? prisma, options.cache ?? createMemoryCache(), {
          namespace: options.cacheNamespace,
          metrics: options.metrics,
          localMaxBytes: options.cacheMemoryBytes,
        })
      : uncachedFeatureReader(prisma));
  const source = options.catalog === undefined ? databaseCatalog(prisma) : options.catalog;
  const fixed = isCatalogSource(source) ? undefined : source;
  // Plans are read against the database's catalog (a reader built without one accepts any key).
  // A reader already bound to it is used as given, so a caller's wrapper around it stays in place.
  if (
    isCatalogSource(source) &&
    stripeSync.catalog !== source &&
    typeof stripeSync.withCatalog === 'function'
  ) {
    stripeSync = stripeSync.withCatalog(source);
    // Loaded now, before any caller's transaction could be waiting on it.
    source.current().catch(() => {});
  }
  const checks = createFeatureChecks(reader, createOverLimitTracker(prisma, source));
  const metrics = options.metrics ?? noopMetrics;
  const applier = createPlanApplier({ prisma, stripeSync, reader, catalog: fixed });
  const syncAll = createBulkSync({
    prisma,
    stripeSync,
    reader,
    concurrency: options.concurrency ?? 3,
    batchSize: options.batchSize,
    holdNewTenants: options.holdNewTenants,
    ...(options.pool ? { sql: sqlThroughPool(options.pool) } : {}),
    catalog: fixed,
  });
  return {
    applyPlanDefaultsToTenant: applier.applyPlanDefaultsToTenant,
    applyPlanDefaultsToTenantOrThrow: applier.applyPlanDefaultsToTenantOrThrow,
    async syncAllTenantsFromStripe(syncOptions) {
      // Every tenant's Stripe reads: webhook work goes first when the shared Stripe budget is short.
      const run = await withStripePriority('low', () => syncAll(syncOptions));
      if (!syncOptions?.dryRun) {
        const { summary } = run;
        metrics.syncRun({
          tenantsChanged: summary.updated,
          failed: summary.failed.length,
          aborted: summary.aborted,
          durationMs: summary.durationMs,
        });
      }
      return run;
    },
    getTenantFeatures: (tenantId) => reader.getTenantFeatures(tenantId),
    isFeatureEnabled: (tenantId: string, key: string) => reader.isFeatureEnabled(tenantId, key),
    getLimit: checks.getLimit,
    checkLimit: checks.checkLimit,
    reader,
    stripeSync,
  };
}
