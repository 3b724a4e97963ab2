import type { FeatureMap } from '../../core/types.js';

export type MetadataObjectType = 'product' | 'price';

/** Stripe's metadata limits (https://docs.stripe.com/metadata). */
export const STRIPE_METADATA_LIMITS = { maxKeys: 50, maxKeyLength: 40, maxValueLength: 500 } as const;

/** Upper bound for scrapeIntervalHours: one year. Anything longer is a typo, not a plan. */
export const MAX_SCRAPE_INTERVAL_HOURS = 8760;

/** Metadata keys this library reads/writes, so callers updating an object can blank stale ones. */
export const PRODUCT_METADATA_KEYS = [
  'bundle',
  'features',
  'featuresJson',
  'scrapeIntervalHours',
  'custom',
  'tenantId',
  'basePlanId',
] as const;
export const PRICE_METADATA_KEYS = ['tenantId', 'custom', 'features'] as const;

export interface ProductPlanMetadata {
  bundle: string | null;
  features: FeatureMap;
  scrapeIntervalHours: number | null;
  custom: boolean;
}

export interface PricePlanMetadata {
  tenantId: string | null;
  /** null when the price does not say, so the product's flag applies. */
  custom: boolean | null;
  features: FeatureMap;
}

export interface StripeObjectLike {
  id: string;
  metadata?: Record<string, string> | null;
}
