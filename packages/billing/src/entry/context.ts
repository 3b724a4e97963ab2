import Stripe from 'stripe';
import { openDatabase, type Database, type PrismaClient } from '@packages/db';
import { createCacheFromEnv, type KeyValueCache } from '../io/cache/index.js';
import { databaseCatalog, type CatalogSource } from '../io/catalog/registry.js';
import { createCustomPlanService, type CustomPlanService } from '../flows/custom-plans/index.js';
import {
  databaseTimeouts,
  parseBillingConfig,
  parseStorageConfig,
  type BillingConfig,
  type ConfigRequirements,
} from '../io/config.js';
import { createFeatureReader, type FeatureReader } from '../io/feature-cache/index.js';
import {
  createFeatureSyncService,
  createSyncRuns,
  type FeatureSyncService,
  type SyncRuns,
} from '../flows/feature-sync/index.js';
import { sqlThroughPool, sqlThroughPrisma } from '../io/sql-runner.js';
import { createPrometheusMetrics, type BillingMetrics, type PrometheusMetrics } from '../io/metrics/index.js';
import type { AuthConfig } from '../io/http/auth.js';
import { watchApiTokens, type KnownTokenHashes } from '../io/http/known-tokens.js';
import { type PlanSource } from '../io/plan-source/index.js';
import {
  connectSharedStripeLimiter,
  createStripeSyncService,
  createTokenBucket,
  type StripeSyncService,
} from '../io/stripe-sync/index.js';
import type { FeatureCatalog } from '../core/types.js';
import {
  createUsageAlertDispatcher,
  createUsageMeterReporter,
  createUsageService,
  type UsageAlertDispatcher,
  type UsageMeterReporter,
  type UsageService,
} from '../flows/usage/index.js';
import {
  createStripeWebhookHandler,
  inboxStats,
  type StripeWebhookHandler,
  type StripeWebhookHandlerOptions,
  type StripeWebhookPipeline,
} from '../flows/webhooks/index.js';

export interface BillingContextOptions {
  env?: NodeJS.ProcessEnv;
  /** Already parsed configuration (parseBillingConfig); `env` is then not read. */
  config?: BillingConfig;
  /** Overrides DATABASE_URL (unset both for the embedded database). */
  databaseUrl?: string;
  /** Use this client instead of building one from STRIPE_SECRET_KEY / STRIPE_API_BASE. */
  stripe?: Stripe;
  /** Use this (already migrated) database instead of opening one; it stays open on close(). */
  database?: Database;
  /**
   * The HTTP server cannot work without STRIPE_WEBHOOK_SECRET, but the CLI and the demo never
   * receive webhooks, so only the server asks for it to be mandatory (default false).
   */
  requireWebhookSecret?: boolean;
  webhookOptions?: StripeWebhookHandlerOptions;
  /** Where plan features come from; overrides PLAN_SOURCE (default `metadata`). */
  planSource?: PlanSource;
  /** Prefix of the feature-cache keys (default `features`); give each database its own when they share a Redis. */
  cacheNamespace?: string;
  /** Use this Prometheus registry wrapper (e.g. one the host also registers its own metrics in). */
  prometheus?: PrometheusMetrics;
}

export interface BillingContext {
  env: BillingEnv;
  db: Database;
  prisma: PrismaClient;
  /** The read pool (`db.readPrisma`): feature lookups and admin reads, never queued behind writes. */
  readPrisma: PrismaClient;
  stripe: Stripe;
  cache: KeyValueCache;
  /** The catalog as read at start; the services re-read the table (databaseCatalog) as it changes. */
  catalog: FeatureCatalog;
  stripeSync: StripeSyncService;
  featureSync: FeatureSyncService;
  /**
   * Bulk sync runs recorded in `sync_runs` (POST /api/admin/sync): any instance answers for a run,
   * one full sync at a time across them. close() aborts this process's runs and records them.
   */
  syncRuns: SyncRuns;
  /** Without STRIPE_WEBHOOK_SECRET every call fails with a configuration error (HTTP 500). */
  webhookHandler: StripeWebhookHandler;
  /**
   * The webhook inbox: what workers (`startWebhookWorkers`, `npm run worker`) and the admin API use.
   * Processing needs no webhook secret; accepting through it without one fails verification.
   */
  webhooks: StripeWebhookPipeline;
  customPlans: CustomPlanService;
  /** Metered features: usage counted against the tenants' limits (docs/usage.md). */
  usage: UsageService;
  /** With USAGE_WEBHOOK_URL: the alert outbox's deliverer (`npm start` and `npm run worker` start it). */
  usageAlerts?: UsageAlertDispatcher;
  /**
   * Reports the usage of keys with `usage.stripeMeter` to Stripe as meter events (`npm start` and
   * `npm run worker` start it; a round without such keys costs no query).
   */
  usageMeters: UsageMeterReporter;
  auth: AuthConfig;
  /** CONSOLE_SESSION_SECRET; the admin console is disabled (503) without it. */
  consoleSecret?: string;
  /** PAYMENT_GRACE_PERIOD_DAYS, when set. */
  gracePeriodDays?: number;
  /** What every service reports to; backed by `prometheus`. */
  metrics: BillingMetrics;
  /** The registry `GET /metrics` serves; a host mounting the adapters can serve or scrape it too. */
  prometheus: PrometheusMetrics;
  close(): Promise<void>;
}

export type BillingEnv = BillingConfig;

/** Parses and checks the environment (config.ts); one ValidationError naming every wrong variable. */
export function parseBillingEnv(env: NodeJS.ProcessEnv, requirements: ConfigRequirements = {}): BillingEnv {
  return parseBillingConfig(env, requirements);
}

/** STRIPE_API_BASE → the SDK's host/port/protocol, so the same build talks to Stripe or the emulator. */
export function stripeConfigFromBase(
  base: string | undefined,
): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!base) return {};
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443, protocol };
}

/**
 * The composition root shared by `npm start`, the CLI and the demo: one place decides how the
 * services are wired, so they cannot drift apart. Whatever was opened is closed again if a later
 * step fails, so a bad configuration never leaves a database or Redis connection behind.
 */
export async function createBillingContext(options: BillingContextOptions = {}): Promise<BillingContext> {
  const env =
    options.config ??
    parseBillingConfig(options.env ?? process.env, { requireWebhookSecret: options.requireWebhookSecret });
  const stripe =
    options.stripe ??
    new Stripe(env.STRIPE_SECRET_KEY, { ...stripeConfigFromBase(env.STRIPE_API_BASE), maxNetworkRetries: 2 });
  const ownsDb = options.database === undefined;
  const db =
    options.database ??
    (await openDatabase({
      // null: the embedded database even when the process environment has a DATABASE_URL.
      databaseUrl: options.databaseUrl ?? env.DATABASE_URL ?? null,
      ...(options.databaseUrl === undefined ? { schema: env.DATABASE_SCHEMA } : {}),
      poolMax: env.DATABASE_POOL_MAX,
      readPoolMax: env.DATABASE_READ_POOL_MAX,
      timeouts: databaseTimeouts(env),
    }));
  let cache: KeyValueCache | undefined;
  let sharedLimiter: ReturnType<typeof connectSharedStripeLimiter> | undefined;
  let openTokens: KnownTokenHashes | undefined;
  try {
    const cacheMemoryBytes = env.FEATURE_CACHE_MEMORY_MB * 1024 * 1024;
    cache = createCacheFromEnv({ REDIS_URL: env.REDIS_URL }, { memoryBytes: cacheMemoryBytes });
    const prometheus = options.prometheus ?? createPrometheusMetrics({ processMetrics: true });
    const metrics = prometheus.metrics;
    // The database's catalog, shared by every service and re-read when it lacks a key, so a key
    // registered through the admin API or the CLI is known without a restart.
    const catalogSource = databaseCatalog(db.prisma);
    const catalog = await catalogSource.refresh();
    // One Stripe budget for the deployment: a Redis bucket shared by every process when REDIS_URL
    // is set (falling back to this process's bucket whenever Redis does not answer), else per process.
    sharedLimiter = env.REDIS_URL
      ? connectSharedStripeLimiter(env.REDIS_URL, {
          ratePerSecond: env.STRIPE_REQUESTS_PER_SECOND,
          account: `${env.STRIPE_API_BASE ?? 'https://api.stripe.com'} ${env.STRIPE_SECRET_KEY}`,
        })
      : undefined;
    const stripeSync = createStripeSyncService(stripe, {
      limiter: sharedLimiter?.limiter ?? createTokenBucket({ ratePerSecond: env.STRIPE_REQUESTS_PER_SECOND }),
      catalog: catalogSource,
      planSource: options.planSource ?? env.PLAN_SOURCE,
      metrics,
    });
    const featureSync = createFeatureSyncService(db.prisma, stripeSync, {
      cache,
      readPrisma: db.readPrisma,
      pool: db.pool,
      catalog: catalogSource,
      cacheNamespace: options.cacheNamespace,
      cacheMemoryBytes,
      metrics,
    });
    const syncRuns = createSyncRuns(featureSync, {
      sql: sqlThroughPool(db.pool),
      readSql: sqlThroughPrisma(db.readPrisma),
    });
    const webhookSecret = env.STRIPE_WEBHOOK_SECRET;
    const graceDays = env.PAYMENT_GRACE_PERIOD_DAYS;
    const webhooks = createStripeWebhookHandler(stripe, db.prisma, featureSync, webhookSecret ?? '', {
      ...(graceDays !== undefined ? { paymentFailurePolicy: { gracePeriodDays: graceDays } } : {}),
      metrics,
      pool: db.pool,
      ...options.webhookOptions,
      retry: { maxAttempts: env.WEBHOOK_MAX_ATTEMPTS, ...options.webhookOptions?.retry },
      leaseMs: options.webhookOptions?.leaseMs ?? env.WEBHOOK_LEASE_MS,
    });
    // Queue depth and the oldest pending event's age, read on the read pool when /metrics is scraped.
    prometheus.observeInbox(() => inboxStats(db.readPrisma));
    const webhookHandler: StripeWebhookHandler = webhookSecret
      ? webhooks
      : {
          async handleWebhook() {
            throw new Error('STRIPE_WEBHOOK_SECRET is not configured; webhooks cannot be verified');
          },
        };
    const customPlans = createCustomPlanService(stripe, db.prisma, {
      stripeSync,
      featureReader: featureSync.reader,
      catalog: catalogSource,
      checkoutBaseUrls:
        env.CHECKOUT_SUCCESS_URL && env.CHECKOUT_CANCEL_URL
          ? { successUrl: env.CHECKOUT_SUCCESS_URL, cancelUrl: env.CHECKOUT_CANCEL_URL }
          : null,
    });
    const { usage, usageAlerts, usageMeters } = createUsageServices(env, db, {
      stripe,
      stripeSync,
      featureReader: featureSync.reader,
      catalog: catalogSource,
      metrics,
    });
    // api_tokens hashes in memory, so an unknown token is refused without waiting on the database.
    const knownTokens = watchApiTokens(db.readPrisma);
    openTokens = knownTokens;
    const auth: AuthConfig = { tokens: env.ADMIN_API_TOKENS, prisma: db.prisma, knownTokens };
    const openCache = cache;
    const openLimiter = sharedLimiter;
    let closed: Promise<void> | undefined;
    return {
      env,
      db,
      prisma: db.prisma,
      readPrisma: db.readPrisma,
      stripe,
      cache: openCache,
      catalog,
      stripeSync,
      featureSync,
      syncRuns,
      webhookHandler,
      webhooks,
      customPlans,
      usage,
      ...(usageAlerts ? { usageAlerts } : {}),
      usageMeters,
      auth,
      ...(env.CONSOLE_SESSION_SECRET ? { consoleSecret: env.CONSOLE_SESSION_SECRET } : {}),
      ...(graceDays !== undefined ? { gracePeriodDays: graceDays } : {}),
      metrics,
      prometheus,
      close() {
        // Idempotent: a signal handler and a finally block may both call it.
        closed ??= (async () => {
          // First: a run stopped here records how it ended while the database is still open.
          await syncRuns.close();
          knownTokens.close();
          usage.close();
          await usageAlerts?.stop();
          await usageMeters.stop();
          await openCache.close().catch(() => {});
          await openLimiter?.close().catch(() => {});
          if (ownsDb) await db.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    openTokens?.close();
    await cache?.close().catch(() => {});
    await sharedLimiter?.close().catch(() => {});
    if (ownsDb) await db.close().catch(() => {});
    throw error;
  }
}

/** The metered-usage services: counting, the alert outbox's deliverer (with USAGE_WEBHOOK_URL) and the meter reporter. */
function createUsageServices(
  env: BillingEnv,
  db: Database,
  shared: {
    stripe: Stripe;
    stripeSync: StripeSyncService;
    featureReader: FeatureReader;
    catalog: CatalogSource;
    metrics: BillingMetrics;
  },
): Pick<BillingContext, 'usage' | 'usageAlerts' | 'usageMeters'> {
  const { stripe, stripeSync, featureReader, catalog, metrics } = shared;
  const usage = createUsageService(db.prisma, {
    featureReader,
    catalog,
    pool: db.pool,
    metrics,
    recordAlerts: Boolean(env.USAGE_WEBHOOK_URL),
  });
  const usageAlerts =
    env.USAGE_WEBHOOK_URL && env.USAGE_WEBHOOK_SECRET
      ? createUsageAlertDispatcher(db.prisma, {
          url: env.USAGE_WEBHOOK_URL,
          secret: env.USAGE_WEBHOOK_SECRET,
          pool: db.pool,
          metrics,
        })
      : undefined;
  const usageMeters = createUsageMeterReporter(db.prisma, {
    stripe,
    call: stripeSync.call,
    pool: db.pool,
    catalog,
    metrics,
  });
  return { usage, usageAlerts, usageMeters };
}

/** What the management CLI needs: the database and the feature cache to refresh; no Stripe. */
export interface ManagementContext {
  prisma: PrismaClient;
  featureReader: FeatureReader;
  /** True when DATABASE_URL is unset: an embedded database that lives only as long as the process. */
  embedded: boolean;
  close(): Promise<void>;
}

export async function createManagementContext(
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<ManagementContext> {
  // Only the database and the cache matter here; Stripe is never called, so its key is not asked for.
  const config = parseStorageConfig(options.env ?? process.env);
  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL ?? null,
    schema: config.DATABASE_SCHEMA,
    timeouts: databaseTimeouts(config),
  });
  const cache = createCacheFromEnv({ REDIS_URL: config.REDIS_URL });
  const featureReader = createFeatureReader(db.prisma, cache);
  return {
    prisma: db.prisma,
    featureReader,
    embedded: !config.DATABASE_URL,
    async close() {
      await cache.close().catch(() => {});
      await db.close();
    },
  };
}

/**
 * Stripe reads for a command that only reads plans (`manage preview`): STRIPE_SECRET_KEY,
 * STRIPE_API_BASE and PLAN_SOURCE from `env`, plans checked against the database's catalog.
 */
export function createPlanReader(
  prisma: PrismaClient,
  options: { env?: NodeJS.ProcessEnv } = {},
): StripeSyncService {
  const env = options.env ?? process.env;
  const config = parseBillingConfig({
    STRIPE_SECRET_KEY: env.STRIPE_SECRET_KEY,
    STRIPE_API_BASE: env.STRIPE_API_BASE,
    PLAN_SOURCE: env.PLAN_SOURCE,
  });
  const stripe = new Stripe(config.STRIPE_SECRET_KEY, {
    ...stripeConfigFromBase(config.STRIPE_API_BASE),
    maxNetworkRetries: 2,
  });
  return createStripeSyncService(stripe, {
    catalog: databaseCatalog(prisma),
    planSource: config.PLAN_SOURCE,
  });
}
