import type Stripe from 'stripe';
import { isCatalogSource, type CatalogSource, type PlanCatalog } from '../catalog/registry.js';
import { BillingError } from '../../core/errors.js';
import { resolvePlanDefaults } from '../metadata/index.js';
import {
  DEFAULT_PLAN_SOURCE,
  featuresFromEntitlements,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type PlanSource,
} from '../plan-source/index.js';
import type { BillingMetrics } from '../metrics/index.js';
import type { FeatureCatalog } from '../../core/types.js';
import { createStripeCaller, type StripeCall, type StripeSyncStats } from './client.js';
import { createTokenBucket, type TokenBucket } from './limiter.js';
import { forEachPage } from './list-pages.js';
import { createPlanResolver, type PlanResolver, type StripePlanDefaults } from './plans.js';
import {
  createSubscriptionReader,
  type ActiveSubscription,
  type CustomerSubscriptionEntry,
  type GrantingSubscription,
  type SubscriptionState,
} from './subscriptions.js';

export interface StripeSyncOptions {
  /**
   * What plan metadata is checked against: a fixed catalog, a catalog source such as
   * `databaseCatalog(prisma)`, or nothing. Without one, any well-formed feature key is read with
   * the type its value has; the database-facing services (createFeatureSyncService,
   * createCustomPlanService) check plans against the database's catalog before writing.
   */
  catalog?: FeatureCatalog | CatalogSource;
  /**
   * Where plan features come from: product/price metadata (`metadata`, the default), the
   * product's attached Stripe Features (`entitlements`), or both merged (`both`); see docs/metadata.md.
   */
  planSource?: PlanSource;
  /** How long a product/price stays cached (default 5 minutes). */
  cacheTtlMs?: number;
  /** Per cache (products, prices, lookup keys); default 1000. */
  cacheMaxEntries?: number;
  /** Sustained request rate for every call this service makes (default 25: safe in Stripe test mode). */
  requestsPerSecond?: number;
  /** Token-bucket burst; defaults to a fifth of a second's worth of requests. */
  burst?: number;
  /**
   * Use this bucket instead of building one (requestsPerSecond/burst are then its business): e.g.
   * `createRedisTokenBucket`, one budget shared by every process of the deployment.
   */
  limiter?: TokenBucket;
  /**
   * Pages of a bulk walk (every subscription, for the full sync and reconcile) in flight at once
   * (default 8). The rate limit still caps requests per second; this hides Stripe's latency.
   */
  listConcurrency?: number;
  /** Our retries of 429/5xx/connection failures on top of the SDK's maxNetworkRetries (default 3). */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  maxRetryDelayMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Stripe requests, rate-limiter waits and errors by operation. */
  metrics?: BillingMetrics;
}

export interface PlanStatistics {
  totalProducts: number;
  activeProducts: number;
  /** Products granting at least one feature from the configured plan source(s). */
  productsWithFeatures: number;
  customPlans: number;
  totalPrices: number;
  pricesWithLookupKey: number;
  /** Products per `bundle` metadata value (products with valid metadata only). */
  bundles: Record<string, number>;
  /** Products whose metadata or attached Stripe Features cannot be read, with the reason. */
  invalidProducts: Array<{ id: string; error: string }>;
}

export interface StripeSyncService {
  getPlanDefaultsFromStripe(planId: string): Promise<StripePlanDefaults>;
  getActiveSubscription(customerId: string): Promise<ActiveSubscription | null>;
  /** The granting subscription and the most relevant one overall, from one list call. */
  getSubscriptionState(customerId: string): Promise<SubscriptionState>;
  /** The access-granting subscription and its plan item, from the same list; the plan is not resolved. */
  getGrantingSubscription(customerId: string): Promise<GrantingSubscription | null>;
  getCustomersWithSubscriptions(limit?: number): Promise<CustomerSubscriptionEntry[]>;
  /**
   * The same walk handed out page by page as it arrives (bounded memory); absent on a caller's own
   * implementation, where the bulk sync falls back to getCustomersWithSubscriptions.
   */
  forEachCustomerPage?(onEntries: (entries: CustomerSubscriptionEntry[]) => Promise<void>): Promise<void>;
  getPlanStatistics(): Promise<PlanStatistics>;
  /** Drops the cached product/price/lookup_key `id`, and a product's attached Features (everything when omitted). */
  invalidatePlan(id?: string): void;
  /** Drops every product's cached Stripe Features (a Feature was attached or detached somewhere). */
  invalidateAttachedFeatures(): void;
  readonly planSource: PlanSource;
  /** Runs any Stripe call through this service's rate limiter, retries and error mapping. */
  call: StripeCall;
  /**
   * This service reading plans against another catalog, sharing everything else (caches, rate
   * limiter, statistics), so an invalidation through either is seen by both.
   */
  withCatalog(catalog: FeatureCatalog | CatalogSource): StripeSyncService;
  readonly stats: Readonly<StripeSyncStats>;
  readonly stripe: Stripe;
  /** Undefined when any well-formed key is accepted. */
  readonly catalog: FeatureCatalog | CatalogSource | undefined;
}

export function createStripeSyncService(stripe: Stripe, options: StripeSyncOptions = {}): StripeSyncService {
  const stats: StripeSyncStats = {
    stripeRequests: 0,
    cacheHits: 0,
    cacheMisses: 0,
    retries: 0,
    rateLimited: 0,
  };
  const limiter =
    options.limiter ??
    createTokenBucket({
      ratePerSecond: options.requestsPerSecond ?? 25,
      burst: options.burst,
      sleep: options.sleep,
    });
  const call = createStripeCaller({
    limiter,
    stats,
    maxRetries: options.maxRetries,
    retryBaseDelayMs: options.retryBaseDelayMs,
    maxRetryDelayMs: options.maxRetryDelayMs,
    sleep: options.sleep,
    metrics: options.metrics,
  });
  const plans = createPlanResolver(stripe, call, stats, {
    source: options.planSource ?? DEFAULT_PLAN_SOURCE,
    ttlMs: options.cacheTtlMs ?? 5 * 60_000,
    maxEntries: options.cacheMaxEntries ?? 1000,
    now: options.now,
  });
  return bindCatalog(stripe, call, stats, plans, options.catalog, options.listConcurrency ?? 8);
}

function bindCatalog(
  stripe: Stripe,
  call: StripeCall,
  stats: StripeSyncStats,
  plans: PlanResolver,
  catalog: PlanCatalog,
  listConcurrency: number,
): StripeSyncService {
  const subscriptions = createSubscriptionReader(stripe, call, plans, catalog, listConcurrency);

  async function getPlanStatistics(): Promise<PlanStatistics> {
    const known = isCatalogSource(catalog) ? await catalog.current() : catalog;
    const stats: PlanStatistics = {
      totalProducts: 0,
      activeProducts: 0,
      productsWithFeatures: 0,
      customPlans: 0,
      totalPrices: 0,
      pricesWithLookupKey: 0,
      bundles: {},
      invalidProducts: [],
    };
    // Counted page by page so the walk never holds the whole catalogue in memory. Attached Stripe
    // Features have no batch read: in `entitlements`/`both` each product costs one more list call.
    await forEachPage(
      call,
      'products.list',
      (page) => stripe.products.list(page),
      async (page) => {
        for (const product of page) {
          stats.totalProducts += 1;
          if (product.active) stats.activeProducts += 1;
          try {
            const entitlements = readsEntitlementFeatures(plans.source)
              ? featuresFromEntitlements(product.id, await plans.getAttachedFeatures(product.id), known)
              : null;
            const plan = resolvePlanDefaults(product, null, known, {
              metadata: readsMetadataFeatures(plans.source),
              entitlements,
            });
            if (Object.keys(plan.features).length > 0) stats.productsWithFeatures += 1;
            if (plan.custom) stats.customPlans += 1;
            if (plan.bundle) stats.bundles[plan.bundle] = (stats.bundles[plan.bundle] ?? 0) + 1;
          } catch (error) {
            if (!(error instanceof BillingError)) throw error;
            stats.invalidProducts.push({ id: product.id, error: error.message });
          }
        }
      },
    );
    await forEachPage(
      call,
      'prices.list',
      (page) => stripe.prices.list(page),
      (page) => {
        for (const price of page) {
          stats.totalPrices += 1;
          if (price.lookup_key) stats.pricesWithLookupKey += 1;
        }
      },
    );
    return stats;
  }

  return {
    getPlanDefaultsFromStripe: (planId) => plans.getPlanDefaults(planId, catalog),
    getActiveSubscription: (customerId) => subscriptions.getActiveSubscription(customerId),
    getSubscriptionState: (customerId) => subscriptions.getSubscriptionState(customerId),
    getGrantingSubscription: (customerId) => subscriptions.getGrantingSubscription(customerId),
    getCustomersWithSubscriptions: (limit) => subscriptions.getCustomersWithSubscriptions(limit),
    forEachCustomerPage: (onEntries) => subscriptions.forEachCustomerPage(onEntries),
    getPlanStatistics,
    invalidatePlan: (id) => plans.invalidate(id),
    invalidateAttachedFeatures: () => plans.invalidateAttachedFeatures(),
    planSource: plans.source,
    withCatalog: (other) => bindCatalog(stripe, call, stats, plans, other, listConcurrency),
    call,
    stats,
    stripe,
    catalog,
  };
}
