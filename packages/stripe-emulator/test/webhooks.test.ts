import Stripe from 'stripe';
import { beforeEach, describe, expect, it } from 'vitest';
import { makePlan, useEmulator, webhookReceiver } from './support.js';

const { emu, stripe } = await useEmulator({ webhookSecret: 'whsec_suite' });
const verifier = new Stripe('sk_test_unused');
beforeEach(() => {
  emu.setWebhookEndpoint(null, { secret: 'whsec_suite' });
});

describe('webhook delivery', () => {
  it('delivers events in order with a signature constructEvent accepts', async () => {
    const receiver = await webhookReceiver();
    try {
      emu.setWebhookEndpoint(receiver.url);
      const { price } = await makePlan(stripe, 'Pro', 1000);
      const customer = await stripe.customers.create({ email: 'a@b.c' });
      const sub = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
      await stripe.subscriptions.update(sub.id, { metadata: { changed: 'yes' } });
      await emu.waitForDeliveries();

      const types = receiver.received.map((r) => {
        expect(r.headers['content-type']).toContain('application/json');
        const event = verifier.webhooks.constructEvent(
          r.body,
          r.headers['stripe-signature'] as string,
          'whsec_suite',
        );
        return event.type;
      });
      expect(types).toEqual([
        'product.created',
        'price.created',
        'customer.created',
        'customer.subscription.created',
        'customer.subscription.updated',
      ]);
      const updated = JSON.parse(receiver.received.at(-1)!.body) as Stripe.Event;
      expect(updated.data.previous_attributes).toEqual({ metadata: {} });
      expect(updated.pending_webhooks).toBe(1);
      expect(emu.events().every((e) => e.pending_webhooks === 0)).toBe(true);
      expect(() =>
        verifier.webhooks.constructEvent(
          receiver.received[0]!.body,
          receiver.received[0]!.headers['stripe-signature'] as string,
          'whsec_other',
        ),
      ).toThrow(Stripe.errors.StripeSignatureVerificationError);
      expect(await emu.deliverPendingEvents()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('retries a failing endpoint, then leaves the event pending for deliverPendingEvents', async () => {
    let failing = true;
    const receiver = await webhookReceiver(() => (failing ? 500 : 200));
    try {
      emu.setWebhookEndpoint(receiver.url);
      const product = await stripe.products.create({ name: 'Flaky' });
      await emu.waitForDeliveries();
      expect(receiver.received).toHaveLength(3); // three tries
      const [event] = emu.events();
      expect(event!.pending_webhooks).toBe(1);

      failing = false;
      const results = await emu.deliverPendingEvents();
      expect(results).toEqual([{ eventId: event!.id, status: 200 }]);
      expect(JSON.parse(receiver.received.at(-1)!.body)).toMatchObject({
        data: { object: { id: product.id } },
      });
      expect(await emu.deliverPendingEvents()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('recovers within the retry budget', async () => {
    const receiver = await webhookReceiver((n) => (n === 1 ? 503 : 200));
    try {
      emu.setWebhookEndpoint(receiver.url);
      await stripe.customers.create({ email: 'retry@b.c' });
      await emu.waitForDeliveries();
      expect(receiver.received).toHaveLength(2);
      expect(await emu.deliverPendingEvents()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('holds events when autoDeliver is off and delivers them on demand, with overrides', async () => {
    const receiver = await webhookReceiver();
    try {
      emu.setWebhookEndpoint(receiver.url, { autoDeliver: false, secret: 'whsec_manual' });
      await stripe.customers.create({ email: 'a@b.c' });
      await stripe.customers.create({ email: 'b@b.c' });
      await emu.waitForDeliveries();
      expect(receiver.received).toHaveLength(0);

      const [first] = emu.events();
      const oldTimestamp = Math.floor(Date.now() / 1000) - 3600;
      const res = await emu.deliverEvent(first!.id, { timestamp: oldTimestamp });
      expect(res.status).toBe(200);
      const { body, headers } = receiver.received[0]!;
      expect(headers['stripe-signature']).toBe(
        emu.signPayload(body, { timestamp: oldTimestamp, secret: 'whsec_manual' }),
      );
      // Stale timestamps fail the SDK's default 300 s tolerance, as with real Stripe.
      expect(() =>
        verifier.webhooks.constructEvent(body, headers['stripe-signature'] as string, 'whsec_manual'),
      ).toThrow(/Timestamp outside the tolerance zone/);

      const results = await emu.deliverPendingEvents();
      expect(results.map((r) => r.eventId)).toEqual([emu.events()[1]!.id]);
    } finally {
      await receiver.close();
    }
  });

  it('signs like Stripe: the SDK test header generator agrees', () => {
    const payload = JSON.stringify({ id: 'evt_1', object: 'event' });
    const timestamp = 1_700_000_000;
    const expected = verifier.webhooks.generateTestHeaderString({
      payload,
      secret: 'whsec_suite',
      timestamp,
    });
    expect(emu.signPayload(payload, { timestamp })).toBe(expected);
  });
});
