import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { databaseCatalog } from '../src/catalog/registry.js';
import { createCustomPlanService } from '../src/custom-plans/index.js';
import { setFeatureRules } from '../src/index.js';
import { featureKeyOfLookupKey, type PlanSource } from '../src/plan-source/index.js';
import { reconcileTenants } from '../src/reconcile/index.js';
import type { FeatureMap } from '../src/types.js';
import { useWebhookTestEnv } from './helpers/use-env.js';
import type { WebhookTestEnv } from './webhook-helpers.js';

/**
 * Add-ons, quantities and several subscriptions (issue 23) through the emulator and the real
 * webhook path, in both plan sources: a base plan, a boolean add-on and a numeric add-on counted
 * per unit, `max_projects` combining by `sum` (docs/metadata.md, "Add-ons, seats and several
 * subscriptions"). In `entitlements` mode the same products carry Stripe Features instead of feature
 * metadata, and the tenant's keys are compared with Stripe's own active entitlements.
 */
const envs: Record<PlanSource & ('metadata' | 'entitlements'), WebhookTestEnv> = {
  metadata: await useWebhookTestEnv(),
  entitlements: await useWebhookTestEnv({ stripeSync: { planSource: 'entitlements' } }),
};
for (const env of Object.values(envs)) await setFeatureRules(env.prisma, 'max_projects', { combine: 'sum' });

interface Catalog {
  base: Stripe.Price;
  whiteLabel: Stripe.Price;
  projects: Stripe.Price;
  seats: Stripe.Price;
}

/** A product and its monthly price; its features in metadata, or as attached Stripe Features. */
async function product(
  env: WebhookTestEnv,
  source: PlanSource,
  name: string,
  flags: Record<string, string>,
  features: FeatureMap,
): Promise<Stripe.Price> {
  const tag = `${name.toLowerCase().replace(/\W/g, '')}${Math.random().toString(36).slice(2, 6)}`;
  const metadata = source === 'metadata' ? { ...flags, featuresJson: JSON.stringify(features) } : flags;
  const created = await env.stripe.products.create({ name, metadata });
  if (source === 'entitlements') {
    for (const [key, value] of Object.entries(features)) {
      const feature = await env.stripe.entitlements.features.create({
        name: `${key} (${name})`,
        lookup_key: `${key}#${tag}`,
        ...(typeof value === 'number' ? { metadata: { value: String(value) } } : {}),
      });
      await env.stripe.products.createFeature(created.id, { entitlement_feature: feature.id });
    }
  }
  return env.stripe.prices.create({
    product: created.id,
    currency: 'usd',
    unit_amount: 1000,
    recurring: { interval: 'month' },
  });
}

async function catalogFor(env: WebhookTestEnv, source: PlanSource): Promise<Catalog> {
  return {
    base: await product(env, source, 'Base', { bundle: 'base' }, { api_access: true, max_projects: 10 }),
    whiteLabel: await product(env, source, 'White label', { addon: 'true' }, { white_label: true }),
    projects: await product(env, source, 'Five projects', { addon: 'true' }, { max_projects: 5 }),
    seats: await product(env, source, 'Seats', { bundle: 'team', perUnit: 'true' }, { max_users: 1 }),
  };
}

const catalogs = {
  metadata: await catalogFor(envs.metadata, 'metadata'),
  entitlements: await catalogFor(envs.entitlements, 'entitlements'),
};

let tenants = 0;

/** A tenant subscribed to the base plan and both add-ons (projects ×3), its created event delivered. */
async function subscribedWithAddons(source: 'metadata' | 'entitlements') {
  const env = envs[source];
  const prices = catalogs[source];
  tenants += 1;
  const tenantId = `t_addons_${source}_${tenants}`;
  const customerId = await env.createCustomer(tenantId);
  const sub = await env.stripe.subscriptions.create({
    customer: customerId,
    items: [
      { price: prices.whiteLabel.id },
      { price: prices.base.id },
      { price: prices.projects.id, quantity: 3 },
    ],
  });
  const res = await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
  expect(res.json).toMatchObject({ status: 'processed', action: 'plan_applied' });
  const itemOf = (price: Stripe.Price) => sub.items.data.find((i) => i.price.id === price.id)!;
  return { tenantId, customerId, sub, itemOf };
}

describe.each(['metadata', 'entitlements'] as const)('PLAN_SOURCE=%s', (source) => {
  const env = envs[source];
  const prices = catalogs[source];

  /** The keys Stripe's own active entitlements grant the customer (lookup_key before `#`). */
  const stripeEntitlementKeys = async (customer: string) =>
    [
      ...new Set(
        (await env.stripe.entitlements.activeEntitlements.list({ customer, limit: 100 })).data.map((e) =>
          featureKeyOfLookupKey(e.lookup_key),
        ),
      ),
    ].sort();

  async function expectAgreesWithStripe(tenantId: string, customerId: string) {
    if (source !== 'entitlements') return;
    const state = await env.state(tenantId);
    expect(Object.keys(state!.planFeatures).sort()).toEqual(await stripeEntitlementKeys(customerId));
  }

  it('base plan + two add-ons: the union, add-on numbers per unit and summed; the base stays the plan item', async () => {
    const { tenantId, customerId } = await subscribedWithAddons(source);
    expect(await env.state(tenantId)).toMatchObject({
      features: { api_access: true, max_projects: 25, white_label: true },
      bundle: 'base',
      stripePriceId: prices.base.id,
    });
    await expectAgreesWithStripe(tenantId, customerId);
  });

  it('quantity 3 → 5 by customer.subscription.updated: the limit follows', async () => {
    const { tenantId, sub, itemOf } = await subscribedWithAddons(source);
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(prices.projects).id, quantity: 5 }],
    });
    const res = await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    expect(res.json).toMatchObject({ status: 'processed' });
    expect((await env.state(tenantId))?.features).toMatchObject({ max_projects: 35 });
  });

  it('an add-on item removed: its features go', async () => {
    const { tenantId, customerId, sub, itemOf } = await subscribedWithAddons(source);
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemOf(prices.whiteLabel).id, deleted: true }],
    });
    await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    expect((await env.state(tenantId))?.features).toEqual({ api_access: true, max_projects: 25 });
    await expectAgreesWithStripe(tenantId, customerId);
  });

  it('a second subscription holding an add-on adds to the plan; canceled, it stops contributing', async () => {
    const { tenantId, customerId, sub } = await subscribedWithAddons(source);
    const second = await env.stripe.subscriptions.create({
      customer: customerId,
      items: [{ price: prices.projects.id, quantity: 2 }],
    });
    await env.deliver(env.lastEvent('customer.subscription.created', second.id));
    // The newer subscription holds only an add-on: the base plan's subscription stays the tenant's.
    expect(await env.state(tenantId)).toMatchObject({
      features: { api_access: true, max_projects: 35, white_label: true },
      stripeSubscriptionId: sub.id,
      stripePriceId: prices.base.id,
    });
    await expectAgreesWithStripe(tenantId, customerId);
    await env.stripe.subscriptions.cancel(second.id);
    await env.deliver(env.lastEvent('customer.subscription.deleted', second.id));
    expect(await env.state(tenantId)).toMatchObject({
      features: { api_access: true, max_projects: 25, white_label: true },
      accessActive: true,
    });
    await expectAgreesWithStripe(tenantId, customerId);
  });

  it('a per-seat plan: max_users is the quantity', async () => {
    const tenantId = `t_seats_${source}`;
    const customerId = await env.createCustomer(tenantId);
    const sub = await env.stripe.subscriptions.create({
      customer: customerId,
      items: [{ price: prices.seats.id, quantity: 25 }],
    });
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    expect(await env.state(tenantId)).toMatchObject({ features: { max_users: 25 }, bundle: 'team' });
  });

  it('a storm of quantity changes delivered out of order ends at Stripe’s final quantity', async () => {
    const { tenantId, sub, itemOf } = await subscribedWithAddons(source);
    const itemId = itemOf(prices.projects).id;
    for (const quantity of [4, 9, 2, 7, 6, 8]) {
      await env.stripe.subscriptions.update(sub.id, { items: [{ id: itemId, quantity }] });
    }
    const updates = env.eventsOf('customer.subscription.updated', sub.id);
    expect(updates).toHaveLength(6);
    // Newest first, the rest interleaved, all at once: each delivery reads Stripe's current truth.
    const order = [5, 0, 3, 1, 4, 2].map((i) => updates[i]!);
    const results = await Promise.all(order.map((event) => env.deliver(event)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await env.settled(order.map((e) => e.id));
    expect((await env.state(tenantId))?.features).toMatchObject({ max_projects: 10 + 5 * 8 });
  });

  it('the bulk sync and reconcile combine the same way as the webhook path', async () => {
    const { tenantId } = await subscribedWithAddons(source);
    const webhook = await env.state(tenantId);
    const { summary } = await env.featureSync.syncAllTenantsFromStripe({ tenantId, force: true });
    expect(summary.failed).toEqual([]);
    expect((await env.state(tenantId))?.features).toEqual(webhook?.features);
    expect(webhook?.features).toEqual({ api_access: true, max_projects: 25, white_label: true });
    const report = await reconcileTenants({ prisma: env.prisma, featureSync: env.featureSync });
    expect(report.failed).toEqual([]);
    expect(report.drift.filter((d) => d.tenantId.startsWith(`t_addons_${source}`))).toEqual([]);
  });
});

describe('custom plans (PLAN_SOURCE=metadata: they write product metadata)', () => {
  const env = envs.metadata;
  const prices = catalogs.metadata;

  it('a custom plan switched onto the plan item keeps the add-on items, and the tenant their features', async () => {
    const { tenantId, sub } = await subscribedWithAddons('metadata');
    const customPlans = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync.withCatalog(databaseCatalog(env.prisma)),
      featureReader: env.featureSync.reader,
    });
    const result = await customPlans.createCustomEnterprisePlan({
      tenantId,
      basePlanId: prices.base.id,
      priceCents: 50_000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: { max_projects: 40 },
      planName: `Custom for ${tenantId}`,
      createCheckoutSession: false,
      switchSubscription: true,
    });
    const items = (await env.stripe.subscriptions.retrieve(sub.id)).items.data.map((i) => i.price.id);
    expect(items.sort()).toEqual([result.priceId, prices.whiteLabel.id, prices.projects.id].sort());
    const expected = { api_access: true, max_projects: 55, white_label: true };
    expect(await env.state(tenantId)).toMatchObject({
      source: 'custom',
      stripePriceId: result.priceId,
      features: expected,
    });
    // The switch's webhook finds the tenant already where Stripe says it is.
    await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    expect((await env.state(tenantId))?.features).toEqual(expected);
  });
});
