import type { Ctx, Route } from '../context.js';
import { invalidRequest, missingParam, noSuchObject, noSuchReference } from '../errors.js';
import { previousAttributes } from '../events.js';
import { newId } from '../ids.js';
import { listOf, paginate } from '../list.js';
import { applyMetadata, arr, bool, int, nullableStr, obj, oneOf, str, type Params } from '../params.js';
import type { Obj, SubscriptionItemRecord, SubscriptionRecord } from '../store.js';
import { liveCustomer } from './customer-lookup.js';
import { syncActiveEntitlements } from './entitlements.js';

export const SUBSCRIPTION_STATUSES = [
  'incomplete',
  'incomplete_expired',
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'paused',
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
const ENDED: readonly string[] = ['canceled', 'incomplete_expired'];
const DAY = 86_400;

/** Calendar-aware period end (months/years clamp to the last day, like Stripe's billing anchors). */
export function addInterval(start: number, interval: string, count: number): number {
  if (interval === 'day') return start + count * DAY;
  if (interval === 'week') return start + count * 7 * DAY;
  const d = new Date(start * 1000);
  const months = interval === 'year' ? 12 * count : count;
  const day = d.getUTCDate();
  const target = new Date(d.getTime());
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(day, lastDay));
  return Math.floor(target.getTime() / 1000);
}

/** The legacy `plan` view of a recurring price that Stripe still embeds in subscription items. */
function planFromPrice(price: Obj): Obj {
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? null,
    interval_count: price.recurring?.interval_count ?? null,
    livemode: false,
    metadata: structuredClone(price.metadata),
    meter: price.recurring?.meter ?? null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: price.tiers_mode,
    transform_usage: null,
    trial_period_days: price.recurring?.trial_period_days ?? null,
    usage_type: price.recurring?.usage_type ?? 'licensed',
  };
}

function renderItem(ctx: Ctx, sub: SubscriptionRecord, item: SubscriptionItemRecord): Obj {
  const price = structuredClone(ctx.store.prices.get(item.price) ?? { id: item.price, object: 'price' });
  return {
    id: item.id,
    object: 'subscription_item',
    billing_thresholds: null,
    created: item.created,
    current_period_end: item.current_period_end,
    current_period_start: item.current_period_start,
    // Item-level trials come from Trial Offers, which the emulator does not model; subscription trials use trial_end.
    current_trial: null,
    discounts: [],
    metadata: structuredClone(item.metadata),
    plan: planFromPrice(price),
    price,
    quantity: item.quantity,
    subscription: sub.id,
    tax_rates: [],
  };
}

/** The API view: items become a list with current price objects embedded. */
export function renderSubscription(ctx: Ctx, sub: SubscriptionRecord): Obj {
  const items = listOf(
    `/v1/subscription_items?subscription=${sub.id}`,
    sub.items.map((i) => renderItem(ctx, sub, i)),
  ) as Obj;
  items.total_count = sub.items.length;
  const { items: _records, ...fields } = sub;
  return { ...structuredClone(fields), items };
}

function findSubscription(ctx: Ctx, id: string): SubscriptionRecord {
  const sub = ctx.store.subscriptions.get(id);
  if (!sub) throw noSuchObject('subscription', id);
  return sub;
}

/** Validates a price reference in `items[i][price]`; subscriptions accept only active recurring prices. */
function recurringPrice(ctx: Ctx, priceId: string | undefined, param: string): Obj {
  if (!priceId) throw missingParam(param);
  const price = ctx.store.prices.get(priceId);
  if (!price) throw noSuchReference('price', priceId, param);
  if (price.type !== 'recurring') {
    throw invalidRequest(
      'The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.',
      param,
    );
  }
  if (!price.active)
    throw invalidRequest('The price specified is inactive. This field only accepts active prices.', param);
  return price;
}

function periodFor(price: Obj, anchor: number, trialEnd: number | null): { start: number; end: number } {
  const start = anchor;
  const end = trialEnd ?? addInterval(anchor, price.recurring.interval, price.recurring.interval_count);
  return { start, end };
}

function quantityOf(item: Params, param: string): number | undefined {
  const q = int(item, 'quantity', param);
  if (q !== undefined && q < 0) throw invalidRequest('This value must be greater than or equal to 0.', param);
  return q;
}

function assertNoDuplicatePrices(items: SubscriptionItemRecord[]): void {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.price)) {
      throw invalidRequest(
        `Cannot add multiple subscription items with the same price: ${item.price}`,
        'items',
      );
    }
    seen.add(item.price);
  }
}

/** `trial_end` accepts a unix timestamp or the string `now`. */
function trialEndParam(ctx: Ctx, params: Params): number | 'now' | undefined {
  const v = params.trial_end;
  if (v === undefined || v === '') return undefined;
  if (v === 'now') return 'now';
  const t = int(params, 'trial_end');
  if (t !== undefined && t <= ctx.store.clock.now()) {
    throw invalidRequest('Invalid timestamp: must be an integer Unix timestamp in the future.', 'trial_end');
  }
  return t;
}

/** Exported for checkout completion, so a checkout-made subscription is indistinguishable from an API-made one. */
export function createSubscription(ctx: Ctx, params: Params): Obj {
  const customerId = str(params, 'customer');
  if (!customerId) throw missingParam('customer');
  const customer = liveCustomer(ctx, customerId);
  if (!customer) throw noSuchReference('customer', customerId, 'customer');
  const itemParams = arr(params, 'items');
  if (!itemParams || itemParams.length === 0) throw missingParam('items');

  const now = ctx.store.clock.now();
  const trialDays = int(params, 'trial_period_days');
  if (trialDays !== undefined && (trialDays < 0 || trialDays > 730)) {
    throw invalidRequest('trial_period_days must be between 0 and 730.', 'trial_period_days');
  }
  const trialEndValue = trialEndParam(ctx, params);
  let trialEnd: number | null = null;
  if (typeof trialEndValue === 'number') trialEnd = trialEndValue;
  else if (trialDays) trialEnd = now + trialDays * DAY;
  const paymentBehavior = oneOf(params, 'payment_behavior', [
    'allow_incomplete',
    'default_incomplete',
    'error_if_incomplete',
    'pending_if_incomplete',
  ] as const);
  oneOf(params, 'proration_behavior', ['always_invoice', 'create_prorations', 'none'] as const);
  const collectionMethod =
    oneOf(params, 'collection_method', ['charge_automatically', 'send_invoice'] as const) ??
    'charge_automatically';

  const id = newId('sub');
  const items: SubscriptionItemRecord[] = itemParams.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw invalidRequest('Invalid hash', `items[${i}]`);
    const item = raw as Params;
    const price = recurringPrice(ctx, str(item, 'price', `items[${i}][price]`), `items[${i}][price]`);
    const period = periodFor(price, now, trialEnd);
    return {
      id: newId('si'),
      created: now,
      price: price.id,
      quantity: quantityOf(item, `items[${i}][quantity]`) ?? 1,
      metadata: applyMetadata({}, item),
      current_period_start: period.start,
      current_period_end: period.end,
    };
  });
  assertNoDuplicatePrices(items);
  const currencies = new Set(items.map((i) => ctx.store.prices.get(i.price)!.currency));
  if (currencies.size > 1) {
    throw invalidRequest('All prices on a subscription must have the same `currency`.', 'items');
  }
  const cancelAtPeriodEnd = bool(params, 'cancel_at_period_end') ?? false;
  const status: SubscriptionStatus = trialEnd
    ? 'trialing'
    : paymentBehavior === 'default_incomplete'
      ? 'incomplete'
      : 'active';

  const sub: SubscriptionRecord = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: trialEnd ?? now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible', updated_at: now },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: cancelAtPeriodEnd ? items[0]!.current_period_end : null,
    cancel_at_period_end: cancelAtPeriodEnd,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: collectionMethod,
    created: now,
    currency: [...currencies][0]!,
    customer: customerId,
    customer_account: null,
    days_until_due: int(params, 'days_until_due') ?? null,
    default_payment_method: nullableStr(params, 'default_payment_method') ?? null,
    default_source: null,
    default_tax_rates: [],
    description: nullableStr(params, 'description') ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' },
    },
    items,
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: applyMetadata({}, params),
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status,
    test_clock: null,
    transfer_data: null,
    trial_end: trialEnd,
    // billing_cycle_anchor null means Stripe's default, `now`.
    trial_settings: {
      end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' },
    },
    trial_start: trialEnd ? now : null,
  };
  ctx.store.subscriptions.insert(sub);
  for (const item of items) ctx.store.subscriptionOfItem.set(item.id, id);
  const rendered = renderSubscription(ctx, sub);
  ctx.events.emit('customer.subscription.created', rendered, null, ctx.request);
  syncActiveEntitlements(ctx, customerId);
  return rendered;
}

/**
 * Applies an update to a copy so that a validation error half-way through
 * leaves the stored subscription untouched, then commits and emits.
 */
function updateSubscription(ctx: Ctx, id: string, params: Params): Obj {
  const sub = findSubscription(ctx, id);
  const before = renderSubscription(ctx, sub);
  const next: SubscriptionRecord = structuredClone(sub);
  const now = ctx.store.clock.now();

  if (ENDED.includes(sub.status)) {
    const allowed = new Set(['metadata', 'cancellation_details', 'expand']);
    const offending = Object.keys(params).find((k) => !allowed.has(k));
    if (offending) {
      throw invalidRequest(
        'A canceled subscription can only update its cancellation_details and metadata.',
        offending,
      );
    }
  }

  oneOf(params, 'proration_behavior', ['always_invoice', 'create_prorations', 'none'] as const);
  oneOf(params, 'payment_behavior', [
    'allow_incomplete',
    'default_incomplete',
    'error_if_incomplete',
    'pending_if_incomplete',
  ] as const);
  next.metadata = applyMetadata(sub.metadata, params);

  const itemParams = arr(params, 'items');
  if (itemParams) {
    itemParams.forEach((raw, i) => {
      if (typeof raw !== 'object' || raw === null) throw invalidRequest('Invalid hash', `items[${i}]`);
      const item = raw as Params;
      const itemId = str(item, 'id', `items[${i}][id]`);
      const quantity = quantityOf(item, `items[${i}][quantity]`);
      if (itemId) {
        const existing = next.items.find((it) => it.id === itemId);
        if (!existing) throw noSuchReference('subscription item', itemId, `items[${i}][id]`);
        if (bool(item, 'deleted', `items[${i}][deleted]`)) {
          next.items = next.items.filter((it) => it.id !== itemId);
          return;
        }
        const priceId = str(item, 'price', `items[${i}][price]`);
        if (priceId && priceId !== existing.price) {
          existing.price = recurringPrice(ctx, priceId, `items[${i}][price]`).id;
        }
        if (quantity !== undefined) existing.quantity = quantity;
        existing.metadata = applyMetadata(existing.metadata, item);
      } else {
        const price = recurringPrice(ctx, str(item, 'price', `items[${i}][price]`), `items[${i}][price]`);
        const template = next.items[0];
        next.items.push({
          id: newId('si'),
          created: now,
          price: price.id,
          quantity: quantity ?? 1,
          metadata: applyMetadata({}, item),
          current_period_start: template?.current_period_start ?? now,
          current_period_end:
            template?.current_period_end ??
            addInterval(now, price.recurring.interval, price.recurring.interval_count),
        });
      }
    });
    if (next.items.length === 0) {
      throw invalidRequest('A subscription must have at least one item.', 'items');
    }
    assertNoDuplicatePrices(next.items);
  }

  const trialEnd = trialEndParam(ctx, params);
  if (trialEnd === 'now') {
    if (next.status === 'trialing') {
      next.trial_end = now;
      next.status = 'active';
      for (const item of next.items) {
        const price = ctx.store.prices.get(item.price)!;
        item.current_period_start = now;
        item.current_period_end = addInterval(now, price.recurring.interval, price.recurring.interval_count);
      }
      next.billing_cycle_anchor = now;
    }
  } else if (trialEnd !== undefined) {
    next.trial_end = trialEnd;
    next.trial_start ??= now;
    next.status = 'trialing';
    for (const item of next.items) item.current_period_end = trialEnd;
  }

  const periodEnd = next.items[0]?.current_period_end ?? null;
  const cancelAtPeriodEnd = bool(params, 'cancel_at_period_end');
  if (cancelAtPeriodEnd !== undefined) {
    next.cancel_at_period_end = cancelAtPeriodEnd;
    next.cancel_at = cancelAtPeriodEnd ? periodEnd : null;
    next.canceled_at = cancelAtPeriodEnd ? now : null;
    next.cancellation_details = {
      comment: null,
      feedback: null,
      feedback_option: null,
      reason: cancelAtPeriodEnd ? 'cancellation_requested' : null,
    };
  }
  if (params.cancel_at !== undefined) {
    const cancelAt = int(params, 'cancel_at') ?? null;
    next.cancel_at = cancelAt;
    next.cancel_at_period_end = cancelAt !== null && cancelAt === periodEnd;
  }
  const details = obj(params, 'cancellation_details');
  if (details) {
    next.cancellation_details = {
      ...next.cancellation_details,
      ...(details.comment !== undefined ? { comment: nullableStr(details, 'comment') ?? null } : {}),
      ...(details.feedback !== undefined ? { feedback: nullableStr(details, 'feedback') ?? null } : {}),
    };
  }
  for (const key of ['description', 'default_payment_method'] as const) {
    const v = nullableStr(params, key);
    if (v !== undefined) next[key] = v;
  }
  const currencies = new Set(next.items.map((i) => ctx.store.prices.get(i.price)!.currency));
  if (currencies.size > 1)
    throw invalidRequest('All prices on a subscription must have the same `currency`.', 'items');

  for (const item of sub.items) ctx.store.subscriptionOfItem.delete(item.id);
  for (const item of next.items) ctx.store.subscriptionOfItem.set(item.id, sub.id);
  Object.assign(sub, next);
  const after = renderSubscription(ctx, sub);
  const prev = previousAttributes(before, after);
  if (prev) ctx.events.emit('customer.subscription.updated', after, prev, ctx.request);
  syncActiveEntitlements(ctx, sub.customer);
  return after;
}

/** Immediate cancellation; shared with customer deletion. */
/** The API's item update path, for flows that move items without a subscriptions.update call (the portal). */
export function updateSubscriptionItems(ctx: Ctx, id: string, items: Params[]): Obj {
  return updateSubscription(ctx, id, { items });
}

export function cancelSubscriptionRecord(ctx: Ctx, sub: SubscriptionRecord, details?: Params): Obj {
  const now = ctx.store.clock.now();
  sub.status = 'canceled';
  sub.canceled_at = now;
  sub.ended_at = now;
  sub.cancel_at ??= null;
  sub.cancellation_details = {
    comment: (details && nullableStr(details, 'comment')) ?? null,
    feedback: (details && nullableStr(details, 'feedback')) ?? null,
    feedback_option: null,
    reason: 'cancellation_requested',
  };
  const rendered = renderSubscription(ctx, sub);
  ctx.events.emit('customer.subscription.deleted', rendered, null, ctx.request);
  syncActiveEntitlements(ctx, sub.customer);
  return rendered;
}

/** Test helper: force a status transition the way Stripe's billing engine would report it. */
export function setSubscriptionStatus(ctx: Ctx, id: string, status: SubscriptionStatus): Obj {
  const sub = ctx.store.subscriptions.get(id);
  if (!sub) throw new Error(`No such subscription: '${id}'`);
  const before = renderSubscription(ctx, sub);
  const now = ctx.store.clock.now();
  sub.status = status;
  if (status === 'canceled') {
    sub.canceled_at ??= now;
    sub.ended_at ??= now;
  } else {
    sub.ended_at = null;
  }
  if (status !== 'trialing' && before.status === 'trialing' && sub.trial_end && sub.trial_end > now)
    sub.trial_end = now;
  const after = renderSubscription(ctx, sub);
  const event = ctx.events.emit(
    'customer.subscription.updated',
    after,
    previousAttributes(before, after) ?? { status: before.status },
  );
  // Only statuses that end entitlements change them, so trial end and pause send no summary event (as on Stripe).
  syncActiveEntitlements(ctx, sub.customer);
  return event;
}

/** The subscription holding item `id` and the item (the items API addresses items directly). */
function findItem(ctx: Ctx, id: string): { sub: SubscriptionRecord; item: SubscriptionItemRecord } {
  const subId = ctx.store.subscriptionOfItem.get(id);
  const sub = subId === undefined ? undefined : ctx.store.subscriptions.get(subId);
  const item = sub?.items.find((i) => i.id === id);
  if (!sub || !item) throw noSuchObject('subscription_item', id);
  return { sub, item };
}

/** The item params the items API shares with `items[i]` of a subscription update. */
function itemParams(params: Params, keys: readonly string[]): Params {
  return Object.fromEntries(keys.filter((k) => params[k] !== undefined).map((k) => [k, params[k]]));
}

/**
 * POST /v1/subscription_items: a new item on a subscription, through the same path as `items` on
 * a subscription update (validation, customer.subscription.updated, active entitlements).
 */
function createItem(ctx: Ctx, params: Params): Obj {
  const subId = str(params, 'subscription');
  if (!subId) throw missingParam('subscription');
  const sub = ctx.store.subscriptions.get(subId);
  if (!sub) throw noSuchReference('subscription', subId, 'subscription');
  if (!str(params, 'price')) throw missingParam('price');
  const before = new Set(sub.items.map((i) => i.id));
  updateSubscription(ctx, subId, { items: [itemParams(params, ['price', 'quantity', 'metadata'])] });
  const created = findSubscription(ctx, subId).items.find((i) => !before.has(i.id))!;
  return renderItem(ctx, findSubscription(ctx, subId), created);
}

function updateItem(ctx: Ctx, id: string, params: Params): Obj {
  const { sub } = findItem(ctx, id);
  updateSubscription(ctx, sub.id, {
    items: [{ id, ...itemParams(params, ['price', 'quantity', 'metadata']) }],
  });
  const after = findSubscription(ctx, sub.id);
  return renderItem(
    ctx,
    after,
    after.items.find((i) => i.id === id)!,
  );
}

function deleteItem(ctx: Ctx, id: string): Obj {
  const { sub } = findItem(ctx, id);
  if (sub.items.length === 1) {
    throw invalidRequest(
      'A subscription must have at least one active plan. To cancel a subscription, please use the cancel API endpoint on /v1/subscriptions.',
      'id',
    );
  }
  updateSubscription(ctx, sub.id, { items: [{ id, deleted: 'true' }] });
  return { id, object: 'subscription_item', deleted: true };
}

export const subscriptionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/subscriptions',
    handler: ({ ctx, params }) => createSubscription(ctx, params),
  },
  {
    method: 'GET',
    path: '/v1/subscriptions/:id',
    handler: ({ ctx, id }) => renderSubscription(ctx, findSubscription(ctx, id)),
  },
  {
    method: 'POST',
    path: '/v1/subscriptions/:id',
    handler: ({ ctx, id, params }) => updateSubscription(ctx, id, params),
  },
  {
    method: 'DELETE',
    path: '/v1/subscriptions/:id',
    handler: ({ ctx, id, params }) => {
      const sub = findSubscription(ctx, id);
      if (ENDED.includes(sub.status)) {
        throw invalidRequest(`This subscription has already been canceled: '${id}'`, 'id');
      }
      return cancelSubscriptionRecord(ctx, sub, obj(params, 'cancellation_details'));
    },
  },
  {
    method: 'GET',
    path: '/v1/subscriptions',
    handler: ({ ctx, params }) => {
      const customer = str(params, 'customer');
      const price = str(params, 'price');
      const status = oneOf(params, 'status', [...SUBSCRIPTION_STATUSES, 'all', 'ended'] as const);
      const statusMatches = (s: string) =>
        status === 'all' ||
        (status === 'ended' ? ENDED.includes(s) : status === undefined ? !ENDED.includes(s) : s === status);
      return paginate(ctx.store.subscriptions, params, {
        url: '/v1/subscriptions',
        kind: 'subscription',
        ...(customer === undefined ? {} : { scope: ctx.store.subscriptions.scope('customer', customer) }),
        filter: (s) =>
          statusMatches(s.status) && (price === undefined || s.items.some((i) => i.price === price)),
        render: (s) => renderSubscription(ctx, s),
      });
    },
  },
  {
    method: 'POST',
    path: '/v1/subscription_items',
    handler: ({ ctx, params }) => createItem(ctx, params),
  },
  {
    method: 'GET',
    path: '/v1/subscription_items/:id',
    handler: ({ ctx, id }) => {
      const { sub, item } = findItem(ctx, id);
      return renderItem(ctx, sub, item);
    },
  },
  {
    method: 'POST',
    path: '/v1/subscription_items/:id',
    handler: ({ ctx, id, params }) => updateItem(ctx, id, params),
  },
  {
    method: 'DELETE',
    path: '/v1/subscription_items/:id',
    handler: ({ ctx, id }) => deleteItem(ctx, id),
  },
  {
    method: 'GET',
    path: '/v1/subscription_items',
    handler: ({ ctx, params }) => {
      const subId = str(params, 'subscription');
      if (!subId) throw missingParam('subscription');
      const sub = ctx.store.subscriptions.get(subId);
      if (!sub) throw noSuchReference('subscription', subId, 'subscription');
      return renderSubscription(ctx, sub).items as Obj;
    },
  },
];

/**
 * What Stripe's billing engine does when a subscription reaches its period end (a test clock
 * advanced past it): every item moves to the next period, starting where the last one ended, and
 * customer.subscription.updated is sent with the previous period in previous_attributes. The
 * emulator's clock must already be at or past the end. Answers the event; the renewal invoice is
 * the caller's (helpers.renewSubscription).
 */
export function renewSubscriptionPeriod(ctx: Ctx, id: string): Obj {
  const sub = ctx.store.subscriptions.get(id);
  if (!sub) throw new Error(`No such subscription: '${id}'`);
  if (ENDED.includes(sub.status as string))
    throw new Error(`Subscription ${id} has ended; it does not renew`);
  const end = sub.items[0]!.current_period_end;
  if (ctx.store.clock.now() < end)
    throw new Error(`Subscription ${id} renews at ${end}; advance the clock to it first (advanceClock)`);
  const before = renderSubscription(ctx, sub);
  for (const item of sub.items) {
    const price = ctx.store.prices.get(item.price) as
      { recurring?: { interval: string; interval_count: number } } | undefined;
    const recurring = price?.recurring ?? { interval: 'month', interval_count: 1 };
    item.current_period_start = item.current_period_end;
    item.current_period_end = addInterval(
      item.current_period_start,
      recurring.interval,
      recurring.interval_count,
    );
  }
  const after = renderSubscription(ctx, sub);
  return ctx.events.emit(
    'customer.subscription.updated',
    after,
    previousAttributes(before, after) ?? { items: before.items },
  );
}
