import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { restrictFeatures } from '../src/core/index.js';
import { reconcileTenants } from '../src/flows/reconcile/index.js';
import { PLAN_FIXTURES, type PlanName } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

/**
 * Stripe delivers at least once, in any order, concurrently. Every change below is made through
 * the SDK first (autoDeliver off), then all events are delivered at once in a shuffled order
 * with duplicates mixed in. The end state must be what Stripe's final state implies — checked
 * with reconcileTenants, the same rules an operator's reconcile uses — and nothing is counted twice.
 */

const env = await useWebhookTestEnv({ poolMax: 8 });

/** Small seeded PRNG (mulberry32) so a failing order can be replayed from the seed in the message. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Delivers until the endpoint answers 2xx, as Stripe's retries would (status 0 = timed out waiting). */
async function deliverUntilAccepted(eventId: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < 6; attempt += 1) {
    const { status } = await env.emu.deliverEvent(eventId);
    statuses.push(status);
    if (status >= 200 && status < 300) return statuses;
    await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
  }
  throw new Error(`event ${eventId} never accepted: ${statuses.join(',')}`);
}

async function swapPlan(sub: Stripe.Subscription, plan: PlanName) {
  const current = await env.stripe.subscriptions.retrieve(sub.id);
  return env.stripe.subscriptions.update(sub.id, {
    items: [{ id: current.items.data[0]!.id, price: env.plans[plan].price.id }],
  });
}

const TENANT_TYPES = /^(customer\.subscription\.|invoice\.)/;

describe('concurrent, shuffled, duplicated webhooks', () => {
  it('10 tenants × plan changes, cancels, status changes and payments: final state equals Stripe’s, every event applied once', async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    const random = rng(seed);
    const plans: PlanName[] = ['starter', 'pro', 'enterprise'];
    const expected = new Map<string, { plan: PlanName; access: boolean; status: string }>();
    const startEvents = env.emu.events().length;

    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const tenantId = `cc_${i}`;
        const customerId = await env.createCustomer(tenantId);
        const first = plans[i % 3]!;
        const sub = await env.subscribe(customerId, first);
        switch (i % 5) {
          case 0: // upgrade twice
            await swapPlan(sub, 'pro');
            await swapPlan(sub, 'enterprise');
            expected.set(tenantId, { plan: 'enterprise', access: true, status: 'active' });
            break;
          case 1: // cancel
            await env.stripe.subscriptions.cancel(sub.id);
            expected.set(tenantId, { plan: first, access: false, status: 'canceled' });
            break;
          case 2: // dunning that recovers
            env.emu.setSubscriptionStatus(sub.id, 'past_due');
            env.emu.payInvoice(sub.id, { succeeded: false });
            env.emu.setSubscriptionStatus(sub.id, 'unpaid');
            env.emu.payInvoice(sub.id, { succeeded: true });
            env.emu.setSubscriptionStatus(sub.id, 'active');
            expected.set(tenantId, { plan: first, access: true, status: 'active' });
            break;
          case 3: {
            // cancel, then come back on another plan with a new subscription
            await env.stripe.subscriptions.cancel(sub.id);
            const next = plans[(i + 1) % 3]!;
            await env.subscribe(customerId, next);
            expected.set(tenantId, { plan: next, access: true, status: 'active' });
            break;
          }
          case 4: // downgrade, then payments run out
            await swapPlan(sub, 'starter');
            env.emu.setSubscriptionStatus(sub.id, 'past_due');
            env.emu.setSubscriptionStatus(sub.id, 'unpaid');
            expected.set(tenantId, { plan: 'starter', access: false, status: 'unpaid' });
            break;
        }
      }),
    );

    const events = env.emu
      .events()
      .slice(startEvents)
      .filter((e) => TENANT_TYPES.test(e.type));
    const deliveries = events.flatMap((e) =>
      random() < 0.4 ? [e.id, e.id] : random() < 0.1 ? [e.id, e.id, e.id] : [e.id],
    );
    for (let i = deliveries.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    expect(events.length, `seed ${seed}`).toBeGreaterThan(30);

    const results = await Promise.all(deliveries.map((id) => deliverUntilAccepted(id)));
    expect(
      results.flat().filter((s) => s >= 500),
      `seed ${seed}: no delivery may fail with a server error`,
    ).toEqual([]);

    // Idempotency: one ledger row per distinct event, each event's audit row at most once.
    const distinct = new Set(events.map((e) => e.id));
    const ledger = await env.prisma.processedStripeEvent.findMany({
      where: { eventId: { in: [...distinct] } },
    });
    expect(ledger, `seed ${seed}`).toHaveLength(distinct.size);
    expect(ledger.every((row) => row.status === 'processed' || row.status === 'ignored')).toBe(true);
    const audits = await env.prisma.featureAuditLog.groupBy({
      by: ['stripeEventId'],
      where: { stripeEventId: { in: [...distinct] } },
      _count: { _all: true },
    });
    expect(
      audits.filter((a) => a._count._all > 1),
      `seed ${seed}`,
    ).toEqual([]);
    const duplicates = deliveries.length - distinct.size;
    const attempts = ledger.reduce((n, row) => n + row.attempts, 0);
    expect(attempts, `seed ${seed}`).toBeGreaterThanOrEqual(distinct.size + duplicates);

    // Convergence: the reconcile (same rules, Stripe read fresh) finds nothing to correct.
    const report = await reconcileTenants({ prisma: env.prisma, featureSync: env.featureSync });
    expect({ seed, drift: report.drift, failed: report.failed }).toEqual({ seed, drift: [], failed: [] });
    expect(report.checked).toBe(10);

    for (const [tenantId, want] of expected) {
      const state = await env.state(tenantId);
      const context = `seed ${seed} ${tenantId}`;
      expect(state, context).toMatchObject({ accessActive: want.access, subscriptionStatus: want.status });
      if (want.access) {
        expect(state, context).toMatchObject({
          stripePriceId: env.plans[want.plan].price.id,
          features: PLAN_FIXTURES[want.plan].features,
        });
      } else {
        // If every delivery came after the subscription ended, no webhook ever saw the plan: the
        // tenant is restricted without knowing which keys it lost. Access is what must hold.
        expect(
          Object.values(state!.features).every((v) => v === false || v === 0),
          context,
        ).toBe(true);
        if (state!.stripePriceId !== null)
          expect(state!.features, context).toEqual(restrictFeatures(PLAN_FIXTURES[want.plan].features));
      }
    }
  });

  it('many deliveries of one event at the same instant: applied once, one ledger row, one audit row', async () => {
    const customerId = await env.createCustomer('cc_burst');
    const sub = await env.subscribe(customerId, 'pro');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const answers = await Promise.all(Array.from({ length: 12 }, () => env.deliver(event)));
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(answers.filter((a) => a.json.status === 'processed')).toHaveLength(1);
    expect(answers.filter((a) => a.json.status === 'duplicate')).toHaveLength(11);
    expect(await env.ledger(event.id)).toMatchObject({ status: 'processed', attempts: 12 });
    expect(await env.prisma.featureAuditLog.count({ where: { stripeEventId: event.id } })).toBe(1);
    expect(await env.state('cc_burst')).toMatchObject({ version: 1, features: PLAN_FIXTURES.pro.features });
  });

  it('with no granting subscription left, the stored status is Stripe’s whatever event arrived last', async () => {
    // Two ended subscriptions: sub A canceled, then sub B that went unpaid. Stripe's picture is the
    // same whatever the delivery order: the open (unpaid) subscription B describes the customer.
    const finalStates: Array<{
      order: string;
      status: string | null;
      subscription: string | null;
      reconcileDrift: string[];
    }> = [];
    for (const order of ['b_last', 'a_last'] as const) {
      const tenantId = `cc_order_${order}`;
      const customerId = await env.createCustomer(tenantId);
      const a = await env.subscribe(customerId, 'starter');
      await env.stripe.subscriptions.cancel(a.id);
      const b = await env.subscribe(customerId, 'pro');
      env.emu.setSubscriptionStatus(b.id, 'unpaid');
      const createdA = env.lastEvent('customer.subscription.created', a.id);
      const createdB = env.lastEvent('customer.subscription.created', b.id);
      const deletedA = env.lastEvent('customer.subscription.deleted', a.id);
      const unpaidB = env.lastEvent('customer.subscription.updated', b.id);
      const sequence =
        order === 'b_last'
          ? [createdA, createdB, deletedA, unpaidB]
          : [createdA, createdB, unpaidB, deletedA];
      for (const event of sequence) expect((await env.deliver(event)).status).toBe(200);
      const state = await env.state(tenantId);
      expect(state?.accessActive).toBe(false);
      const report = await reconcileTenants(
        { prisma: env.prisma, featureSync: env.featureSync },
        { tenantId },
      );
      finalStates.push({
        order,
        status: state?.subscriptionStatus ?? null,
        subscription:
          state?.stripeSubscriptionId === b.id ? 'B' : state?.stripeSubscriptionId === a.id ? 'A' : null,
        reconcileDrift: report.drift.flatMap((d) => d.diff.fields),
      });
    }
    // Both orders must end where Stripe is: B, unpaid, with nothing for a reconcile to correct.
    expect(finalStates).toEqual([
      { order: 'b_last', status: 'unpaid', subscription: 'B', reconcileDrift: [] },
      { order: 'a_last', status: 'unpaid', subscription: 'B', reconcileDrift: [] },
    ]);
  });
});
