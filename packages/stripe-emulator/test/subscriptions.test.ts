import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { makePlan, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator();

async function setup() {
  const basic = await makePlan(stripe, 'Basic', 500, 'basic');
  const pro = await makePlan(stripe, 'Pro', 1500, 'pro');
  const customer = await stripe.customers.create({
    email: 'owner@tenant.test',
    metadata: { tenant_id: 't_1' },
  });
  return { basic, pro, customer };
}

const eventsOfType = (type: string) => emu.events().filter((e) => e.type === type);

describe('subscriptions', () => {
  it('creates a subscription with item-level billing periods and a created event', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
      metadata: { tenant_id: 't_1' },
    });
    expect(sub.id).toMatch(/^sub_/);
    expect(sub).toMatchObject({
      object: 'subscription',
      status: 'active',
      customer: customer.id,
      currency: 'usd',
    });
    const item = sub.items.data[0]!;
    expect(item.id).toMatch(/^si_/);
    expect(item.price.id).toBe(basic.price.id);
    expect(item.plan.id).toBe(basic.price.id);
    expect(item.current_period_end).toBeGreaterThan(item.current_period_start);
    expect('current_period_end' in sub).toBe(false);

    const [created] = eventsOfType('customer.subscription.created');
    expect(created).toMatchObject({
      object: 'event',
      livemode: false,
      pending_webhooks: 0,
      data: { object: { id: sub.id, status: 'active' } },
    });
    expect(created!.request?.id).toBe(sub.lastResponse.requestId);
    expect(created!.request?.idempotency_key).toMatch(/^stripe-node-retry-/);
    expect(await stripe.events.retrieve(created!.id)).toMatchObject({ id: created!.id, type: created!.type });
  });

  it('starts trials from trial_period_days', async () => {
    const { pro, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: pro.price.id }],
      trial_period_days: 14,
    });
    expect(sub.status).toBe('trialing');
    expect(sub.trial_end! - sub.trial_start!).toBe(14 * 86400);
    expect(sub.items.data[0]!.current_period_end).toBe(sub.trial_end);

    const event = emu.triggerTrialWillEnd(sub.id);
    expect(event).toMatchObject({
      type: 'customer.subscription.trial_will_end',
      data: { object: { id: sub.id } },
    });
  });

  it('changes the price of an item and reports previous_attributes', async () => {
    const { basic, pro, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    const itemId = sub.items.data[0]!.id;
    const updated = await stripe.subscriptions.update(sub.id, {
      items: [{ id: itemId, price: pro.price.id }],
      proration_behavior: 'none',
      metadata: { plan: 'pro' },
    });
    expect(updated.items.data.map((i) => [i.id, i.price.id])).toEqual([[itemId, pro.price.id]]);

    const [event] = eventsOfType('customer.subscription.updated');
    const prev = event!.data.previous_attributes as Partial<Stripe.Subscription>;
    expect(Object.keys(prev).sort()).toEqual(['items', 'metadata']);
    expect(prev.items!.data[0]!.price.id).toBe(basic.price.id);
    expect(prev.metadata).toEqual({});
    expect((event!.data.object as Stripe.Subscription).items.data[0]!.price.id).toBe(pro.price.id);

    // Add an item, then delete the original.
    const addon = await makePlan(stripe, 'Addon', 100);
    const withAddon = await stripe.subscriptions.update(sub.id, {
      items: [{ price: addon.price.id, quantity: 3 }],
    });
    expect(withAddon.items.data).toHaveLength(2);
    const removed = await stripe.subscriptions.update(sub.id, { items: [{ id: itemId, deleted: true }] });
    expect(removed.items.data.map((i) => i.price.id)).toEqual([addon.price.id]);
    expect(removed.items.data[0]!.quantity).toBe(3);
  });

  it('the subscription items API adds, changes and removes items, each with an updated event', async () => {
    const { basic, customer } = await setup();
    const addon = await makePlan(stripe, 'Seats', 100);
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    const added = await stripe.subscriptionItems.create({
      subscription: sub.id,
      price: addon.price.id,
      quantity: 3,
      metadata: { kind: 'seats' },
    });
    expect(added).toMatchObject({ object: 'subscription_item', subscription: sub.id, quantity: 3 });
    expect(added.metadata).toEqual({ kind: 'seats' });
    expect(added.price.id).toBe(addon.price.id);
    expect(await stripe.subscriptionItems.retrieve(added.id)).toMatchObject({ id: added.id, quantity: 3 });

    const changed = await stripe.subscriptionItems.update(added.id, { quantity: 5 });
    expect(changed.quantity).toBe(5);
    const updates = eventsOfType('customer.subscription.updated');
    expect(updates).toHaveLength(2);
    const last = updates[1]!;
    const seatsOf = (s: Stripe.Subscription) => s.items.data.find((i) => i.id === added.id)?.quantity;
    expect(seatsOf(last.data.object as Stripe.Subscription)).toBe(5);
    expect(seatsOf(last.data.previous_attributes as Stripe.Subscription)).toBe(3);

    const deleted = await stripe.subscriptionItems.del(added.id);
    expect(deleted).toMatchObject({ id: added.id, object: 'subscription_item', deleted: true });
    expect((await stripe.subscriptions.retrieve(sub.id)).items.data.map((i) => i.price.id)).toEqual([
      basic.price.id,
    ]);
    expect(eventsOfType('customer.subscription.updated')).toHaveLength(3);
    await expect(stripe.subscriptionItems.retrieve(added.id)).rejects.toMatchObject({ statusCode: 404 });

    // Like Stripe: the last item cannot go, unknown ids are 404, and a price is required.
    await expect(stripe.subscriptionItems.del(sub.items.data[0]!.id)).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(stripe.subscriptionItems.retrieve('si_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    await expect(stripe.subscriptionItems.create({ subscription: sub.id })).rejects.toMatchObject({
      statusCode: 400,
      param: 'price',
    });
    await expect(
      stripe.subscriptionItems.create({ subscription: sub.id, price: basic.price.id }),
    ).rejects.toMatchObject({ statusCode: 400 });
    expect(eventsOfType('customer.subscription.updated')).toHaveLength(3);
    // An item added through subscriptions.update is addressable by the items API too.
    const viaUpdate = await stripe.subscriptions.update(sub.id, { items: [{ price: addon.price.id }] });
    const other = viaUpdate.items.data.find((i) => i.price.id === addon.price.id)!;
    expect(await stripe.subscriptionItems.retrieve(other.id)).toMatchObject({ subscription: sub.id });
  });

  it('does not emit events for no-op updates', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
      metadata: { a: '1' },
    });
    await stripe.subscriptions.update(sub.id, { metadata: { a: '1' } });
    expect(eventsOfType('customer.subscription.updated')).toHaveLength(0);
  });

  it('schedules cancellation at period end and cancels immediately', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    const scheduled = await stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(scheduled.cancel_at_period_end).toBe(true);
    expect(scheduled.cancel_at).toBe(sub.items.data[0]!.current_period_end);
    expect(eventsOfType('customer.subscription.updated')[0]!.data.previous_attributes).toMatchObject({
      cancel_at_period_end: false,
      cancel_at: null,
    });

    const canceled = await stripe.subscriptions.cancel(sub.id);
    expect(canceled.status).toBe('canceled');
    expect(canceled.ended_at).not.toBeNull();
    const [deleted] = eventsOfType('customer.subscription.deleted');
    expect(deleted!.data.object).toMatchObject({ id: sub.id, status: 'canceled' });
    expect(deleted!.data.previous_attributes).toBeUndefined();

    await expect(stripe.subscriptions.update(sub.id, { cancel_at_period_end: false })).rejects.toMatchObject({
      statusCode: 400,
      type: 'StripeInvalidRequestError',
    });
  });

  it('lists by customer, status and price; canceled hidden by default', async () => {
    const { basic, pro, customer } = await setup();
    const other = await stripe.customers.create({ email: 'other@tenant.test' });
    const a = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    const b = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: pro.price.id }],
      trial_period_days: 3,
    });
    const c = await stripe.subscriptions.create({ customer: other.id, items: [{ price: pro.price.id }] });
    await stripe.subscriptions.cancel(a.id);

    const ids = (l: Stripe.ApiList<Stripe.Subscription>) => l.data.map((s) => s.id);
    expect(ids(await stripe.subscriptions.list({ customer: customer.id }))).toEqual([b.id]);
    expect(ids(await stripe.subscriptions.list({ customer: customer.id, status: 'all' }))).toEqual([
      b.id,
      a.id,
    ]);
    expect(ids(await stripe.subscriptions.list({ status: 'canceled' }))).toEqual([a.id]);
    expect(ids(await stripe.subscriptions.list({ status: 'trialing' }))).toEqual([b.id]);
    expect(ids(await stripe.subscriptions.list({ price: pro.price.id }))).toEqual([c.id, b.id]);
  });

  it('renewSubscription moves every item to the next period once the clock reaches its end', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    const item = sub.items.data[0]!;
    expect(() => emu.renewSubscription(sub.id)).toThrow(/advance the clock/);
    emu.advanceClock(item.current_period_end - emu.events().at(-1)!.created);
    const [updated, paid] = emu.renewSubscription(sub.id);
    expect(updated!.type).toBe('customer.subscription.updated');
    expect(paid!.type).toBe('invoice.payment_succeeded');
    const renewed = await stripe.subscriptions.retrieve(sub.id);
    expect(renewed.items.data[0]!.current_period_start).toBe(item.current_period_end);
    expect(renewed.items.data[0]!.current_period_end).toBeGreaterThan(item.current_period_end + 27 * 86_400);
    const previous = (updated!.data.previous_attributes as { items: Stripe.ApiList<Stripe.SubscriptionItem> })
      .items;
    expect(previous.data[0]!.current_period_start).toBe(item.current_period_start);
  });

  it('lists by created range with a cursor, over a clock moved forward by advanceClock', async () => {
    const { basic } = await setup();
    const created: Stripe.Subscription[] = [];
    for (const step of [0, 5, 0, 0, 100, 1]) {
      emu.advanceClock(step);
      const customer = await stripe.customers.create({});
      created.push(
        await stripe.subscriptions.create({ customer: customer.id, items: [{ price: basic.price.id }] }),
      );
    }
    const [t0, t1, t2, , t4, t5] = created.map((s) => s.created);
    expect(t1! - t0!).toBeGreaterThanOrEqual(5);
    expect(t4! - t1!).toBeGreaterThanOrEqual(100);
    expect(t5! - t4!).toBeGreaterThanOrEqual(1);
    const ids = (l: Stripe.ApiList<Stripe.Subscription>) => l.data.map((s) => s.id);
    const newestFirst = created.map((s) => s.id).reverse();

    // [t1, t4): the three subscriptions created at t1, newest first, two per page.
    const range = { gte: t1!, lt: t4! };
    const first = await stripe.subscriptions.list({ created: range, limit: 2 });
    expect(ids(first)).toEqual(newestFirst.slice(2, 4));
    expect(first.has_more).toBe(true);
    const next = await stripe.subscriptions.list({
      created: range,
      limit: 2,
      starting_after: first.data[1]!.id,
    });
    expect(ids(next)).toEqual(newestFirst.slice(4, 5));
    expect(next.has_more).toBe(false);
    // A cursor from an unfiltered walk still marks a position in a filtered one. (The bound is the
    // third subscription's own second: the clock is real time plus the advances, so on a loaded
    // machine the three created "at t1" can straddle a second.)
    const all = await stripe.subscriptions.list({ limit: 3 });
    expect(
      ids(await stripe.subscriptions.list({ created: { lte: t2! }, starting_after: all.data[2]!.id })),
    ).toEqual(newestFirst.slice(3));
    expect(() => emu.advanceClock(-1)).toThrow(RangeError);
  });

  it('expands customers and prices across lists, and customer.subscriptions', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });

    const list = await stripe.subscriptions.list({ expand: ['data.customer', 'data.items.data.price'] });
    const first = list.data[0]!;
    expect((first.customer as Stripe.Customer).email).toBe('owner@tenant.test');
    expect(first.items.data[0]!.price.product).toBe(basic.product.id);

    const retrieved = await stripe.subscriptions.retrieve(sub.id, { expand: ['items.data.price.product'] });
    expect((retrieved.items.data[0]!.price.product as Stripe.Product).metadata).toEqual({
      features: 'basic_feature',
    });

    const withSubs = (await stripe.customers.retrieve(customer.id, {
      expand: ['subscriptions'],
    })) as Stripe.Customer;
    expect(withSubs.subscriptions!.data.map((s) => s.id)).toEqual([sub.id]);
    const plain = (await stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    expect(plain.subscriptions).toBeUndefined();

    // Stripe caps expansion at four levels, so this list expansion is rejected there too.
    await expect(
      stripe.subscriptions.list({ expand: ['data.items.data.price.product'] }),
    ).rejects.toMatchObject({
      statusCode: 400,
      message: 'You cannot expand more than 4 levels of a property.',
    });
    await expect(stripe.subscriptions.retrieve(sub.id, { expand: ['status'] })).rejects.toMatchObject({
      statusCode: 400,
      message: 'This property cannot be expanded (status).',
    });
  });

  it('validates create params like Stripe', async () => {
    const { basic, customer } = await setup();
    const oneTime = await stripe.prices.create({
      product: basic.product.id,
      unit_amount: 100,
      currency: 'usd',
    });
    const cases: Array<[Stripe.SubscriptionCreateParams, string]> = [
      [{ items: [{ price: basic.price.id }] }, 'customer'],
      [{ customer: 'cus_missing', items: [{ price: basic.price.id }] }, 'customer'],
      [{ customer: customer.id }, 'items'],
      [{ customer: customer.id, items: [{ price: 'price_missing' }] }, 'items[0][price]'],
      [
        { customer: customer.id, items: [{ price: basic.price.id }, { price: oneTime.id }] },
        'items[1][price]',
      ],
    ];
    for (const [params, param] of cases) {
      await expect(stripe.subscriptions.create(params)).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        param,
      });
    }
    expect((await stripe.subscriptions.list({ status: 'all' })).data).toHaveLength(0);
  });

  it('test helpers change status, pay invoices and emit events', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });

    const pastDue = emu.setSubscriptionStatus(sub.id, 'past_due');
    expect(pastDue).toMatchObject({
      type: 'customer.subscription.updated',
      data: { object: { id: sub.id, status: 'past_due' }, previous_attributes: { status: 'active' } },
    });
    expect((await stripe.subscriptions.retrieve(sub.id)).status).toBe('past_due');

    const failed = emu.payInvoice(sub.id, { succeeded: false });
    expect(failed.type).toBe('invoice.payment_failed');
    const openInvoice = failed.data.object as Stripe.Invoice;
    expect(openInvoice).toMatchObject({ object: 'invoice', status: 'open', amount_due: 500, amount_paid: 0 });
    expect(openInvoice.parent?.subscription_details?.subscription).toBe(sub.id);

    const paid = emu.payInvoice(sub.id);
    expect(paid.type).toBe('invoice.payment_succeeded');
    const invoice = await stripe.invoices.retrieve((paid.data.object as Stripe.Invoice).id);
    expect(invoice).toMatchObject({ status: 'paid', amount_paid: 500, customer: customer.id });
    expect((await stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(2);
    expect(
      (await stripe.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] })).latest_invoice,
    ).toMatchObject({
      id: invoice.id,
    });

    const custom = emu.emitEvent(
      'entitlements.active_entitlement_summary.updated',
      { object: 'x', customer: customer.id },
      { a: 1 },
    );
    expect(custom).toMatchObject({
      data: { object: { customer: customer.id }, previous_attributes: { a: 1 } },
    });
    const types = (await stripe.events.list({ type: 'invoice.*' })).data.map((e) => e.type);
    expect(types).toEqual(['invoice.payment_succeeded', 'invoice.payment_failed']);
  });

  it('cancels subscriptions when the customer is deleted', async () => {
    const { basic, customer } = await setup();
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: basic.price.id }],
    });
    await stripe.customers.del(customer.id);
    expect((await stripe.subscriptions.retrieve(sub.id)).status).toBe('canceled');
    expect(
      emu
        .events()
        .slice(-2)
        .map((e) => e.type),
    ).toEqual(['customer.subscription.deleted', 'customer.deleted']);
    const expanded = await stripe.subscriptions.retrieve(sub.id, { expand: ['customer'] });
    expect(expanded.customer).toEqual({ id: customer.id, object: 'customer', deleted: true });
  });
});

describe('checkout sessions', () => {
  it('creates a hosted subscription session pointing at the emulator', async () => {
    const { pro, customer } = await setup();
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: customer.id,
      line_items: [{ price: pro.price.id, quantity: 1 }],
      success_url: 'https://app.test/success',
      cancel_url: 'https://app.test/cancel',
      metadata: { tenant_id: 't_1' },
    });
    expect(session.id).toMatch(/^cs_test_/);
    expect(session).toMatchObject({
      object: 'checkout.session',
      status: 'open',
      amount_total: 1500,
      mode: 'subscription',
    });
    expect(session.url).toBe(`${emu.url}/checkout/${session.id}`);
    const page = await fetch(session.url!);
    expect(page.status).toBe(200);

    const retrieved = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] });
    expect(retrieved.line_items!.data[0]!.price!.id).toBe(pro.price.id);
    expect(retrieved.metadata).toEqual({ tenant_id: 't_1' });

    await expect(
      stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price: 'price_nope', quantity: 1 }],
      }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'line_items[0][price]', code: 'resource_missing' });
  });
});
