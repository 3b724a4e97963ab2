import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { previousAttributes } from '../events.js';
import { newId } from '../ids.js';
import { paginate } from '../list.js';
import {
  applyMetadata,
  bool,
  int,
  nullableStr,
  obj,
  oneOf,
  requireStr,
  str,
  strArray,
  type Params,
} from '../params.js';
import type { Obj } from '../store.js';
import { insertProduct } from './product-record.js';

const INTERVALS = ['day', 'week', 'month', 'year'] as const;
const TAX_BEHAVIORS = ['exclusive', 'inclusive', 'unspecified'] as const;

/**
 * A lookup key is unique among prices. With transfer_lookup_key the key moves
 * from its current owner (which gets a price.updated), otherwise it is an error.
 * Returns the transfer to perform once the rest of the request has validated.
 */
function claimLookupKey(ctx: Ctx, key: string, transfer: boolean, exceptId?: string): () => void {
  const owner = ctx.store.prices.values().find((p) => p.lookup_key === key && p.id !== exceptId);
  if (!owner) return () => {};
  if (!transfer) {
    throw invalidRequest(
      `A price (\`${owner.id}\`) already uses that lookup key. Set \`transfer_lookup_key\` to \`true\` to move it to this price.`,
      'lookup_key',
    );
  }
  return () => {
    const before = structuredClone(owner);
    owner.lookup_key = null;
    ctx.events.emit('price.updated', owner, previousAttributes(before, owner), ctx.request);
  };
}

export function createPrice(ctx: Ctx, params: Params, paramPrefix = ''): Obj {
  const p = (k: string) => (paramPrefix ? `${paramPrefix}[${k}]` : k);
  const currency = requireStr(params, 'currency', p('currency')).toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw invalidRequest(`Invalid currency: ${currency}`, p('currency'));

  const productId = str(params, 'product', p('product'));
  const productData = obj(params, 'product_data', p('product_data'));
  if (!productId && !productData) {
    throw invalidRequest(
      'You must specify either `product` or `product_data` when creating a price.',
      p('product'),
    );
  }
  if (productId && productData) {
    throw invalidRequest(
      'You may only specify one of these parameters: product, product_data.',
      p('product'),
    );
  }
  if (productId && !ctx.store.products.has(productId))
    throw noSuchReference('product', productId, p('product'));

  let unitAmount = int(params, 'unit_amount', p('unit_amount'));
  const unitAmountDecimal = str(params, 'unit_amount_decimal', p('unit_amount_decimal'));
  if (unitAmount === undefined && unitAmountDecimal !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(unitAmountDecimal))
      throw invalidRequest('Invalid decimal', p('unit_amount_decimal'));
    if (Number.isInteger(Number(unitAmountDecimal))) unitAmount = Number(unitAmountDecimal);
  }
  const customUnitAmount = obj(params, 'custom_unit_amount');
  if (unitAmount === undefined && unitAmountDecimal === undefined && !customUnitAmount) {
    throw missingParam(p('unit_amount'));
  }
  if (unitAmount !== undefined && unitAmount < 0) {
    throw invalidRequest('This value must be greater than or equal to 0.', p('unit_amount'));
  }

  const recurringParams = obj(params, 'recurring', p('recurring'));
  let recurring: Obj | null = null;
  if (recurringParams) {
    const interval = oneOf(recurringParams, 'interval', INTERVALS, p('recurring[interval]'));
    if (!interval) throw missingParam(p('recurring[interval]'));
    const intervalCount = int(recurringParams, 'interval_count', p('recurring[interval_count]')) ?? 1;
    if (intervalCount < 1) throw invalidRequest('Invalid interval_count', p('recurring[interval_count]'));
    recurring = {
      interval,
      interval_count: intervalCount,
      meter: str(recurringParams, 'meter') ?? null,
      trial_period_days: int(recurringParams, 'trial_period_days') ?? null,
      usage_type: oneOf(recurringParams, 'usage_type', ['licensed', 'metered'] as const) ?? 'licensed',
    };
  }
  const lookupKey = nullableStr(params, 'lookup_key', p('lookup_key')) ?? null;
  const transfer = bool(params, 'transfer_lookup_key') ?? false;
  const metadata = applyMetadata({}, params);
  const taxBehavior = oneOf(params, 'tax_behavior', TAX_BEHAVIORS) ?? null;
  const active = bool(params, 'active') ?? true;
  const nickname = nullableStr(params, 'nickname') ?? null;

  const transferLookupKey = lookupKey ? claimLookupKey(ctx, lookupKey, transfer) : () => {};
  // Validation is complete; from here on the request changes state.
  let product = productId;
  if (!product) {
    const created = insertProduct(ctx, productData!, p('product_data'));
    ctx.events.emit('product.created', created, null, ctx.request);
    product = created.id as string;
  }
  const price: Obj = {
    id: newId('price'),
    object: 'price',
    active,
    billing_scheme: 'per_unit',
    created: ctx.store.clock.now(),
    currency,
    custom_unit_amount: customUnitAmount
      ? {
          maximum: int(customUnitAmount, 'maximum') ?? null,
          minimum: int(customUnitAmount, 'minimum') ?? null,
          preset: int(customUnitAmount, 'preset') ?? null,
        }
      : null,
    livemode: false,
    lookup_key: lookupKey,
    metadata,
    nickname,
    product,
    recurring,
    tax_behavior: taxBehavior,
    tiers_mode: null,
    transform_quantity: null,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount: unitAmount ?? null,
    unit_amount_decimal: unitAmountDecimal ?? (unitAmount !== undefined ? String(unitAmount) : null),
  };
  transferLookupKey();
  ctx.store.prices.insert(price);
  ctx.events.emit('price.created', price, null, ctx.request);
  return price;
}

function updatePrice(ctx: Ctx, id: string, params: Params): Obj {
  const price = ctx.store.prices.get(id);
  if (!price) throw noSuchObject('price', id);
  const active = bool(params, 'active');
  const lookupKey = nullableStr(params, 'lookup_key');
  const nickname = nullableStr(params, 'nickname');
  const taxBehavior = oneOf(params, 'tax_behavior', TAX_BEHAVIORS);
  const metadata = applyMetadata(price.metadata, params);
  const transferLookupKey = lookupKey
    ? claimLookupKey(ctx, lookupKey, bool(params, 'transfer_lookup_key') ?? false, id)
    : () => {};
  transferLookupKey();

  const before = structuredClone(price);
  if (active !== undefined) price.active = active;
  if (lookupKey !== undefined) price.lookup_key = lookupKey;
  if (nickname !== undefined) price.nickname = nickname;
  if (taxBehavior !== undefined) price.tax_behavior = taxBehavior;
  price.metadata = metadata;
  const prev = previousAttributes(before, price);
  if (prev) ctx.events.emit('price.updated', price, prev, ctx.request);
  return price;
}

export const priceRoutes: Route[] = [
  { method: 'POST', path: '/v1/prices', handler: ({ ctx, params }) => createPrice(ctx, params) },
  {
    method: 'GET',
    path: '/v1/prices/:id',
    handler: ({ ctx, id }) => {
      const price = ctx.store.prices.get(id);
      if (!price) throw noSuchObject('price', id);
      return price;
    },
  },
  { method: 'POST', path: '/v1/prices/:id', handler: ({ ctx, id, params }) => updatePrice(ctx, id, params) },
  {
    method: 'GET',
    path: '/v1/prices',
    handler: ({ ctx, params }) => {
      const product = str(params, 'product');
      const active = bool(params, 'active');
      const lookupKeys = strArray(params, 'lookup_keys');
      const type = oneOf(params, 'type', ['one_time', 'recurring'] as const);
      const currency = str(params, 'currency')?.toLowerCase();
      const recurring = obj(params, 'recurring');
      const interval = recurring ? oneOf(recurring, 'interval', INTERVALS, 'recurring[interval]') : undefined;
      return paginate(ctx.store.prices, params, {
        url: '/v1/prices',
        kind: 'price',
        filter: (p) =>
          (product === undefined || p.product === product) &&
          (active === undefined || p.active === active) &&
          (lookupKeys === undefined || (p.lookup_key !== null && lookupKeys.includes(p.lookup_key))) &&
          (type === undefined || p.type === type) &&
          (currency === undefined || p.currency === currency) &&
          (interval === undefined || p.recurring?.interval === interval),
      });
    },
  },
];
