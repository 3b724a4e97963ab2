import type { FeatureCatalog, FeatureValue } from '../../core/types.js';
import { parseFeatureJson, parseFeatureList } from './features.js';
import { createFieldReader, parseBooleanFlag, parseScrapeInterval } from './fields.js';
import type { ProductPlanMetadata, StripeObjectLike } from './types.js';
import { toFeatureMap } from './values.js';

/**
 * Reads bundle / features / featuresJson / scrapeIntervalHours / custom. Other metadata keys
 * (including the informational tenantId/basePlanId written by buildProductMetadata) are ignored.
 */
export function parseProductMetadata(
  product: StripeObjectLike,
  catalog?: FeatureCatalog,
): ProductPlanMetadata {
  const fields = createFieldReader('product', product.id, product.metadata);
  const failOn = (field: string) => (reason: string) => fields.fail(field, reason);

  const features = new Map<string, FeatureValue>();
  const list = fields.read('features');
  if (list !== null)
    for (const [k, v] of parseFeatureList(list, catalog, failOn('features'))) features.set(k, v);
  // featuresJson is applied second so it wins per key: it is the only way to say `false` or a number.
  const json = fields.read('featuresJson');
  if (json !== null)
    for (const [k, v] of parseFeatureJson(json, catalog, failOn('featuresJson'))) features.set(k, v);

  const interval = fields.read('scrapeIntervalHours');
  const custom = fields.read('custom');
  return {
    bundle: fields.read('bundle'),
    features: toFeatureMap(features),
    scrapeIntervalHours:
      interval === null ? null : parseScrapeInterval(interval, failOn('scrapeIntervalHours')),
    custom: custom === null ? false : parseBooleanFlag(custom, failOn('custom')),
  };
}
