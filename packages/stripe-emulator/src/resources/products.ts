import type { Ctx, Route } from '../context.js';
import { invalidRequest, noSuchObject, noSuchReference } from '../errors.js';
import { previousAttributes } from '../events.js';
import { paginate } from '../list.js';
import { applyMetadata, bool, nullableStr, obj, str, strArray, type Params } from '../params.js';
import type { Obj } from '../store.js';
import { createPrice } from './prices.js';
import { insertProduct } from './product-record.js';

export function findProduct(ctx: Ctx, id: string): Obj | undefined {
  return ctx.store.products.get(id);
}

export function createProduct(ctx: Ctx, params: Params, paramPrefix = ''): Obj {
  const product = insertProduct(ctx, params, paramPrefix);
  const id = product.id as string;
  const defaultPriceData = obj(params, 'default_price_data');
  if (defaultPriceData) {
    let price: Obj;
    try {
      price = createPrice(ctx, { ...defaultPriceData, product: id }, 'default_price_data');
    } catch (err) {
      ctx.store.products.delete(id); // a failed request must leave no trace
      throw err;
    }
    // default_price is part of the create itself: one product.created carrying it, no product.updated.
    product.default_price = price.id;
  }
  ctx.events.emit('product.created', product, null, ctx.request);
  return product;
}

function updateProduct(ctx: Ctx, id: string, params: Params): Obj {
  const product = ctx.store.products.get(id);
  if (!product) throw noSuchObject('product', id);
  const before = structuredClone(product);
  const name = str(params, 'name');
  if (name !== undefined) {
    if (name === '') throw invalidRequest('You must provide a non-empty name.', 'name');
    product.name = name;
  }
  const active = bool(params, 'active');
  if (active !== undefined) product.active = active;
  for (const key of ['description', 'statement_descriptor', 'unit_label', 'url', 'tax_code'] as const) {
    const v = nullableStr(params, key);
    if (v !== undefined) product[key] = v;
  }
  const images = strArray(params, 'images');
  if (images !== undefined || params.images === '') product.images = images ?? [];
  const defaultPrice = nullableStr(params, 'default_price');
  if (defaultPrice !== undefined) {
    if (defaultPrice !== null) {
      const price = ctx.store.prices.get(defaultPrice);
      if (!price) throw noSuchReference('price', defaultPrice, 'default_price');
      if (price.product !== id) {
        throw invalidRequest(
          `The price \`${defaultPrice}\` does not belong to product \`${id}\`.`,
          'default_price',
        );
      }
    }
    product.default_price = defaultPrice;
  }
  product.metadata = applyMetadata(product.metadata, params);
  const prev = previousAttributes(before, product, ['updated']);
  if (prev) {
    product.updated = ctx.store.clock.now();
    if (product.updated !== before.updated) prev.updated = before.updated;
    ctx.events.emit('product.updated', product, prev, ctx.request);
  }
  return product;
}

export const productRoutes: Route[] = [
  { method: 'POST', path: '/v1/products', handler: ({ ctx, params }) => createProduct(ctx, params) },
  {
    method: 'GET',
    path: '/v1/products/:id',
    handler: ({ ctx, id }) => {
      const product = findProduct(ctx, id);
      if (!product) throw noSuchObject('product', id);
      return product;
    },
  },
  {
    method: 'POST',
    path: '/v1/products/:id',
    handler: ({ ctx, id, params }) => updateProduct(ctx, id, params),
  },
  {
    method: 'DELETE',
    path: '/v1/products/:id',
    handler: ({ ctx, id }) => {
      const product = findProduct(ctx, id);
      if (!product) throw noSuchObject('product', id);
      if (ctx.store.prices.values().some((p) => p.product === id)) {
        // Stripe refuses to delete products with prices; archive (active=false) instead.
        throw invalidRequest(
          'This product cannot be deleted because it has one or more user-created prices.',
          'id',
        );
      }
      ctx.store.products.delete(id);
      ctx.events.emit('product.deleted', product, null, ctx.request);
      return { id, object: 'product', deleted: true };
    },
  },
  {
    method: 'GET',
    path: '/v1/products',
    handler: ({ ctx, params }) => {
      const active = bool(params, 'active');
      const ids = strArray(params, 'ids');
      const shippable = bool(params, 'shippable');
      const url = str(params, 'url');
      return paginate(ctx.store.products, params, {
        url: '/v1/products',
        kind: 'product',
        filter: (p) =>
          (active === undefined || p.active === active) &&
          (ids === undefined || ids.includes(p.id)) &&
          (shippable === undefined || p.shippable === shippable) &&
          (url === undefined || p.url === url),
      });
    },
  },
];
