import type { FeatureCatalog, FeatureMap, PlanDefaults } from '../../core/types.js';
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
 * Which feature sources a plan reads besides the price's metadata. `metadata` alone is the default;
 * `entitlements` replaces the product's metadata features with the product's attached Stripe
 * Features; `both` reads the two (see docs/metadata.md, "Plan sources").
 */
export interface ProductFeatureSources {
  /** Read the product's `features` / `featuresJson` metadata (default true). */
  metadata?: boolean;
  /** Features of the product's attached Stripe Features (featuresFromEntitlements), or none. */
  entitlements?: FeatureMap | null;
}

const FEATURE_METADATA_KEYS = ['features', 'featuresJson'];

/** `custom: "true"` on the product or the price (the flag as the parsers read it, case-insensitive). */
function isCustomPlan(product: ProductLike, price: PriceLike | null): boolean {
  const flag = (object: ProductLike | PriceLike | null) =>
    typeof object?.metadata?.custom === 'string' && object.metadata.custom.toLowerCase() === 'true';
  return flag(product) || flag(price);
}

/** The product as the metadata parser should see it when its feature keys are not a source. */
function withoutFeatureMetadata(product: ProductLike): ProductLike {
  if (!product.metadata) return product;
  const metadata = Object.fromEntries(
    Object.entries(product.metadata).filter(([key]) => !FEATURE_METADATA_KEYS.includes(key)),
  );
  return { ...product, metadata };
}

/**
 * Product metadata is the plan's baseline; the product's attached Stripe Features come next and
 * win per key (in `both` they are where a migrating team edits plans, metadata is the legacy copy);
 * the price refines both, because one product can carry several prices (e.g. a per-tenant custom
 * price) that grant different limits.
 */
export function resolvePlanDefaults(
  product: ProductLike,
  price: PriceLike | null,
  /** Without a catalog every well-formed key is accepted (see parseProductMetadata). */
  catalog?: FeatureCatalog,
  sources: ProductFeatureSources = {},
): PlanDefaults {
  // A custom plan is a product this library wrote, its features in its metadata whatever the plan
  // source (Stripe Features are attached to the products a team manages, not to per-tenant plans).
  const readMetadata = (sources.metadata ?? true) || isCustomPlan(product, price);
  const fromProduct = parseProductMetadata(readMetadata ? product : withoutFeatureMetadata(product), catalog);
  const fromPrice = price ? parsePriceMetadata(price, catalog) : null;
  const features = new Map(Object.entries(fromProduct.features));
  for (const [key, value] of Object.entries(sources.entitlements ?? {})) features.set(key, value);
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
