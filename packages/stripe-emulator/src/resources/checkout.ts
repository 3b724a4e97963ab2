import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { NO_REQUEST, type RequestRef } from '../events.js';
import { newId } from '../ids.js';
import { listOf, paginate } from '../list.js';
import { applyMetadata, arr, int, nullableStr, obj, oneOf, str, type Params } from '../params.js';
import type { Obj } from '../store.js';
import { liveCustomer } from './customer-lookup.js';
import { createSubscription } from './subscriptions.js';

interface LineItemRecord {
  price: string;
  quantity: number;
}

/** Stripe demands 30 minutes to 24 hours ahead; any future time is accepted here so tests can watch a session expire. */
function expiresAtParam(params: Params, now: number): number {
  const expiresAt = int(params, 'expires_at');
  if (expiresAt === undefined) return now + 24 * 3600;
  if (expiresAt <= now)
    throw invalidRequest('The `expires_at` timestamp must be in the future.', 'expires_at');
  return expiresAt;
}

function createSession(ctx: Ctx, params: Params): Obj {
  const mode = oneOf(params, 'mode', ['payment', 'setup', 'subscription'] as const);
  if (!mode) throw missingParam('mode');
  const customerId = str(params, 'customer');
  if (customerId && !liveCustomer(ctx, customerId)) throw noSuchReference('customer', customerId, 'customer');
  const customerEmail = nullableStr(params, 'customer_email') ?? null;
  if (customerId && customerEmail) {
    throw invalidRequest(
      'You may only specify one of these parameters: customer, customer_email.',
      'customer_email',
    );
  }
  const uiMode = oneOf(params, 'ui_mode', ['custom', 'embedded', 'hosted'] as const) ?? 'hosted';
  const successUrl = nullableStr(params, 'success_url') ?? null;
  const cancelUrl = nullableStr(params, 'cancel_url') ?? null;

  const lineItems: LineItemRecord[] = (arr(params, 'line_items') ?? []).map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw invalidRequest('Invalid hash', `line_items[${i}]`);
    const item = raw as Params;
    const priceId = str(item, 'price', `line_items[${i}][price]`);
    if (!priceId) throw missingParam(`line_items[${i}][price]`);
    const price = ctx.store.prices.get(priceId);
    if (!price) throw noSuchReference('price', priceId, `line_items[${i}][price]`);
    if (!price.active) {
      throw invalidRequest(
        'The price specified is inactive. This field only accepts active prices.',
        `line_items[${i}][price]`,
      );
    }
    return { price: priceId, quantity: int(item, 'quantity', `line_items[${i}][quantity]`) ?? 1 };
  });
  if (mode !== 'setup' && lineItems.length === 0) throw missingParam('line_items');
  if (
    mode === 'subscription' &&
    !lineItems.some((li) => ctx.store.prices.get(li.price)!.type === 'recurring')
  ) {
    throw invalidRequest(
      'You must provide at least one recurring price in `subscription` mode when using prices.',
      'line_items',
    );
  }
  if (mode === 'payment' && lineItems.some((li) => ctx.store.prices.get(li.price)!.type === 'recurring')) {
    throw invalidRequest(
      'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.',
      'line_items',
    );
  }

  const prices = lineItems.map((li) => ctx.store.prices.get(li.price)!);
  const currency = prices[0]?.currency ?? null;
  const amount = lineItems.reduce((s, li, i) => s + (prices[i]!.unit_amount ?? 0) * li.quantity, 0);
  const now = ctx.store.clock.now();
  const id = newId('cs_test');
  const session: Obj = {
    id,
    object: 'checkout.session',
    adaptive_pricing: null,
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: null,
    amount_subtotal: mode === 'setup' ? null : amount,
    amount_total: mode === 'setup' ? null : amount,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: cancelUrl,
    client_reference_id: nullableStr(params, 'client_reference_id') ?? null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: now,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: null,
    },
    customer: customerId ?? null,
    customer_account: null,
    customer_creation: customerId ? null : 'if_required',
    customer_details: null,
    customer_email: customerEmail,
    discounts: [],
    expires_at: expiresAtParam(params, now),
    integration_identifier: null,
    invoice: null,
    invoice_creation: null,
    livemode: false,
    locale: null,
    managed_payments: null,
    metadata: applyMetadata({}, params),
    mode,
    origin_context: null,
    payment_intent: null,
    payment_link: null,
    payment_method_collection: mode === 'subscription' ? 'always' : null,
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    payment_status: mode === 'setup' ? 'no_payment_required' : 'unpaid',
    permissions: null,
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: 'open',
    submit_type: null,
    subscription: null,
    success_url: successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: uiMode,
    url: uiMode === 'hosted' ? `${ctx.baseUrl}/checkout/${id}` : null,
    wallet_options: null,
    // Kept for `expand[]=line_items` and the line_items endpoint; stripped from responses.
    _line_items: lineItems,
    // Stripe never shows subscription_data on the session, but completion copies it to the subscription.
    _subscription_metadata: applyMetadata({}, obj(params, 'subscription_data') ?? {}),
  };
  ctx.store.checkoutSessions.insert(session);
  return renderSession(session);
}

export function renderSession(session: Obj): Obj {
  const { _line_items: _items, _subscription_metadata: _metadata, ...rest } = session;
  return structuredClone(rest);
}

/** Line items as Stripe renders them (`item` objects), used by expansion and the sub-resource. */
export function sessionLineItems(ctx: Ctx, session: Obj): Obj {
  const records = (session._line_items ?? []) as LineItemRecord[];
  const data = records.map((li, i) => {
    const price = structuredClone(ctx.store.prices.get(li.price)!);
    const product = ctx.store.products.get(price.product);
    const amount = (price.unit_amount ?? 0) * li.quantity;
    return {
      id: `li_${session.id.slice(-20)}${i}`,
      object: 'item',
      adjustable_quantity: null,
      amount_discount: 0,
      amount_subtotal: amount,
      amount_tax: 0,
      amount_total: amount,
      currency: price.currency,
      description: product?.name ?? null,
      metadata: {},
      price,
      quantity: li.quantity,
    };
  });
  return listOf(`/v1/checkout/sessions/${session.id}/line_items`, data);
}

/** The one way a session stops being open without payment, so explicit and lazy expiry leave the same state. */
function expireSession(ctx: Ctx, session: Obj, request: RequestRef): Obj {
  session.status = 'expired';
  // Stripe only hands out a url while the session can still be paid.
  session.url = null;
  const rendered = renderSession(session);
  ctx.events.emit('checkout.session.expired', rendered, null, request);
  return rendered;
}

/**
 * Stripe expires a session on its own at `expires_at`; the emulator has no timer, so
 * every path that touches a session catches up here first. The expiry is not caused
 * by the current request, hence no request reference on its event.
 */
export function expireIfDue(ctx: Ctx, session: Obj): Obj {
  if (session.status === 'open' && session.expires_at <= ctx.store.clock.now())
    expireSession(ctx, session, NO_REQUEST);
  return session;
}

function findSession(ctx: Ctx, id: string): Obj {
  const session = ctx.store.checkoutSessions.get(id);
  if (!session) throw noSuchObject('checkout.session', id);
  return expireIfDue(ctx, session);
}

function expireOpenSession(ctx: Ctx, id: string): Obj {
  const session = findSession(ctx, id);
  if (session.status !== 'open') {
    throw invalidRequest(
      `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
    );
  }
  return expireSession(ctx, session, ctx.request);
}

/**
 * Test helper standing in for a customer paying on the hosted page (Stripe has no API
 * for it). The subscription goes through the API's own creation path so its shape and
 * `customer.subscription.created` event match an API-created one.
 */
export function completeCheckoutSession(ctx: Ctx, id: string): Obj {
  const stored = ctx.store.checkoutSessions.get(id);
  if (!stored) throw new Error(`No such checkout session: '${id}'`);
  const session = expireIfDue(ctx, stored);
  if (session.status !== 'open') {
    throw new Error(
      `Only open Checkout Sessions can be completed; ${id} has a status of "${session.status}".`,
    );
  }
  if (session.mode !== 'subscription') {
    throw new Error(
      `Only subscription-mode Checkout Sessions can be completed; ${id} is in "${session.mode}" mode.`,
    );
  }
  if (!session.customer)
    throw new Error(`Checkout Session ${id} has no customer; create it with \`customer\` to complete it.`);
  const records = session._line_items as LineItemRecord[];
  const sub = createSubscription(ctx, {
    customer: session.customer,
    // One-time prices would land on the first invoice, which the emulator does not model.
    items: records
      .filter((li) => ctx.store.prices.get(li.price)?.type === 'recurring')
      .map((li) => ({ price: li.price, quantity: String(li.quantity) })),
    metadata: session._subscription_metadata,
  });
  session.status = 'complete';
  session.payment_status = 'paid';
  session.subscription = sub.id;
  session.url = null;
  const rendered = renderSession(session);
  ctx.events.emit('checkout.session.completed', rendered, null, ctx.request);
  return rendered;
}

export const checkoutRoutes: Route[] = [
  { method: 'POST', path: '/v1/checkout/sessions', handler: ({ ctx, params }) => createSession(ctx, params) },
  {
    method: 'GET',
    path: '/v1/checkout/sessions/:id',
    handler: ({ ctx, id }) => renderSession(findSession(ctx, id)),
  },
  {
    method: 'GET',
    path: '/v1/checkout/sessions/:id/line_items',
    handler: ({ ctx, id }) => sessionLineItems(ctx, findSession(ctx, id)),
  },
  {
    method: 'POST',
    path: '/v1/checkout/sessions/:id/expire',
    handler: ({ ctx, id }) => expireOpenSession(ctx, id),
  },
  {
    method: 'GET',
    path: '/v1/checkout/sessions',
    handler: ({ ctx, params }) => {
      const customer = str(params, 'customer');
      const status = oneOf(params, 'status', ['complete', 'expired', 'open'] as const);
      // Oldest first, so the catch-up expiry events come out in creation order.
      for (const session of ctx.store.checkoutSessions.values().reverse()) expireIfDue(ctx, session);
      return paginate(ctx.store.checkoutSessions, params, {
        url: '/v1/checkout/sessions',
        kind: 'checkout.session',
        filter: (s) =>
          (customer === undefined || s.customer === customer) &&
          (status === undefined || s.status === status),
        render: renderSession,
      });
    },
  },
];
