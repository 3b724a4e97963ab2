import type { FeatureCatalog } from '../../core/types.js';
import { parseFeatureJson } from './features.js';
import { createFieldReader, parseBooleanFlag } from './fields.js';
import type { PricePlanMetadata, StripeObjectLike } from './types.js';
import { toFeatureMap } from './values.js';

/** Reads tenantId / custom / features (a JSON object, unlike the product's comma list). */
export function parsePriceMetadata(price: StripeObjectLike, catalog?: FeatureCatalog): PricePlanMetadata {
  const fields = createFieldReader('price', price.id, price.metadata);
  const custom = fields.read('custom');
  const features = fields.read('features');
  return {
    tenantId: fields.read('tenantId'),
    custom: custom === null ? null : parseBooleanFlag(custom, (reason) => fields.fail('custom', reason)),
    features:
      features === null
        ? {}
        : toFeatureMap(parseFeatureJson(features, catalog, (reason) => fields.fail('features', reason))),
  };
}
