import type { Ctx } from '../context.js';
import { invalidRequest } from '../errors.js';
import { newId } from '../ids.js';
import { applyMetadata, bool, nullableStr, requireStr, str, strArray, type Params } from '../params.js';
import type { Obj } from '../store.js';

/**
 * Checks `params` and stores the product, without events or a default price: the part of a product's
 * creation that a price's `product_data` shares with POST /v1/products.
 */
export function insertProduct(ctx: Ctx, params: Params, paramPrefix = ''): Obj {
  const p = (k: string) => (paramPrefix ? `${paramPrefix}[${k}]` : k);
  const name = requireStr(params, 'name', p('name'));
  const id = str(params, 'id', p('id')) || newId('prod');
  if (ctx.store.products.has(id)) {
    throw invalidRequest(`Product already exists.`, p('id'), 'resource_already_exists');
  }
  const now = ctx.store.clock.now();
  const product: Obj = {
    id,
    object: 'product',
    active: bool(params, 'active', p('active')) ?? true,
    created: now,
    default_price: null,
    description: nullableStr(params, 'description', p('description')) ?? null,
    images: strArray(params, 'images') ?? [],
    livemode: false,
    marketing_features: [],
    metadata: applyMetadata({}, params),
    name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: nullableStr(params, 'statement_descriptor', p('statement_descriptor')) ?? null,
    tax_code: nullableStr(params, 'tax_code', p('tax_code')) ?? null,
    tax_details: null,
    type: 'service',
    unit_label: nullableStr(params, 'unit_label', p('unit_label')) ?? null,
    updated: now,
    url: nullableStr(params, 'url', p('url')) ?? null,
  };
  ctx.store.products.insert(product);
  return product;
}
