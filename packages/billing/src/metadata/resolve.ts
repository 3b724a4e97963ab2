import type { FeatureCatalog, PlanDefaults } from '../types.js';
import { parsePriceMetadata } from './price.js';
import { parseProductMetadata } from './product.js';
import type { StripeObjectLike } from './types.js';
import { toFeatureMap } from './values.js';

export interface ProductLike extends StripeObjectLike {
  name?: string | null;
}
export interface PriceLike extends StripeObjectLike {
  lookup_key?: string | null;
}

/**
 * Product metadata is the plan's baseline; the price refines it, because one product can carry
 * several prices (e.g. a per-tenant custom price) that grant different limits.
 */
export function resolvePlanDefaults(
  product: ProductLike,
  price: PriceLike | null,
  catalog: FeatureCatalog,
): PlanDefaults {
  const fromProduct = parseProductMetadata(product, catalog);
  const fromPrice = price ? parsePriceMetadata(price, catalog) : null;
  const features = new Map(Object.entries(fromProduct.features));
  for (const [key, value] of Object.entries(fromPrice?.features ?? {})) features.set(key, value);
  return {
    productId: product.id,
    // Stripe always names products, but fall back to the id so callers never render an empty label.
    productName: product.name?.trim() || product.id,
    priceId: price?.id ?? null,
    lookupKey: price?.lookup_key?.trim() || null,
    bundle: fromProduct.bundle,
    features: toFeatureMap(features),
    scrapeIntervalHours: fromProduct.scrapeIntervalHours,
    custom: fromPrice?.custom ?? fromProduct.custom,
    tenantId: fromPrice?.tenantId ?? null,
  };
}
