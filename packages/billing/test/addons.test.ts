import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { databaseCatalog } from '../src/io/catalog/registry.js';
import { createCustomPlanService } from '../src/flows/custom-plans/index.js';
import { createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import { listOverLimits } from '../src/flows/features/over-limit.js';
import { addFeature, createUsageService, setFeatureRules } from '../src/index.js';
import { featureKeyOfLookupKey, type PlanSource } from '../src/io/plan-source/index.js';
import { reconcileTenants } from '../src/flows/reconcile/index.js';
import type { FeatureMap } from '../src/core/types.js';
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

/** Polls `condition` every 10 ms for at most `timeoutMs`. */
async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('over the limit after a downgrade (one key per policy)', () => {
  const env = envs.metadata;
  const tenantId = 't_downgrade';
  // max_projects keeps the default block_new; max_users gets grace:7, max_scrapers allow.
  const limits = (n: number) => ({ max_projects: n, max_users: n, max_scrapers: n });
  const actions = async () =>
    (await env.audits(tenantId)).map((a) => a.action).filter((a) => a.startsWith('over_limit'));

  it('checkLimit says overLimit with since, each policy decides one more, start and end are audited and listed', async () => {
    await setFeatureRules(env.prisma, 'max_users', { overLimit: 'grace:7' });
    await setFeatureRules(env.prisma, 'max_scrapers', { overLimit: 'allow' });
    const big = await product(env, 'metadata', 'Big', { bundle: 'big' }, limits(20));
    const small = await product(env, 'metadata', 'Small', { bundle: 'small' }, limits(5));
    const customerId = await env.createCustomer(tenantId);
    const sub = await env.stripe.subscriptions.create({ customer: customerId, items: [{ price: big.id }] });
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    for (const key of Object.keys(limits(0)))
      expect(await env.featureSync.checkLimit(tenantId, key, 10)).toEqual({
        allowed: true,
        limit: 20,
        remaining: 10,
      });

    // Under the limit the usage is recorded without making the answer wait for it.
    await until(
      async () => (await env.prisma.tenantLimitUsage.count({ where: { tenantId } })) === 3,
      'the usage records',
    );
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: small.id }],
    });
    await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    // Listed from the usage last reported, before any checkLimit saw it above the new limit.
    expect(await listOverLimits(env.prisma, undefined, { tenantId })).toMatchObject([
      { key: 'max_projects', used: 10, limit: 5, overLimit: true },
      { key: 'max_scrapers', used: 10, limit: 5, overLimit: true },
      { key: 'max_users', used: 10, limit: 5, overLimit: true },
    ]);
    expect((await listOverLimits(env.prisma, undefined, { tenantId }))[0]!.since).toBeUndefined();

    const blocked = await env.featureSync.checkLimit(tenantId, 'max_projects', 10);
    expect(blocked).toMatchObject({
      allowed: false,
      limit: 5,
      remaining: 0,
      overLimit: true,
      policy: 'block_new',
    });
    const since = blocked.since!;
    expect(since).toBeInstanceOf(Date);
    const grace = await env.featureSync.checkLimit(tenantId, 'max_users', 10);
    expect(grace).toMatchObject({ allowed: true, overLimit: true, policy: 'grace:7' });
    expect(grace.graceEndsAt!.getTime() - grace.since!.getTime()).toBe(7 * 86_400_000);
    expect(await env.featureSync.checkLimit(tenantId, 'max_scrapers', 11)).toMatchObject({
      allowed: true,
      overLimit: true,
      policy: 'allow',
    });
    // Asked again, the start stays where it was.
    expect((await env.featureSync.checkLimit(tenantId, 'max_projects', 10)).since).toEqual(since);
    expect(await actions()).toEqual(['over_limit_started', 'over_limit_started', 'over_limit_started']);
    expect(await listOverLimits(env.prisma, databaseCatalog(env.prisma), { tenantId })).toMatchObject([
      { key: 'max_projects', allowed: false, since },
      { key: 'max_scrapers', used: 11, allowed: true },
      { key: 'max_users', allowed: true, policy: 'grace:7' },
    ]);

    // Eight days later (the start moved back), grace:7 blocks like block_new; a process that just
    // started (its own tracker) reads the start from the database.
    await env.prisma.$executeRaw`UPDATE tenant_limit_usage SET over_since = over_since - interval '8 days'
      WHERE tenant_id = ${tenantId} AND key = 'max_users'`;
    const later = createFeatureSyncService(env.prisma, env.stripeSync, {
      featureReader: env.featureSync.reader,
    });
    expect(await later.checkLimit(tenantId, 'max_users', 10)).toMatchObject({
      allowed: false,
      overLimit: true,
    });

    // Usage back under the limit: the answer is the plain one at once, and the end is recorded.
    expect(await env.featureSync.checkLimit(tenantId, 'max_projects', 4)).toEqual({
      allowed: true,
      limit: 5,
      remaining: 1,
    });
    await until(async () => (await actions()).includes('over_limit_ended'), 'the end of the over-limit');
    expect((await listOverLimits(env.prisma, undefined, { tenantId })).map((e) => e.key)).toEqual([
      'max_scrapers',
      'max_users',
    ]);
    // A key granted unlimited (`true`, as a metered number key may be) has no limit to be above.
    await env.prisma.$executeRaw`UPDATE tenant_feature_configs
      SET features = jsonb_set(features, '{max_scrapers}', 'true') WHERE tenant_id = ${tenantId}`;
    expect((await listOverLimits(env.prisma, undefined, { tenantId })).map((e) => e.key)).toEqual([
      'max_users',
    ]);
  });
});

describe('metered keys over the limit after a downgrade (the same policies, counted usage)', () => {
  const env = envs.metadata;
  const tenantId = 't_metered_downgrade';
  // One metered key per over-limit policy, each refusing beyond its limit by its overage rule.
  const keys = { block: 'calls.blocked', grace: 'calls.grace', allow: 'calls.allowed' } as const;
  const limits = (n: number) => ({ [keys.block]: n, [keys.grace]: n, [keys.allow]: n });
  const actions = async () =>
    (await env.audits(tenantId)).map((a) => a.action).filter((a) => a.startsWith('over_limit'));
  const usageService = () =>
    createUsageService(env.prisma, { featureReader: env.featureSync.reader, sweepIntervalMs: 0 });

  it('getUsage and track say overLimit with since; block_new refuses, grace:<days> and allow let use go on; audited and listed', async () => {
    const usage = { reset: 'never', overage: 'reject' } as const;
    await addFeature(env.prisma, { key: keys.block, type: 'number', description: 'Calls', usage });
    await addFeature(env.prisma, {
      key: keys.grace,
      type: 'number',
      description: 'Calls',
      usage: { reset: 'never', overage: 'cap' },
      overLimit: 'grace:7',
    });
    await addFeature(env.prisma, {
      key: keys.allow,
      type: 'number',
      description: 'Calls',
      usage,
      overLimit: 'allow',
    });
    const big = await product(env, 'metadata', 'Metered big', { bundle: 'mbig' }, limits(20));
    const small = await product(env, 'metadata', 'Metered small', { bundle: 'msmall' }, limits(5));
    const customerId = await env.createCustomer(tenantId);
    const sub = await env.stripe.subscriptions.create({ customer: customerId, items: [{ price: big.id }] });
    await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    const meter = usageService();
    for (const key of Object.values(keys)) {
      const tracked = await meter.track(tenantId, key, 10);
      expect(tracked).toMatchObject({ allowed: true, used: 10, limit: 20 });
      expect(tracked.overLimit).toBeUndefined();
    }

    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: sub.items.data[0]!.id, price: small.id }],
    });
    await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    const read = await meter.getUsage(tenantId);
    const byKey = new Map(read.meters.map((m) => [m.key, m]));
    expect(byKey.get(keys.block)).toMatchObject({
      used: 10,
      limit: 5,
      overLimit: true,
      overLimitPolicy: 'block_new',
    });
    expect(byKey.get(keys.grace)).toMatchObject({ overLimit: true, overLimitPolicy: 'grace:7' });
    expect(byKey.get(keys.allow)).toMatchObject({ overLimit: true, overLimitPolicy: 'allow' });
    const since = byKey.get(keys.block)!.since!;
    expect(since).toBeInstanceOf(Date);
    expect(byKey.get(keys.grace)!.graceEndsAt!.getTime() - byKey.get(keys.grace)!.since!.getTime()).toBe(
      7 * 86_400_000,
    );
    expect(await actions()).toEqual(['over_limit_started', 'over_limit_started', 'over_limit_started']);

    // block_new: refused (what is used stays); the overage rule alone would refuse the other two too.
    expect(await meter.track(tenantId, keys.block, 1)).toMatchObject({
      allowed: false,
      granted: 0,
      used: 10,
      overLimit: true,
      since,
      overLimitPolicy: 'block_new',
    });
    expect(await meter.check(tenantId, keys.block, 1)).toMatchObject({ allowed: false, overLimit: true });
    // grace:7 and allow: granted, beyond the limit, so counted as overage.
    expect(await meter.check(tenantId, keys.grace, 2)).toMatchObject({ allowed: true, granted: 2 });
    expect(await meter.track(tenantId, keys.grace, 2)).toMatchObject({
      allowed: true,
      granted: 2,
      used: 12,
      overage: 2,
      overLimit: true,
      overLimitPolicy: 'grace:7',
    });
    expect(await meter.track(tenantId, keys.allow, 1)).toMatchObject({
      allowed: true,
      used: 11,
      overLimit: true,
    });
    expect(await actions()).toHaveLength(3);

    // Listed as checkLimit's usage is: the admin API, the console's drift page and reconcile read this.
    const listed = async () => listOverLimits(env.prisma, databaseCatalog(env.prisma), { tenantId });
    // Usage moving while above the limit is recorded without the answer waiting for it.
    const usedOf = async (key: string) => (await listed()).find((e) => e.key === key)?.used;
    await until(
      async () => (await usedOf(keys.grace)) === 12 && (await usedOf(keys.allow)) === 11,
      'the usage recorded',
    );
    expect(await listed()).toMatchObject([
      { key: keys.allow, used: 11, limit: 5, allowed: true, policy: 'allow' },
      { key: keys.block, used: 10, limit: 5, allowed: false, since },
      { key: keys.grace, used: 12, limit: 5, allowed: true, policy: 'grace:7' },
    ]);

    // Eight days on, grace:7 blocks like block_new (a fresh service reads the start from the database).
    await env.prisma.$executeRaw`UPDATE tenant_limit_usage SET over_since = over_since - interval '8 days'
      WHERE tenant_id = ${tenantId} AND key = ${keys.grace}`;
    expect(await usageService().track(tenantId, keys.grace, 1)).toMatchObject({
      allowed: false,
      granted: 0,
      used: 12,
      overLimit: true,
    });

    // Back under the limit (an operator reset): the end is audited and the key leaves the list.
    const reset = await meter.resetUsage(tenantId, keys.block);
    expect(reset.meters.find((m) => m.key === keys.block)).toMatchObject({ used: 0, overLimit: false });
    await until(async () => (await actions()).includes('over_limit_ended'), 'the end of the over-limit');
    expect((await listed()).map((e) => e.key)).toEqual([keys.allow, keys.grace]);
    meter.close();
  });
});
