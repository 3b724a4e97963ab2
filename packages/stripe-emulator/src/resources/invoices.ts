import type { Ctx, Route } from '../context.js';
import { noSuchObject } from '../errors.js';
import { newId } from '../ids.js';
import { listOf, paginate } from '../list.js';
import { oneOf, str } from '../params.js';
import type { Obj, SubscriptionRecord } from '../store.js';

function lineFor(
  ctx: Ctx,
  sub: SubscriptionRecord,
  invoiceId: string,
  item: SubscriptionRecord['items'][number],
): Obj {
  const price = ctx.store.prices.get(item.price)!;
  const product = ctx.store.products.get(price.product);
  const amount = (price.unit_amount ?? 0) * item.quantity;
  return {
    id: newId('il'),
    object: 'line_item',
    amount,
    currency: price.currency,
    description: `${item.quantity} × ${product?.name ?? price.product}`,
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: invoiceId,
    livemode: false,
    metadata: {},
    parent: {
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: false,
        proration_details: { credited_items: null },
        subscription: sub.id,
        subscription_item: item.id,
      },
      type: 'subscription_item_details',
    },
    period: { end: item.current_period_end, start: item.current_period_start },
    pretax_credit_amounts: [],
    pricing: {
      price_details: { price: price.id, product: price.product },
      type: 'price_details',
      unit_amount_decimal: price.unit_amount_decimal,
    },
    quantity: item.quantity,
    quantity_decimal: String(item.quantity),
    subscription: sub.id,
    subtotal: amount,
    taxes: [],
  };
}

/**
 * An invoice for the subscription's current period, already finalized and
 * either paid or left open after a failed attempt. Invoices reach their
 * subscription through `parent.subscription_details` in this API version.
 */
export function createSubscriptionInvoice(ctx: Ctx, sub: SubscriptionRecord, succeeded: boolean): Obj {
  const now = ctx.store.clock.now();
  const id = newId('in');
  const customer = ctx.store.customers.get(sub.customer);
  const lines = sub.items.map((item) => lineFor(ctx, sub, id, item));
  const total = lines.reduce((sum, l) => sum + (l.amount as number), 0);
  const period = sub.items[0];
  const count = ctx.store.invoices.scope('customer', sub.customer).length + 1;
  const linesList = listOf(`/v1/invoices/${id}/lines`, lines) as Obj;
  linesList.total_count = lines.length;
  const invoice: Obj = {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Stripe Emulator',
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: succeeded ? total : 0,
    amount_remaining: succeeded ? 0 : total,
    amount_shipping: 0,
    application: null,
    attempt_count: 1,
    attempted: true,
    auto_advance: !succeeded,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: 'subscription_cycle',
    collection_method: sub.collection_method,
    created: now,
    currency: sub.currency,
    custom_fields: null,
    customer: sub.customer,
    customer_account: null,
    customer_address: null,
    customer_email: customer?.email ?? null,
    customer_name: customer?.name ?? null,
    customer_phone: customer?.phone ?? null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: now,
    ending_balance: 0,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: `${ctx.baseUrl}/invoices/${id}`,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: linesList,
    livemode: false,
    metadata: {},
    next_payment_attempt: succeeded ? null : now + 3 * 86_400,
    number: `${customer?.invoice_prefix ?? 'EMU'}-${String(count).padStart(4, '0')}`,
    on_behalf_of: null,
    parent: {
      quote_details: null,
      subscription_details: { metadata: structuredClone(sub.metadata), subscription: sub.id },
      type: 'subscription_details',
    },
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: period?.current_period_end ?? now,
    period_start: period?.current_period_start ?? now,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: succeeded ? 'paid' : 'open',
    status_transitions: {
      finalized_at: now,
      marked_uncollectible_at: null,
      paid_at: succeeded ? now : null,
      voided_at: null,
    },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: now,
  };
  ctx.store.invoices.insert(invoice);
  return invoice;
}

export const invoiceRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/invoices/:id',
    handler: ({ ctx, id }) => {
      const invoice = ctx.store.invoices.get(id);
      if (!invoice) throw noSuchObject('invoice', id);
      return invoice;
    },
  },
  {
    method: 'GET',
    path: '/v1/invoices',
    handler: ({ ctx, params }) => {
      const customer = str(params, 'customer');
      const subscription = str(params, 'subscription');
      const status = oneOf(params, 'status', ['draft', 'open', 'paid', 'uncollectible', 'void'] as const);
      return paginate(ctx.store.invoices, params, {
        url: '/v1/invoices',
        kind: 'invoice',
        ...(customer === undefined ? {} : { scope: ctx.store.invoices.scope('customer', customer) }),
        filter: (i) =>
          (subscription === undefined || i.parent?.subscription_details?.subscription === subscription) &&
          (status === undefined || i.status === status),
      });
    },
  },
];
