import type Stripe from 'stripe';
import { createTtlCache } from '../cache/lru.js';
import { PlanNotFoundError } from '../../core/errors.js';
import type { StripeCall, StripeSyncStats } from './client.js';
import { listAll } from './list-pages.js';
import { createSingleFlight } from './single-flight.js';

/**
 * The Stripe objects plans are read from (products, prices, lookup keys, the Features attached to
 * products), each cached with a TTL, each miss loaded once however many callers wait for it, and
 * dropped by invalidate. The plan resolver (plans.ts) turns them into plans.
 */

export type StoredProduct = Omit<Stripe.Product, 'default_price'> & { default_price: string | null };
export type StoredPrice = Omit<Stripe.Price, 'product'> & { product: string };

export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value === null || value === undefined ? null : typeof value === 'string' ? value : value.id;

export const isDeleted = (value: object): boolean => (value as { deleted?: boolean }).deleted === true;

export interface PlanObjectCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
  /** Whether the plan source reads attached Stripe Features (prefetchProducts then loads them too). */
  readsEntitlements: boolean;
}

export function createPlanObjectCache(
  stripe: Stripe,
  call: StripeCall,
  stats: StripeSyncStats,
  options: PlanObjectCacheOptions,
) {
  const { readsEntitlements } = options;
  const store = createPlanObjectStore(stats, options);
  const { products, prices, lookups, attached, count, shared, storeProduct, storePrice } = store;

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
      if (store.isCurrent(gen)) attached.set(productId, features);
      return features;
    });
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

  return {
    storePrice,
    getProduct,
    getPrice,
    getPriceByLookupKey,
    getAttachedFeatures,
    prefetchProducts,
    /** The cached product, without loading it. */
    cachedProduct: (id: string) => products.get(id),
    /** The product's cached Features, without loading them. */
    cachedAttachedFeatures: (productId: string) => attached.get(productId),

    invalidate: store.invalidate,
    invalidateAttachedFeatures: store.invalidateAttachedFeatures,
  };
}

/**
 * The caches behind createPlanObjectCache: what was stored, at which generation (every
 * invalidation starts a new one, and a load that started before it stores nothing), and the
 * single flights that share a load between its callers.
 */
function createPlanObjectStore(stats: StripeSyncStats, options: PlanObjectCacheOptions) {
  const cacheOptions = { ttlMs: options.ttlMs, maxEntries: options.maxEntries, now: options.now };
  const products = createTtlCache<StoredProduct>(cacheOptions);
  const prices = createTtlCache<StoredPrice>(cacheOptions);
  const lookups = createTtlCache<string>(cacheOptions);
  /** Active Stripe Features attached to each product, when the plan source reads them. */
  const attached = createTtlCache<Stripe.Entitlements.Feature[]>(cacheOptions);
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

  return {
    products,
    prices,
    lookups,
    attached,
    count,
    shared,
    storeProduct,
    storePrice,
    /** Whether a load of generation `gen` may still store what it read. */
    isCurrent: (gen: number) => gen === generation,
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
