import { describe, expect, it } from 'vitest';
import { restrictFeatures } from '../src/core/index.js';
import { PLAN_FIXTURES, type PlanName } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

const env = await useWebhookTestEnv();

const eventIdsOf = (audits: { stripeEventId: string | null }[]) => audits.map((a) => a.stripeEventId);

describe('idempotency', () => {
  it('applies a redelivered event once', async () => {
    const customerId = await env.createCustomer('t_dup');
    const sub = await env.subscribe(customerId, 'pro');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const first = await env.deliver(event);
    const second = await env.deliver(event);
    expect(first.json).toMatchObject({ status: 'processed', action: 'plan_applied' });
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({
      received: true,
      status: 'duplicate',
      action: 'plan_applied',
      eventId: event.id,
    });
    expect(await env.audits('t_dup')).toHaveLength(1);
    expect(await env.ledger(event.id)).toMatchObject({ status: 'processed', attempts: 2 });
    expect((await env.state('t_dup'))?.version).toBe(1);
  });

  it('applies concurrent deliveries of one event exactly once', async () => {
    const customerId = await env.createCustomer('t_dup_parallel');
    const sub = await env.subscribe(customerId, 'enterprise');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const results = await Promise.all(Array.from({ length: 10 }, () => env.deliver(event)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const statuses = results.map((r) => r.json.status).sort();
    expect(statuses.filter((s) => s === 'processed')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(9);
    expect(await env.audits('t_dup_parallel')).toHaveLength(1);
    expect(await env.ledger(event.id)).toMatchObject({ status: 'processed', attempts: 10 });
  });
});

describe('out-of-order delivery', () => {
  it('an updated delivered before its created ends in Stripe’s current state', async () => {
    const customerId = await env.createCustomer('t_reversed');
    const sub = await env.subscribe(customerId, 'starter');
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
    });
    const created = env.lastEvent('customer.subscription.created', sub.id);
    const updated = env.lastEvent('customer.subscription.updated', sub.id);

    expect((await env.deliver(updated)).json).toMatchObject({ status: 'processed', action: 'plan_applied' });
    expect((await env.state('t_reversed'))?.stripePriceId).toBe(env.plans.pro.price.id);
    // The created event's payload says "starter"; Stripe says "pro" now, and that is what stays.
    expect((await env.deliver(created)).json).toMatchObject({
      status: 'processed',
      action: 'subscription_synced',
    });
    expect(await env.state('t_reversed')).toMatchObject({
      stripePriceId: env.plans.pro.price.id,
      features: PLAN_FIXTURES.pro.features,
    });
    expect(await env.audits('t_reversed')).toHaveLength(1);
  });

  it('an old updated arriving after a newer one cannot roll the plan back', async () => {
    const customerId = await env.createCustomer('t_stale_update');
    const sub = await env.subscribe(customerId, 'starter');
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    const itemId = sub.items.data[0]!.id;
    await env.stripe.subscriptions.update(sub.id, { items: [{ id: itemId, price: env.plans.pro.price.id }] });
    const toPro = env.lastEvent('customer.subscription.updated', sub.id);
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemId, price: env.plans.enterprise.price.id }],
    });
    const toEnterprise = env.lastEvent('customer.subscription.updated', sub.id);

    expect((await env.deliver(toEnterprise)).json).toMatchObject({ action: 'plan_changed' });
    const newest = await env.state('t_stale_update');
    expect((await env.deliver(toPro)).json).toMatchObject({
      status: 'processed',
      action: 'subscription_synced',
    });
    const after = await env.state('t_stale_update');
    expect(after).toMatchObject({
      stripePriceId: env.plans.enterprise.price.id,
      features: PLAN_FIXTURES.enterprise.features,
    });
    // lastStripeEvent* never moves backwards.
    expect(after?.lastStripeEventAt).toEqual(newest?.lastStripeEventAt);
    expect(after?.lastStripeEventId).toBe(newest?.lastStripeEventId);
  });

  it('the deleted of an old subscription arriving after the new one was created keeps access', async () => {
    const customerId = await env.createCustomer('t_switch');
    const oldSub = await env.subscribe(customerId, 'starter');
    await env.deliver(env.lastEvent('customer.subscription.created', oldSub.id));
    const newSub = await env.subscribe(customerId, 'enterprise');
    await env.stripe.subscriptions.cancel(oldSub.id);

    await env.deliver(env.lastEvent('customer.subscription.created', newSub.id));
    const res = await env.deliver(env.lastEvent('customer.subscription.deleted', oldSub.id));
    expect(res.json).toMatchObject({ status: 'processed' });
    expect(await env.state('t_switch')).toMatchObject({
      accessActive: true,
      subscriptionStatus: 'active',
      stripeSubscriptionId: newSub.id,
      features: PLAN_FIXTURES.enterprise.features,
    });
  });

  it('a deleted delivered before the updated that preceded it still ends restricted', async () => {
    const customerId = await env.createCustomer('t_cancel_first');
    const sub = await env.subscribe(customerId, 'pro');
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    env.emu.setSubscriptionStatus(sub.id, 'past_due');
    const updated = env.lastEvent('customer.subscription.updated', sub.id);
    await env.stripe.subscriptions.cancel(sub.id);
    await env.deliver(env.lastEvent('customer.subscription.deleted', sub.id));
    await env.deliver(updated);
    expect(await env.state('t_cancel_first')).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'canceled',
      features: restrictFeatures(PLAN_FIXTURES.pro.features),
    });
  });
});

describe('concurrency', () => {
  it(
    '20 events for one tenant delivered in parallel end in Stripe’s final state, one audit row per change at most',
    { timeout: 120_000 },
    async () => {
      const customerId = await env.createCustomer('t_burst');
      const sub = await env.subscribe(customerId, 'starter');
      const itemId = sub.items.data[0]!.id;
      const cycle: PlanName[] = ['pro', 'enterprise', 'starter'];
      for (let i = 0; i < 19; i++) {
        if (i % 4 === 3) env.emu.setSubscriptionStatus(sub.id, i % 8 === 3 ? 'past_due' : 'active');
        else
          await env.stripe.subscriptions.update(sub.id, {
            items: [{ id: itemId, price: env.plans[cycle[i % 3]!].price.id }],
          });
      }
      const events = env.emu.events().filter((e) => (e.data.object as { id?: string }).id === sub.id);
      expect(events).toHaveLength(20);
      const truth = await env.stripe.subscriptions.retrieve(sub.id);

      // One tenant's 20 events are processed one after another (that is the order safety under test); on
      // a loaded machine that takes longer than the emulator's 5 s delivery timeout, which is not.
      const results = await Promise.all(events.map((e) => env.deliver(e, { timeoutMs: 60_000 })));
      expect(results.map((r) => r.status)).toEqual(events.map(() => 200));
      expect(results.every((r) => r.json.status === 'processed')).toBe(true);

      const state = await env.state('t_burst');
      const finalPrice = truth.items.data[0]!.price.id;
      const finalPlan = (Object.keys(env.plans) as PlanName[]).find(
        (name) => env.plans[name].price.id === finalPrice,
      )!;
      expect(state).toMatchObject({
        stripePriceId: finalPrice,
        subscriptionStatus: truth.status,
        accessActive: true,
        features: PLAN_FIXTURES[finalPlan].features,
      });
      const audits = await env.audits('t_burst');
      expect(audits.length).toBeGreaterThanOrEqual(1);
      expect(audits.length).toBeLessThanOrEqual(20);
      expect(new Set(eventIdsOf(audits)).size).toBe(audits.length);
      expect(
        await env.prisma.processedStripeEvent.count({ where: { tenantId: 't_burst', status: 'processed' } }),
      ).toBe(20);

      // Stripe retrying the whole burst changes nothing.
      const again = await Promise.all(events.map((e) => env.deliver(e, { timeoutMs: 60_000 })));
      expect(again.every((r) => r.json.status === 'duplicate')).toBe(true);
      expect(await env.audits('t_burst')).toHaveLength(audits.length);
      expect((await env.state('t_burst'))?.version).toBe(state?.version);
    },
  );
});

describe('automatic delivery', () => {
  it('a whole lifecycle delivered by the emulator as it happens', async () => {
    env.emu.setWebhookEndpoint(env.webhookUrl, { autoDeliver: true });
    try {
      const customerId = await env.createCustomer('t_auto');
      const sub = await env.subscribe(customerId, 'starter');
      await env.stripe.subscriptions.update(sub.id, {
        items: [{ id: sub.items.data[0]!.id, price: env.plans.pro.price.id }],
      });
      env.emu.payInvoice(sub.id, { succeeded: true });
      await env.emu.waitForDeliveries();
      expect(await env.state('t_auto')).toMatchObject({
        stripePriceId: env.plans.pro.price.id,
        accessActive: true,
        features: PLAN_FIXTURES.pro.features,
      });
      await env.stripe.subscriptions.cancel(sub.id);
      await env.emu.waitForDeliveries();
      expect(await env.state('t_auto')).toMatchObject({
        accessActive: false,
        subscriptionStatus: 'canceled',
      });
      // Whether "plan_changed" shows up depends on whether the created event was handled before
      // the upgrade happened: it re-reads Stripe, so it may already see the pro plan.
      const actions = (await env.audits('t_auto')).map((a) => a.action);
      expect(actions[0]).toBe('plan_applied');
      expect(actions.at(-1)).toBe('subscription_deleted');
      const ledger = await env.prisma.processedStripeEvent.findMany({ where: { tenantId: 't_auto' } });
      expect(ledger.every((row) => row.status === 'processed' && row.attempts === 1)).toBe(true);
    } finally {
      env.emu.setWebhookEndpoint(env.webhookUrl, { autoDeliver: false });
    }
  });
});
