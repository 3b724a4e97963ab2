import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { previousAttributes } from '../events.js';
import { newId } from '../ids.js';
import { listOf, paginate } from '../list.js';
import { applyMetadata, bool, requireStr, str, type Params } from '../params.js';
import type { Obj } from '../store.js';

/**
 * Stripe Entitlements: Features, their attachment to products, and the per-customer active
 * entitlements derived from subscriptions. Stripe sends no event for a feature or an attachment;
 * the only event is `entitlements.active_entitlement_summary.updated`, once per customer whose set
 * of active entitlements changed.
 */

/** Subscriptions in these statuses grant nothing; every other status (paused and unpaid included) keeps them. */
const NON_ENTITLING: readonly string[] = ['canceled', 'incomplete', 'incomplete_expired'];
/** Stripe's summary event lists at most this many entitlements (its `has_more` says whether there are more). */
export const SUMMARY_LIMIT = 10;
const LOOKUP_KEY_MAX = 80;

function findFeature(ctx: Ctx, id: string): Obj {
  const feature = ctx.store.features.get(id);
  if (!feature) throw noSuchObject('feature', id);
  return feature;
}

function createFeature(ctx: Ctx, params: Params): Obj {
  const lookupKey = requireStr(params, 'lookup_key');
  const name = requireStr(params, 'name');
  if (lookupKey.length > LOOKUP_KEY_MAX) {
    throw invalidRequest(`lookup_key must be at most ${LOOKUP_KEY_MAX} characters.`, 'lookup_key');
  }
  if (ctx.store.features.values().some((f) => f.lookup_key === lookupKey)) {
    throw invalidRequest(
      `A feature with lookup_key \`${lookupKey}\` already exists.`,
      'lookup_key',
      'resource_already_exists',
    );
  }
  const feature: Obj = {
    id: newId('feat_test'),
    object: 'entitlements.feature',
    active: true,
    livemode: false,
    lookup_key: lookupKey,
    metadata: applyMetadata({}, params),
    name,
    // Not part of Stripe's shape; kept for list pagination by `created` and stripped on render.
    created: ctx.store.clock.now(),
  };
  ctx.store.features.insert(feature);
  return renderFeature(feature);
}

export function renderFeature(feature: Obj): Obj {
  const { created: _created, ...rest } = feature;
  return structuredClone(rest);
}

function updateFeature(ctx: Ctx, id: string, params: Params): Obj {
  const feature = findFeature(ctx, id);
  const before = structuredClone(feature);
  const name = str(params, 'name');
  if (name !== undefined) {
    if (name === '') throw invalidRequest('You must provide a non-empty name.', 'name');
    feature.name = name;
  }
  feature.metadata = applyMetadata(feature.metadata, params);
  const active = bool(params, 'active');
  if (active !== undefined) feature.active = active;
  // Archiving (or restoring) a feature changes what every customer holding it is entitled to.
  if (previousAttributes(before, feature, ['metadata', 'name'])) syncEveryCustomer(ctx);
  return renderFeature(feature);
}

function renderProductFeature(ctx: Ctx, record: Obj): Obj {
  return {
    id: record.id,
    object: 'product_feature',
    entitlement_feature: renderFeature(ctx.store.features.get(record.feature)!),
    livemode: false,
  };
}

function findProduct(ctx: Ctx, id: string): Obj {
  const product = ctx.store.products.get(id);
  if (!product) throw noSuchObject('product', id);
  return product;
}

function attachFeature(ctx: Ctx, productId: string, params: Params): Obj {
  findProduct(ctx, productId);
  const featureId = str(params, 'entitlement_feature');
  if (!featureId) throw missingParam('entitlement_feature');
  const feature = ctx.store.features.get(featureId);
  if (!feature) throw noSuchReference('feature', featureId, 'entitlement_feature');
  if (!feature.active) {
    throw invalidRequest(
      `The feature \`${featureId}\` is archived and cannot be attached to a product.`,
      'entitlement_feature',
    );
  }
  if (attachmentsOf(ctx, productId).some((r) => r.feature === featureId)) {
    throw invalidRequest(
      `The feature \`${featureId}\` is already attached to product \`${productId}\`.`,
      'entitlement_feature',
      'resource_already_exists',
    );
  }
  const record: Obj = {
    id: newId('prodft'),
    product: productId,
    feature: featureId,
    created: ctx.store.clock.now(),
  };
  ctx.store.productFeatures.insert(record);
  syncCustomersOfProduct(ctx, productId);
  return renderProductFeature(ctx, record);
}

function findAttachment(ctx: Ctx, productId: string, id: string): Obj {
  findProduct(ctx, productId);
  const record = ctx.store.productFeatures.get(id);
  if (!record || record.product !== productId) throw noSuchObject('product_feature', id);
  return record;
}

function detachFeature(ctx: Ctx, productId: string, id: string): Obj {
  findAttachment(ctx, productId, id);
  ctx.store.productFeatures.delete(id);
  syncCustomersOfProduct(ctx, productId);
  return { id, object: 'product_feature', deleted: true };
}

const attachmentsOf = (ctx: Ctx, productId: string): Obj[] =>
  ctx.store.productFeatures.where('product', productId);

/** Active features a customer holds through its entitling subscriptions, oldest attachment first. */
function entitledFeatureIds(ctx: Ctx, customerId: string): string[] {
  const products = new Set<string>();
  for (const sub of ctx.store.subscriptions.where('customer', customerId)) {
    if (NON_ENTITLING.includes(sub.status)) continue;
    for (const item of sub.items) {
      const price = ctx.store.prices.get(item.price);
      if (price) products.add(price.product as string);
    }
  }
  const attachments = [...products]
    .flatMap((p) => [...ctx.store.productFeatures.scope('product', p).oldestFirst()])
    .sort((a, b) => a.seq - b.seq);
  const ids = new Set<string>();
  for (const { row: record } of attachments) {
    if (ctx.store.features.get(record.feature)?.active) ids.add(record.feature);
  }
  return [...ids];
}

function renderEntitlement(ctx: Ctx, record: Obj, expandFeature = false): Obj {
  const feature = ctx.store.features.get(record.feature)!;
  return {
    id: record.id,
    object: 'entitlements.active_entitlement',
    feature: expandFeature ? renderFeature(feature) : feature.id,
    livemode: false,
    lookup_key: feature.lookup_key,
  };
}

/**
 * Brings a customer's active entitlements in line with its subscriptions. Entitlements that stay
 * keep their id; when the set changed, one summary event carries (at most SUMMARY_LIMIT of) them.
 */
export function syncActiveEntitlements(ctx: Ctx, customerId: string): void {
  const wanted = entitledFeatureIds(ctx, customerId);
  const current = ctx.store.activeEntitlements.where('customer', customerId);
  let changed = false;
  for (const record of current) {
    if (wanted.includes(record.feature)) continue;
    ctx.store.activeEntitlements.delete(record.id);
    changed = true;
  }
  for (const featureId of wanted) {
    if (current.some((e) => e.feature === featureId)) continue;
    ctx.store.activeEntitlements.insert({
      id: newId('ent_test'),
      customer: customerId,
      feature: featureId,
      created: ctx.store.clock.now(),
    });
    changed = true;
  }
  if (!changed) return;
  const all = ctx.store.activeEntitlements
    .where('customer', customerId)
    .map((e) => renderEntitlement(ctx, e, true));
  const entitlements = listOf(
    `/v1/entitlements/active_entitlements?customer=${customerId}`,
    all.slice(0, SUMMARY_LIMIT),
    all.length > SUMMARY_LIMIT,
  );
  ctx.events.emit(
    'entitlements.active_entitlement_summary.updated',
    {
      object: 'entitlements.active_entitlement_summary',
      customer: customerId,
      entitlements,
      livemode: false,
    },
    null,
    ctx.request,
  );
}

function syncCustomersOfProduct(ctx: Ctx, productId: string): void {
  const customers = new Set<string>();
  for (const sub of ctx.store.subscriptions.values().reverse()) {
    if (sub.items.some((i) => ctx.store.prices.get(i.price)?.product === productId))
      customers.add(sub.customer);
  }
  for (const customerId of customers) syncActiveEntitlements(ctx, customerId);
}

function syncEveryCustomer(ctx: Ctx): void {
  const customers = new Set(
    ctx.store.subscriptions
      .values()
      .reverse()
      .map((s) => s.customer as string),
  );
  for (const customerId of customers) syncActiveEntitlements(ctx, customerId);
}

export const entitlementRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/entitlements/features',
    handler: ({ ctx, params }) => createFeature(ctx, params),
  },
  {
    method: 'GET',
    path: '/v1/entitlements/features/:id',
    handler: ({ ctx, id }) => renderFeature(findFeature(ctx, id)),
  },
  {
    method: 'POST',
    path: '/v1/entitlements/features/:id',
    handler: ({ ctx, id, params }) => updateFeature(ctx, id, params),
  },
  {
    method: 'GET',
    path: '/v1/entitlements/features',
    handler: ({ ctx, params }) => {
      const archived = bool(params, 'archived');
      const lookupKey = str(params, 'lookup_key');
      return paginate(ctx.store.features, params, {
        url: '/v1/entitlements/features',
        kind: 'feature',
        filter: (f) =>
          (archived === undefined || f.active === !archived) &&
          (lookupKey === undefined || f.lookup_key === lookupKey),
        render: renderFeature,
      });
    },
  },
  {
    method: 'POST',
    path: '/v1/products/:id/features',
    handler: ({ ctx, id, params }) => attachFeature(ctx, id, params),
  },
  {
    method: 'GET',
    path: '/v1/products/:id/features',
    handler: ({ ctx, id, params }) => {
      findProduct(ctx, id);
      return paginate(ctx.store.productFeatures, params, {
        url: `/v1/products/${id}/features`,
        kind: 'product_feature',
        scope: ctx.store.productFeatures.scope('product', id),
        render: (r) => renderProductFeature(ctx, r),
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/products/:id/features/:sub',
    handler: ({ ctx, id, subId }) => renderProductFeature(ctx, findAttachment(ctx, id, subId)),
  },
  {
    method: 'DELETE',
    path: '/v1/products/:id/features/:sub',
    handler: ({ ctx, id, subId }) => detachFeature(ctx, id, subId),
  },
  {
    method: 'GET',
    path: '/v1/entitlements/active_entitlements',
    handler: ({ ctx, params }) => {
      const customer = str(params, 'customer');
      if (!customer) throw missingParam('customer');
      return paginate(ctx.store.activeEntitlements, params, {
        url: '/v1/entitlements/active_entitlements',
        kind: 'active_entitlement',
        scope: ctx.store.activeEntitlements.scope('customer', customer),
        render: (e) => renderEntitlement(ctx, e),
      });
    },
  },
  {
    method: 'GET',
    path: '/v1/entitlements/active_entitlements/:id',
    handler: ({ ctx, id }) => {
      const record = ctx.store.activeEntitlements.get(id);
      if (!record) throw noSuchObject('active_entitlement', id);
      return renderEntitlement(ctx, record);
    },
  },
];
