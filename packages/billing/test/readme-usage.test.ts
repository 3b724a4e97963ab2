import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The package entry, exactly as the README's "Using the library" imports it.
import {
  createCustomPlanService,
  createFeatureSyncService,
  createStripeSyncService,
  createStripeWebhookHandler,
  loadFeatureCatalog,
} from '@packages/billing';
import { PLAN_FIXTURES, createTenant, seedPlans, type SeededPlans } from './helpers/fixtures.js';
import { setupBillingTestEnv, type BillingTestEnv } from './helpers/env.js';

/** Walks the README's library example end to end, so the documented calls keep working. */
describe('README: using the library', () => {
  let env: BillingTestEnv;
  let plans: SeededPlans;
  beforeAll(async () => {
    env = await setupBillingTestEnv();
    plans = await seedPlans(env.stripe);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('runs the documented calls through @packages/billing', async () => {
    const customer = await env.stripe.customers.create({ name: 'Acme', metadata: { tenantId: 'acme' } });
    await createTenant(env.prisma, 'acme', customer.id);

    const catalog = await loadFeatureCatalog(env.prisma);
    const stripeSync = createStripeSyncService(env.stripe, { catalog });
    const featureSync = createFeatureSyncService(env.prisma, stripeSync, {
      cache: env.cache,
      cacheNamespace: env.namespace,
      catalog,
    });

    const plan = await stripeSync.getPlanDefaultsFromStripe(PLAN_FIXTURES.pro.lookupKey);
    expect(plan.features).toEqual(PLAN_FIXTURES.pro.features);
    const applied = await featureSync.applyPlanDefaultsToTenant('acme', PLAN_FIXTURES.pro.lookupKey, {
      mergeStrategy: 'merge',
      force: false,
    });
    expect(applied).toMatchObject({ success: true, changed: true });
    expect(await featureSync.isFeatureEnabled('acme', 'advanced_analytics')).toBe(true);
    expect(await featureSync.isFeatureEnabled('acme', 'sso')).toBe(false);

    // A signed webhook, exactly as Stripe would deliver it: the upgrade to enterprise lands.
    const subscription = await env.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: plans.enterprise.price.id }],
    });
    const event = env.emu
      .events()
      .find(
        (e) =>
          e.type === 'customer.subscription.created' &&
          (e.data.object as { id: string }).id === subscription.id,
      )!;
    const payload = JSON.stringify(event);
    const webhooks = createStripeWebhookHandler(env.stripe, env.prisma, featureSync, env.emu.webhookSecret);
    expect(await webhooks.handleWebhook(payload, env.emu.signPayload(payload))).toMatchObject({
      received: true,
      status: 'processed',
    });
    expect(await featureSync.isFeatureEnabled('acme', 'sso')).toBe(true);

    const { summary } = await featureSync.syncAllTenantsFromStripe({ dryRun: true });
    expect(summary).toMatchObject({ processed: 1, failed: [] });

    const customPlans = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync,
      featureReader: featureSync.reader,
      catalog,
    });
    const custom = await customPlans.createCustomEnterprisePlan({
      tenantId: 'acme',
      basePlanId: PLAN_FIXTURES.enterprise.lookupKey,
      priceCents: 250_000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: { max_users: 5000 },
      planName: 'Acme Enterprise',
      switchSubscription: true,
    });
    expect(custom).toMatchObject({
      productId: expect.stringMatching(/^prod_/),
      priceId: expect.stringMatching(/^price_/),
      subscriptionId: subscription.id,
    });
    expect(custom.features.max_users).toBe(5000);
    expect((await featureSync.getTenantFeatures('acme'))?.features.max_users).toBe(5000);
  });
});
