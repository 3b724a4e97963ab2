import type Stripe from 'stripe';
import { isCatalogSource, type PlanCatalog } from '../catalog/registry.js';
import { EntitlementFeatureError, MetadataError, PlanNotFoundError, StripeNotFoundError } from '../errors.js';
import { resolvePlanDefaults, type PriceLike, type ProductLike } from '../metadata/index.js';
import {
  DEFAULT_PLAN_SOURCE,
  featuresFromEntitlements,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type EntitlementFeatureLike,
  type PlanSource,
} from '../plan-source/index.js';
import type { FeatureCatalog, PlanDefaults } from '../types.js';
import type { StripeCall, StripeSyncStats } from './client.js';
import { createTtlCache } from '../cache/lru.js';
import { createSingleFlight } from './single-flight.js';

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

export type StoredProduct = Omit<Stripe.Product, 'default_price'> & { default_price: string | null };
type StoredPrice = Omit<Stripe.Price, 'product'> & { product: string };

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : value.id;

const isDeleted = (value: object): boolean => (value as { deleted?: boolean }).deleted === true;

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
  const cacheOptions = { ttlMs: options.ttlMs, maxEntries: options.maxEntries, now: options.now };
  const products = createTtlCache<StoredProduct>(cacheOptions);
  const prices = createTtlCache<StoredPrice>(cacheOptions);
  const lookups = createTtlCache<string>(cacheOptions);
  /** Active Stripe Features attached to each product, when the plan source reads them. */
  const attached = createTtlCache<Stripe.Entitlements.Feature[]>(cacheOptions);
  const source = options.source ?? DEFAULT_PLAN_SOURCE;
  const readsEntitlements = readsEntitlementFeatures(source);
  const flights = createSingleFlight<unknown>();
  // Bumped by every invalidation: a load that started before it must not store what it read.
  let generation = 0;

  function count<T>(cached: T | undefined): cached is T {
    if (cached === undefined) stats.cacheMisses += 1;
    else stats.cacheHits += 1;
    return cached !== undefined;
  }

  function storeProduct(product: Stripe.Product, gen = generation): StoredProduct {
    const stored: StoredProduct = { ...product, default_price: idOf(product.default_price) };
    if (gen === generation) products.set(product.id, stored);
    if (product.default_price && typeof product.default_price === 'object')
      storePrice(product.default_price, gen);
    return stored;
  }

  function storePrice(price: Stripe.Price, gen = generation): StoredPrice {
    const productId = idOf(price.product);
    if (!productId) throw new PlanNotFoundError(price.id);
    if (typeof price.product === 'object' && !isDeleted(price.product))
      storeProduct(price.product as Stripe.Product, gen);
    const stored: StoredPrice = { ...price, product: productId };
    if (gen === generation) {
      prices.set(price.id, stored);
      if (price.lookup_key) lookups.set(price.lookup_key, price.id);
    }
    return stored;
  }

  function shared<T>(key: string, load: (gen: number) => Promise<T>): Promise<T> {
    const gen = generation;
    return flights.run(`${gen}:${key}`, () => load(gen)) as Promise<T>;
  }

  async function getProduct(id: string): Promise<StoredProduct> {
    const cached = products.get(id);
    if (count(cached)) return cached;
    return shared(`product:${id}`, async (gen) => {
      const product = await call('products.retrieve', () =>
        stripe.products.retrieve(id, { expand: ['default_price'] }),
      );
      if (isDeleted(product)) throw new PlanNotFoundError(id);
      return storeProduct(product, gen);
    });
  }

  async function getPrice(id: string): Promise<StoredPrice> {
    const cached = prices.get(id);
    if (count(cached)) return cached;
    return shared(`price:${id}`, async (gen) => {
      const price = await call('prices.retrieve', () => stripe.prices.retrieve(id, { expand: ['product'] }));
      if (typeof price.product === 'object' && isDeleted(price.product)) throw new PlanNotFoundError(id);
      return storePrice(price, gen);
    });
  }

  async function getPriceByLookupKey(key: string): Promise<StoredPrice> {
    const priceId = lookups.get(key);
    if (count(priceId)) return getPrice(priceId);
    return shared(`lookup:${key}`, async (gen) => {
      const list = await call('prices.list', () =>
        stripe.prices.list({ lookup_keys: [key], expand: ['data.product'], limit: 1 }),
      );
      const price = list.data[0];
      if (!price || (typeof price.product === 'object' && isDeleted(price.product)))
        throw new PlanNotFoundError(key);
      return storePrice(price, gen);
    });
  }

  /** One products.listFeatures walk per product (100 per page), cached like products. */
  async function getAttachedFeatures(productId: string): Promise<Stripe.Entitlements.Feature[]> {
    const cached = attached.get(productId);
    if (count(cached)) return cached;
    return shared(`features:${productId}`, async (gen) => {
      const list = await listAll(call, 'products.listFeatures', (page) =>
        stripe.products.listFeatures(productId, page),
      );
      const features = list.map((pf) => pf.entitlement_feature).filter((f) => f.active);
      if (gen === generation) attached.set(productId, features);
      return features;
    });
  }

  async function resolve(
    product: StoredProduct,
    price: StoredPrice | null,
    catalog: PlanCatalog,
  ): Promise<StripePlanDefaults> {
    const attachedFeatures = readsEntitlements ? await getAttachedFeatures(product.id) : null;
    const plan = await parsePlan(product, price, catalog, {
      metadata: readsMetadataFeatures(source),
      attached: attachedFeatures,
    });
    return { ...plan, active: product.active && (price?.active ?? true) };
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
      typeof price.product === 'object' ? (price.product as Stripe.Product) : products.get(stored.product);
    if (!product) throw new PlanNotFoundError(price.id);
    return resolve({ ...product, default_price: idOf(product.default_price) }, stored, catalog);
  }

  /**
   * Loads every uncached product among `ids` with products.list({ ids }) — one request per 100 —
   * so resolving the plans of a page of subscriptions costs one call, not one per product.
   */
  async function prefetchProducts(ids: Iterable<string>): Promise<Map<string, StoredProduct>> {
    // Returned as well as cached: with more products than cache entries (per-tenant custom plans)
    // the LRU would evict them again before the caller got to use them.
    const found = new Map<string, StoredProduct>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const cached = products.get(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += 100) {
      const chunk = missing.slice(i, i + 100);
      // Shared like the single reads: the first customers after a start (or a plan change) all
      // miss the same product at once, and one list answers all of them.
      const loaded = await shared(`products:${[...chunk].sort().join(',')}`, async (gen) => {
        const list = await call('products.list', () => stripe.products.list({ ids: chunk, limit: 100 }));
        return list.data
          .filter((product) => !isDeleted(product))
          .map((product) => [product.id, storeProduct(product, gen)] as const);
      });
      for (const [id, product] of loaded) found.set(id, product);
    }
    // Stripe has no batch read of product features: one list per product not cached yet, all
    // through the shared limiter, so planItem can see which products carry features.
    if (readsEntitlements) await Promise.all([...found.keys()].map((id) => getAttachedFeatures(id)));
    return found;
  }

  /** Whether a product has active Stripe Features attached, as far as the cache knows (false in metadata mode). */
  function hasAttachedFeatures(productId: string): boolean {
    return readsEntitlements && (attached.get(productId)?.length ?? 0) > 0;
  }

  return {
    prefetchProducts,
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

    invalidate(id?: string) {
      generation += 1;
      if (id === undefined) {
        products.clear();
        prices.clear();
        lookups.clear();
        attached.clear();
        flights.clear();
        return;
      }
      products.delete(id);
      attached.delete(id);
      prices.delete(id);
      lookups.delete(id);
      // A lookup_key can be transferred to another price, so keys that pointed at this price go too.
      for (const key of [...lookups.keys()]) if (lookups.get(key) === id) lookups.delete(key);
    },

    /**
     * Drops every product's cached Stripe Features. Stripe sends no event when a Feature is attached
     * or detached, only a summary event per affected customer that does not say which product changed.
     */
    invalidateAttachedFeatures() {
      generation += 1;
      attached.clear();
    },
  };
}

export type PlanResolver = ReturnType<typeof createPlanResolver>;

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

/**
 * Walks a Stripe list endpoint 100 objects per request, each page through `call`, handing pages
 * to `onPage` as they arrive (return false to stop; a promise is awaited before the next page) so
 * large walks need not hold every object.
 */
export async function forEachPage<T extends { id: string }>(
  call: StripeCall,
  label: string,
  page: (params: { limit: number; starting_after?: string }) => Promise<Stripe.ApiList<T>>,
  onPage: (items: T[]) => boolean | void | Promise<boolean | void>,
): Promise<void> {
  let startingAfter: string | undefined;
  for (;;) {
    const params = startingAfter ? { limit: 100, starting_after: startingAfter } : { limit: 100 };
    const list = await call(label, () => page(params));
    const last = list.data.at(-1);
    if ((await onPage(list.data)) === false || !list.has_more || !last) return;
    startingAfter = last.id;
  }
}

export async function listAll<T extends { id: string }>(
  call: StripeCall,
  label: string,
  page: (params: { limit: number; starting_after?: string }) => Promise<Stripe.ApiList<T>>,
): Promise<T[]> {
  const all: T[] = [];
  await forEachPage(call, label, page, (items) => {
    all.push(...items);
  });
  return all;
}
