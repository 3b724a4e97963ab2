import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { makePlan, useEmulator } from './support.js';

const { emu, stripe } = await useEmulator();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const eventsOfType = (type: string) => emu.events().filter((e) => e.type === type);

async function setup() {
  const plan = await makePlan(stripe, 'Pro', 1500);
  const customer = await stripe.customers.create({ email: 'owner@tenant.test' });
  return { ...plan, customer };
}

function createSession(
  { price, customer }: Awaited<ReturnType<typeof setup>>,
  extra: Partial<Stripe.Checkout.SessionCreateParams> = {},
) {
  return stripe.checkout.sessions.create({
    mode: 'subscription',
    customer: customer.id,
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://app.test/success',
    ...extra,
  });
}

async function openSession(extra: Partial<Stripe.Checkout.SessionCreateParams> = {}) {
  const catalog = await setup();
  return { ...catalog, session: await createSession(catalog, extra) };
}

const controlComplete = (id: string) =>
  fetch(`${emu.url}/_emulator/checkout/sessions/${id}/complete`, { method: 'POST' });

describe('expiring checkout sessions', () => {
  it('expires an open session, drops its url and emits checkout.session.expired', async () => {
    const { session } = await openSession();
    const expired = await stripe.checkout.sessions.expire(session.id);
    expect(expired).toMatchObject({ id: session.id, status: 'expired', url: null, payment_status: 'unpaid' });
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({
      status: 'expired',
      url: null,
    });

    const [event] = eventsOfType('checkout.session.expired');
    expect(event).toMatchObject({ data: { object: { id: session.id, status: 'expired', url: null } } });
    expect(event!.request?.id).toBe(expired.lastResponse.requestId);
    expect((await stripe.checkout.sessions.list({ status: 'expired' })).data.map((s) => s.id)).toEqual([
      session.id,
    ]);
  });

  it('refuses to expire a session that is no longer open', async () => {
    const { session } = await openSession();
    await stripe.checkout.sessions.expire(session.id);
    await expect(stripe.checkout.sessions.expire(session.id)).rejects.toMatchObject({
      statusCode: 400,
      type: 'StripeInvalidRequestError',
      message:
        'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "expired".',
    });
    expect(eventsOfType('checkout.session.expired')).toHaveLength(1);

    const { session: paid } = await openSession();
    emu.completeCheckoutSession(paid.id);
    await expect(stripe.checkout.sessions.expire(paid.id)).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('This Checkout Session has a status of "complete".'),
    });
  });

  it('expires a session lazily once expires_at has passed, with one event and no request', async () => {
    const catalog = await setup();
    // Two seconds ahead: one could already have passed by the time the create request arrives.
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const session = await createSession(catalog, { expires_at: expiresAt });
    expect(session).toMatchObject({ status: 'open', expires_at: expiresAt });
    while (Date.now() / 1000 < expiresAt) await sleep(50);

    // The list is the first thing to look, and its status filter already sees the expiry.
    expect((await stripe.checkout.sessions.list({ status: 'open' })).data).toHaveLength(0);
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({
      status: 'expired',
      url: null,
    });
    await expect(stripe.checkout.sessions.expire(session.id)).rejects.toMatchObject({ statusCode: 400 });
    expect(() => emu.completeCheckoutSession(session.id)).toThrow('has a status of "expired"');

    const expired = eventsOfType('checkout.session.expired');
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({
      data: { object: { id: session.id, status: 'expired' } },
      request: { id: null },
    });
  });

  it('rejects an expires_at that is not in the future', async () => {
    await expect(openSession({ expires_at: Math.floor(Date.now() / 1000) - 60 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'expires_at',
    });
  });
});

describe('completing checkout sessions', () => {
  it('creates the subscription like the API would, then emits checkout.session.completed', async () => {
    const { price, customer, session } = await openSession({
      subscription_data: { metadata: { tenant_id: 't_1' } },
      metadata: { source: 'pricing_page' },
    });
    const completed = emu.completeCheckoutSession(session.id);
    expect(completed).toMatchObject({
      id: session.id,
      status: 'complete',
      payment_status: 'paid',
      url: null,
      customer: customer.id,
      metadata: { source: 'pricing_page' },
    });
    expect(completed.subscription).toMatch(/^sub_/);
    expect('_subscription_metadata' in completed).toBe(false);

    const sub = await stripe.subscriptions.retrieve(completed.subscription as string);
    expect(sub).toMatchObject({ status: 'active', customer: customer.id, metadata: { tenant_id: 't_1' } });
    expect(sub.items.data.map((i) => [i.price.id, i.quantity])).toEqual([[price.id, 1]]);
    expect(await stripe.checkout.sessions.retrieve(session.id)).toMatchObject({
      status: 'complete',
      subscription: sub.id,
    });

    const [created, done] = emu.events().slice(-2);
    expect(created).toMatchObject({
      type: 'customer.subscription.created',
      data: { object: { id: sub.id } },
    });
    expect(done).toMatchObject({
      type: 'checkout.session.completed',
      data: { object: { id: session.id, status: 'complete', subscription: sub.id } },
    });
  });

  it('completes through the control endpoint, leaving subscription metadata empty without subscription_data', async () => {
    const { session } = await openSession();
    const res = await controlComplete(session.id);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Stripe.Checkout.Session;
    expect(body).toMatchObject({ status: 'complete', payment_status: 'paid' });
    expect((await stripe.subscriptions.retrieve(body.subscription as string)).metadata).toEqual({});
  });

  it('refuses sessions that are not open, not in subscription mode, or have no customer', async () => {
    const { product, price, session } = await openSession();
    emu.completeCheckoutSession(session.id);
    expect(() => emu.completeCheckoutSession(session.id)).toThrow('has a status of "complete"');
    const again = await controlComplete(session.id);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({
      error: { message: expect.stringContaining('has a status of "complete"') },
    });
    expect(eventsOfType('checkout.session.completed')).toHaveLength(1);

    const oneTime = await stripe.prices.create({ product: product.id, unit_amount: 5000, currency: 'usd' });
    const payment = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [{ price: oneTime.id, quantity: 1 }],
    });
    expect(() => emu.completeCheckoutSession(payment.id)).toThrow('is in "payment" mode');
    const guest = await stripe.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: price.id, quantity: 1 }],
    });
    expect(() => emu.completeCheckoutSession(guest.id)).toThrow('has no customer');
    expect(() => emu.completeCheckoutSession('cs_test_missing')).toThrow(
      "No such checkout session: 'cs_test_missing'",
    );
    expect(await stripe.checkout.sessions.retrieve(guest.id)).toMatchObject({ status: 'open' });
  });
});
