import type Stripe from 'stripe';
import { isCatalogSource, type PlanCatalog } from '../catalog/registry.js';
import {
  EntitlementFeatureError,
  MetadataError,
  PlanNotFoundError,
  StripeNotFoundError,
} from '../../core/errors.js';
import { resolvePlanDefaults, type PriceLike, type ProductLike } from '../metadata/index.js';
import {
  DEFAULT_PLAN_SOURCE,
  featuresFromEntitlements,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type EntitlementFeatureLike,
  type PlanSource,
} from '../plan-source/index.js';
import type { FeatureCatalog, PlanDefaults } from '../../core/types.js';
import { createTtlCache } from '../cache/lru.js';
import type { StripeCall, StripeSyncStats } from './client.js';
import {
  createPlanObjectCache,
  idOf,
  isDeleted,
  type StoredPrice,
  type StoredProduct,
} from './plan-objects.js';

/**
 * PlanDefaults plus whether Stripe still sells the plan. Archived products and prices stay
 * resolvable: Stripe keeps billing existing subscriptions on them, so those tenants must keep
 * their features. Only flows that start a *new* subscription should refuse `active: false`.
 */
export interface StripePlanDefaults extends PlanDefaults {
  active: boolean;
}

export interface PlanResolverOptions {
  /** Where plan features come from (default `metadata`). */
  source?: PlanSource;
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

/** Objects that look like ids are tried as ids first; legacy `plan_` ids are price ids in today's API. */
function classify(planId: string): 'product' | 'price' | 'lookup_key' {
  if (planId.startsWith('prod_')) return 'product';
  if (planId.startsWith('price_') || planId.startsWith('plan_')) return 'price';
  return 'lookup_key';
}

export function createPlanResolver(
  stripe: Stripe,
  call: StripeCall,
  stats: StripeSyncStats,
  options: PlanResolverOptions,
) {
  const source = options.source ?? DEFAULT_PLAN_SOURCE;
  const readsEntitlements = readsEntitlementFeatures(source);
  const objects = createPlanObjectCache(stripe, call, stats, {
    ttlMs: options.ttlMs,
    maxEntries: options.maxEntries,
    now: options.now,
    readsEntitlements,
  });
  const { storePrice, getProduct, getPrice, getPriceByLookupKey, getAttachedFeatures } = objects;
  // Parsing a plan's metadata costs more than the subscription read that brought it, and a webhook
  // worker meets the same few plans on every customer: a parse is kept for the same product and
  // price (their fields the parse reads) against the same catalog copy and attached Features. A
  // plan object is shared by its readers, as the bulk sync's per-price memo shares it.
  const parsed = createTtlCache<ParsedPlan>({
    ttlMs: options.ttlMs,
    maxEntries: options.maxEntries,
    now: options.now,
  });

  async function resolve(
    product: StoredProduct,
    price: StoredPrice | null,
    catalog: PlanCatalog,
  ): Promise<StripePlanDefaults> {
    const attachedFeatures = readsEntitlements ? await getAttachedFeatures(product.id) : null;
    const known = isCatalogSource(catalog) ? await catalog.current() : catalog;
    const key = parseKey(product, price);
    const hit = parsed.get(key);
    if (hit && hit.known === known && hit.attached === attachedFeatures) return hit.plan;
    const plan = await parsePlan(product, price, catalog, {
      metadata: readsMetadataFeatures(source),
      attached: attachedFeatures,
    });
    const resolved = { ...plan, active: product.active && (price?.active ?? true) };
    parsed.set(key, { known, attached: attachedFeatures, plan: resolved });
    return resolved;
  }

  async function resolveById(planId: string, catalog: PlanCatalog): Promise<StripePlanDefaults> {
    const kind = classify(planId);
    if (kind === 'product') {
      const product = await getProduct(planId);
      const price = product.default_price ? await getPrice(product.default_price) : null;
      return resolve(product, price, catalog);
    }
    const price = kind === 'price' ? await getPrice(planId) : await getPriceByLookupKey(planId);
    return resolve(await getProduct(price.product), price, catalog);
  }

  /**
   * Plan of a price whose product came expanded in a list response: no Stripe call for the product
   * (its attached Features may need one), and the objects refresh the cache so later lookups of the
   * same plan are hits. Throws MetadataError / EntitlementFeatureError.
   */
  async function planFromExpandedPrice(
    price: Stripe.Price,
    catalog: PlanCatalog,
  ): Promise<StripePlanDefaults> {
    if (typeof price.product === 'object' && isDeleted(price.product)) throw new PlanNotFoundError(price.id);
    const stored = storePrice(price);
    const product =
      typeof price.product === 'object'
        ? (price.product as Stripe.Product)
        : objects.cachedProduct(stored.product);
    if (!product) throw new PlanNotFoundError(price.id);
    return resolve({ ...product, default_price: idOf(product.default_price) }, stored, catalog);
  }

  /** Whether a product has active Stripe Features attached, as far as the cache knows (false in metadata mode). */
  function hasAttachedFeatures(productId: string): boolean {
    return readsEntitlements && (objects.cachedAttachedFeatures(productId)?.length ?? 0) > 0;
  }

  return {
    prefetchProducts: objects.prefetchProducts,
    hasAttachedFeatures,
    getAttachedFeatures,
    source,

    /** Product id, price id or price lookup_key → PlanDefaults; PlanNotFoundError when none matches. */
    async getPlanDefaults(planId: string, catalog: PlanCatalog): Promise<StripePlanDefaults> {
      if (typeof planId !== 'string' || planId.trim() === '') throw new PlanNotFoundError(String(planId));
      try {
        return await resolveById(planId, catalog);
      } catch (error) {
        if (!(error instanceof StripeNotFoundError)) throw error;
        // A lookup_key may itself look like an id ("price_pro_monthly"), so an id that does not
        // exist gets one more chance as a lookup_key before we call the plan unknown.
        if (classify(planId) === 'lookup_key') throw new PlanNotFoundError(planId);
        try {
          const price = await getPriceByLookupKey(planId);
          return await resolve(await getProduct(price.product), price, catalog);
        } catch (fallbackError) {
          throw fallbackError instanceof StripeNotFoundError ? new PlanNotFoundError(planId) : fallbackError;
        }
      }
    },

    /** The plan of a subscription item's price; fetches (or reuses) the product when it came as a bare id. */
    async planFromPrice(
      price: Stripe.Price,
      known: ReadonlyMap<string, StoredProduct> | undefined,
      catalog: PlanCatalog,
    ): Promise<StripePlanDefaults> {
      if (typeof price.product === 'object') return planFromExpandedPrice(price, catalog);
      const stored = storePrice(price);
      return resolve(known?.get(stored.product) ?? (await getProduct(stored.product)), stored, catalog);
    },

    invalidate: objects.invalidate,
    invalidateAttachedFeatures: objects.invalidateAttachedFeatures,
  };
}

export type PlanResolver = ReturnType<typeof createPlanResolver>;

/** A parsed plan and what it was parsed against (compared by identity: a new copy parses again). */
interface ParsedPlan {
  known: FeatureCatalog | undefined;
  attached: readonly EntitlementFeatureLike[] | null;
  plan: StripePlanDefaults;
}

/** Every field of the product and price that `resolve` reads, so an edit in Stripe is a new key. */
function parseKey(product: StoredProduct, price: StoredPrice | null): string {
  return JSON.stringify([
    product.id,
    product.name,
    product.active,
    product.metadata,
    price?.id ?? null,
    price?.lookup_key ?? null,
    price?.active ?? null,
    price?.metadata ?? null,
  ]);
}

/**
 * Parses product + price metadata against `catalog`. A catalog source (the database's) is asked
 * again when the metadata names a key its copy lacks: another process may just have registered it.
 */
export async function parsePlan(
  product: ProductLike,
  price: PriceLike | null,
  catalog: PlanCatalog,
  sources: { metadata: boolean; attached: readonly EntitlementFeatureLike[] | null },
): Promise<PlanDefaults> {
  const parse = (known: FeatureCatalog | undefined): PlanDefaults =>
    resolvePlanDefaults(product, price, known, {
      metadata: sources.metadata,
      entitlements: sources.attached ? featuresFromEntitlements(product.id, sources.attached, known) : null,
    });
  if (!isCatalogSource(catalog)) return parse(catalog);
  try {
    return parse(await catalog.current());
  } catch (error) {
    if (!(error instanceof MetadataError) && !(error instanceof EntitlementFeatureError)) throw error;
    return parse(await catalog.refresh());
  }
}
