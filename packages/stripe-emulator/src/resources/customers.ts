import type { Ctx, Route } from '../context.js';
import { noSuchObject } from '../errors.js';
import { previousAttributes } from '../events.js';
import { newId, randomSuffix } from '../ids.js';
import { paginate } from '../list.js';
import { applyMetadata, nullableStr, str, type Params } from '../params.js';
import type { Obj } from '../store.js';
import { cancelSubscriptionRecord } from './subscriptions.js';
import { liveCustomer } from './customer-lookup.js';

export { liveCustomer } from './customer-lookup.js';

const NULLABLE_FIELDS = ['description', 'email', 'name', 'phone'] as const;

/** What Stripe returns wherever a deleted customer is referenced or retrieved. */
export function deletedCustomerStub(id: string): Obj {
  return { id, object: 'customer', deleted: true };
}

export function createCustomer(ctx: Ctx, params: Params): Obj {
  const customer: Obj = {
    id: newId('cus'),
    object: 'customer',
    address: null,
    balance: 0,
    created: ctx.store.clock.now(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: null,
    discount: null,
    email: null,
    invoice_prefix: randomSuffix(8).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: applyMetadata({}, params),
    name: null,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
  for (const key of NULLABLE_FIELDS) customer[key] = nullableStr(params, key) ?? null;
  ctx.store.customers.insert(customer);
  ctx.events.emit('customer.created', customer, null, ctx.request);
  return customer;
}

function updateCustomer(ctx: Ctx, id: string, params: Params): Obj {
  const customer = liveCustomer(ctx, id);
  if (!customer) throw noSuchObject('customer', id);
  const metadata = applyMetadata(customer.metadata, params);
  const before = structuredClone(customer);
  for (const key of NULLABLE_FIELDS) {
    const v = nullableStr(params, key);
    if (v !== undefined) customer[key] = v;
  }
  customer.metadata = metadata;
  const prev = previousAttributes(before, customer);
  if (prev) ctx.events.emit('customer.updated', customer, prev, ctx.request);
  return customer;
}

function deleteCustomer(ctx: Ctx, id: string): Obj {
  const customer = liveCustomer(ctx, id);
  if (!customer) throw noSuchObject('customer', id);
  // Deleting a customer immediately cancels its subscriptions, each with its own event.
  for (const sub of ctx.store.subscriptions.where('customer', id)) {
    if (sub.status !== 'canceled' && sub.status !== 'incomplete_expired') {
      cancelSubscriptionRecord(ctx, sub);
    }
  }
  const snapshot = structuredClone(customer);
  customer.deleted = true;
  ctx.events.emit('customer.deleted', snapshot, null, ctx.request);
  return deletedCustomerStub(id);
}

export const customerRoutes: Route[] = [
  { method: 'POST', path: '/v1/customers', handler: ({ ctx, params }) => createCustomer(ctx, params) },
  {
    method: 'GET',
    path: '/v1/customers/:id',
    handler: ({ ctx, id }) => {
      const customer = ctx.store.customers.get(id);
      if (!customer) throw noSuchObject('customer', id);
      return customer.deleted ? deletedCustomerStub(id) : customer;
    },
  },
  {
    method: 'POST',
    path: '/v1/customers/:id',
    handler: ({ ctx, id, params }) => updateCustomer(ctx, id, params),
  },
  { method: 'DELETE', path: '/v1/customers/:id', handler: ({ ctx, id }) => deleteCustomer(ctx, id) },
  {
    method: 'GET',
    path: '/v1/customers',
    handler: ({ ctx, params }) => {
      const email = str(params, 'email');
      return paginate(ctx.store.customers, params, {
        url: '/v1/customers',
        kind: 'customer',
        filter: (c) => !c.deleted && (email === undefined || c.email === email),
      });
    },
  },
];
