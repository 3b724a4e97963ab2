import { describe, expect, it } from 'vitest';
import { shapeProblems } from './stripe-shapes.js';
import { makePlan, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator({ resetEachTest: false });

/** SDK results carry `lastResponse`; compare what came over the wire. */
const wire = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (k, v) => (k === 'lastResponse' ? undefined : v)));

/** Drives every resource the emulator serves and returns each response body, labelled. */
async function everyResponse(): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  const keep = async <T>(label: string, p: Promise<T>): Promise<T> => {
    const value = await p;
    out.push([label, wire(value)]);
    return value;
  };
  const { product, price } = await makePlan(stripe, 'Pro', 1500, 'pro');
  await keep('products.retrieve', stripe.products.retrieve(product.id, { expand: ['default_price'] }));
  await keep(
    'products.update',
    stripe.products.update(product.id, { description: 'x', default_price: price.id }),
  );
  await keep('products.list', stripe.products.list());
  await keep('prices.retrieve', stripe.prices.retrieve(price.id, { expand: ['product'] }));
  await keep('prices.list', stripe.prices.list());
  const spare = await keep('products.create', stripe.products.create({ name: 'Spare' }));
  await keep('products.del', stripe.products.del(spare.id));
  const customer = await keep('customers.create', stripe.customers.create({ email: 'a@b.test', name: 'A' }));
  await keep('customers.update', stripe.customers.update(customer.id, { metadata: { a: 'b' } }));
  await keep('customers.list', stripe.customers.list());
  await keep('customers.search', stripe.customers.search({ query: "email:'a@b.test'" }));

  const feature = await keep(
    'features.create',
    stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' }),
  );
  await keep(
    'features.update',
    stripe.entitlements.features.update(feature.id, { metadata: { value: '1' } }),
  );
  await keep('features.list', stripe.entitlements.features.list());
  const attached = await keep(
    'products.createFeature',
    stripe.products.createFeature(product.id, { entitlement_feature: feature.id }),
  );
  await keep('products.listFeatures', stripe.products.listFeatures(product.id));
  await keep('products.retrieveFeature', stripe.products.retrieveFeature(product.id, attached.id));

  const sub = await keep(
    'subscriptions.create',
    stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      trial_period_days: 3,
    }),
  );
  await keep(
    'subscriptions.update',
    stripe.subscriptions.update(sub.id, { metadata: { x: 'y' }, description: 'd' }),
  );
  await keep(
    'subscriptions.retrieve',
    stripe.subscriptions.retrieve(sub.id, { expand: ['customer', 'latest_invoice'] }),
  );
  await keep('subscriptions.list', stripe.subscriptions.list({ status: 'all' }));
  await keep('subscriptionItems.list', stripe.subscriptionItems.list({ subscription: sub.id }));
  const { price: seats } = await makePlan(stripe, 'Seats', 100, 'seats');
  const item = await keep(
    'subscriptionItems.create',
    stripe.subscriptionItems.create({ subscription: sub.id, price: seats.id, quantity: 2 }),
  );
  await keep('subscriptionItems.update', stripe.subscriptionItems.update(item.id, { quantity: 4 }));
  await keep('subscriptionItems.retrieve', stripe.subscriptionItems.retrieve(item.id));
  await keep('subscriptionItems.del', stripe.subscriptionItems.del(item.id));
  emu.setSubscriptionStatus(sub.id, 'active');
  emu.triggerTrialWillEnd(sub.id);
  const paid = emu.payInvoice(sub.id);
  emu.payInvoice(sub.id, { succeeded: false });
  const invoiceId = (paid.data.object as { id: string }).id;
  await keep('invoices.retrieve', stripe.invoices.retrieve(invoiceId));
  await keep('invoices.list', stripe.invoices.list({ customer: customer.id }));
  await keep('invoices.search', stripe.invoices.search({ query: `customer:'${customer.id}'` }));

  const ents = await keep(
    'activeEntitlements.list',
    stripe.entitlements.activeEntitlements.list({ customer: customer.id }),
  );
  await keep(
    'activeEntitlements.retrieve',
    stripe.entitlements.activeEntitlements.retrieve(ents.data[0]!.id, { expand: ['feature'] }),
  );

  const session = await keep(
    'checkout.sessions.create',
    stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: price.id, quantity: 1 }],
      success_url: 'https://example.test/ok',
      cancel_url: 'https://example.test/cancel',
    }),
  );
  await keep('checkout.sessions.listLineItems', stripe.checkout.sessions.listLineItems(session.id));
  out.push(['completeCheckoutSession', wire(emu.completeCheckoutSession(session.id))]);
  await keep(
    'checkout.sessions.retrieve',
    stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] }),
  );
  const other = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [
      { price: (await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 100 })).id },
    ],
    success_url: 'https://example.test/ok',
  });
  await keep('checkout.sessions.expire', stripe.checkout.sessions.expire(other.id));
  await keep('checkout.sessions.list', stripe.checkout.sessions.list());

  await keep('products.deleteFeature', stripe.products.deleteFeature(product.id, attached.id));
  await keep(
    'subscriptions.cancel',
    stripe.subscriptions.cancel(sub.id, { cancellation_details: { feedback: 'too_expensive' } }),
  );
  const gone = await stripe.customers.create({ email: 'gone@b.test' });
  await keep('customers.del', stripe.customers.del(gone.id));
  await keep('customers.retrieve (deleted)', stripe.customers.retrieve(gone.id));
  await keep('events.list', stripe.events.list({ limit: 100 }));
  return out;
}

describe('emulator objects against Stripe published shapes (API 2026-10-28.endive)', () => {
  it('every response and every event data.object has exactly the fields Stripe defines', async () => {
    const responses = await everyResponse();
    const problems = responses.flatMap(([label, body]) => shapeProblems(body, label));
    const events = emu.events();
    expect(new Set(events.map((e) => e.type)).size).toBeGreaterThanOrEqual(15);
    for (const event of events) {
      problems.push(...shapeProblems(event, `event ${event.type}`));
      problems.push(...shapeProblems(event.data.object, `event ${event.type} data.object`));
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  it('the checker catches a missing field, an extra field and a wrong null', () => {
    expect(
      shapeProblems({
        id: 'feat_1',
        object: 'entitlements.feature',
        active: true,
        livemode: false,
        lookup_key: 'k',
        metadata: {},
      }),
    ).toEqual(["$.name: missing (Stripe's Entitlements.Feature defines it)"]);
    expect(
      shapeProblems({
        id: 'feat_1',
        object: 'entitlements.feature',
        active: null,
        livemode: false,
        lookup_key: 'k',
        metadata: {},
        name: 'n',
        extra: 1,
      }),
    ).toEqual([
      '$.active: null, but Stripe never sends null here',
      "$.extra: not a field of Stripe's Entitlements.Feature",
    ]);
  });
});
