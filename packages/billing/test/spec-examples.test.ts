import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addFeature,
  BillingError,
  createCustomPlanService,
  createFeatureSyncService,
  createStripeSyncService,
  createStripeWebhookHandler,
  createTenant,
} from '@packages/billing';
import { useBillingTestEnv } from './helpers/use-env.js';
import { finished } from './helpers/child-process.js';
import { ensureBuilt } from './helpers/build.js';

// The npm scripts run the compiled package (npm run build); rebuilt here when a source is newer.
beforeAll(ensureBuilt, 300_000);

/**
 * Every TypeScript example of the spec (shared/spec/billing-package-README.md), verbatim: the same
 * argument lists, keys and metadata, after the documented registration of the spec's keys
 * (docs/metadata.md: keys become known by being added to the feature catalog). Runs on both backends.
 */

const env = await useBillingTestEnv();
const { stripe, prisma } = env;
const webhookSecret = 'whsec_spec_examples';

beforeAll(async () => {
  process.env.CHECKOUT_SUCCESS_URL ??= 'https://app.example.test/billing/success';
  process.env.CHECKOUT_CANCEL_URL ??= 'https://app.example.test/billing/cancel';

  // The documented registration (npm run manage -- features add …, POST /api/admin/features, or this).
  for (const key of ['google.reviews', 'facebook.overview', 'twitter.alerts'])
    await addFeature(prisma, { key, type: 'boolean', description: key });
  for (const key of ['platform.whiteLabel', 'platform.customIntegrations', 'platform.prioritySupport'])
    await addFeature(prisma, { key, type: 'boolean', description: key });

  // The spec's plans: product metadata exactly as in "Product Metadata"; ids by lookup_key.
  for (const [lookupKey, bundle] of [
    ['plan_pro', 'pro'],
    ['plan_enterprise', 'enterprise'],
  ] as const) {
    const product = await stripe.products.create({
      name: bundle,
      metadata: {
        bundle,
        features: 'google.reviews,facebook.overview,twitter.alerts',
        featuresJson: '{"google.reviews": true, "facebook.overview": true}',
        scrapeIntervalHours: '4',
        custom: 'false',
      },
    });
    await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 9900,
      recurring: { interval: 'month' },
      lookup_key: lookupKey,
    });
  }
  const customer = await stripe.customers.create({ name: 'Acme', metadata: { tenantId: 'tenant-123' } });
  await createTenant(prisma, { id: 'tenant-123', name: 'Acme', stripeCustomerId: customer.id });
});

describe('the spec, example by example', () => {
  it('StripeSyncService', async () => {
    const stripeSync = createStripeSyncService(stripe);

    // Get plan defaults from Stripe
    const planMetadata = await stripeSync.getPlanDefaultsFromStripe('plan_pro');

    // Get active subscription for customer
    const subscription = await stripeSync.getActiveSubscription('cus_123').catch((error: unknown) => error);

    // Get all customers with subscriptions
    const customers = await stripeSync.getCustomersWithSubscriptions(100);

    expect(planMetadata.features).toEqual({
      'facebook.overview': true,
      'google.reviews': true,
      'twitter.alerts': true,
    });
    // cus_123 does not exist in this account: Stripe answers with a typed error (or nothing).
    expect(subscription === null || subscription instanceof BillingError).toBe(true);
    expect(Array.isArray(customers)).toBe(true);
  });

  it('FeatureSyncService', async () => {
    const stripeSync = createStripeSyncService(stripe);
    const featureSync = createFeatureSyncService(prisma, stripeSync);

    // Apply plan defaults to tenant
    const result = await featureSync.applyPlanDefaultsToTenant('tenant-123', 'plan_pro', {
      force: false,
      mergeStrategy: 'merge',
    });

    // Sync all tenants from Stripe
    const summary = await featureSync.syncAllTenantsFromStripe({
      force: false,
      mergeStrategy: 'merge',
      limit: 100,
    });

    expect(result).toMatchObject({ success: true, changed: true });
    expect(await featureSync.isFeatureEnabled('tenant-123', 'google.reviews')).toBe(true);
    expect(summary.summary.failed).toEqual([]);
  });

  it('CustomPlanService (twice: the component example and "Example Usage")', async () => {
    const customPlanService = createCustomPlanService(stripe, prisma);

    // Create custom enterprise plan
    const result = await customPlanService.createCustomEnterprisePlan({
      tenantId: 'tenant-123',
      basePlanId: 'plan_enterprise',
      priceCents: 120000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: {
        'platform.whiteLabel': true,
        'platform.customIntegrations': true,
      },
      planName: 'Acme Enterprise Custom',
    });
    expect(result.productId).toMatch(/^prod_/);
    expect(result.priceId).toMatch(/^price_/);
    expect(result.checkoutUrl).toMatch(/^http/);

    const customPlan = await customPlanService.createCustomEnterprisePlan({
      tenantId: 'tenant-123',
      basePlanId: 'plan_enterprise',
      priceCents: 120000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: {
        'platform.whiteLabel': true,
        'platform.customIntegrations': true,
        'platform.prioritySupport': true,
      },
      planName: 'Acme Enterprise Custom',
    });

    // Result includes product ID, price ID, and checkout URL
    expect(customPlan.productId).toMatch(/^prod_/);
    expect(customPlan.priceId).toMatch(/^price_/);
    expect(customPlan.checkoutUrl).toMatch(/^http/);
    const featureSync = createFeatureSyncService(prisma, createStripeSyncService(stripe));
    expect(await featureSync.isFeatureEnabled('tenant-123', 'platform.prioritySupport')).toBe(true);
  });

  it('StripeWebhookHandler', async () => {
    const stripeSync = createStripeSyncService(stripe);
    const featureSync = createFeatureSyncService(prisma, stripeSync);
    const webhookHandler = createStripeWebhookHandler(stripe, prisma, featureSync, webhookSecret);

    const tenant = await prisma.tenant.findUniqueOrThrow({ where: { id: 'tenant-123' } });
    const price = (await stripe.prices.list({ lookup_keys: ['plan_pro'] })).data[0]!;
    const sub = await stripe.subscriptions.create({
      customer: tenant.stripeCustomerId!,
      items: [{ price: price.id }],
    });
    const event = env.emu
      .events()
      .find(
        (e) => e.type === 'customer.subscription.created' && (e.data.object as { id: string }).id === sub.id,
      )!;
    const payload = JSON.stringify(event);
    const signature = env.emu.signPayload(payload, { secret: webhookSecret });

    // Handle webhook
    const result = await webhookHandler.handleWebhook(payload, signature);

    expect(result).toMatchObject({ received: true, status: 'processed' });
  });

  it('Error Recovery', async () => {
    const stripeSync = createStripeSyncService(stripe);
    const featureSync = createFeatureSyncService(prisma, stripeSync);
    const tenantId = 'tenant-404';
    const planId = 'plan_pro';
    const logged: unknown[][] = [];
    const console = { error: (...args: unknown[]) => logged.push(args) };

    try {
      const result = await featureSync.applyPlanDefaultsToTenant(tenantId, planId);
      if (!result.success) {
        console.error('Failed to apply plan defaults:', result.reason);
        // Implement retry logic or fallback
      }
    } catch (error) {
      console.error('Feature sync error:', error);
      // Log error and continue with other tenants
    }

    expect(logged).toEqual([['Failed to apply plan defaults:', 'tenant_not_found']]);
  });

  it('Monitoring', async () => {
    const stripeSync = createStripeSyncService(stripe);
    const lines: string[] = [];
    const console = { log: (...args: unknown[]) => lines.push(args.join(' ')) };

    // Get sync statistics
    const stats = await stripeSync.getPlanStatistics();
    console.log('Total products:', stats.totalProducts);
    console.log('Products with features:', stats.productsWithFeatures);
    console.log('Custom plans:', stats.customPlans);

    expect(stats.totalProducts).toBeGreaterThanOrEqual(2);
    expect(stats.invalidProducts).toEqual([]);
    expect(lines[0]).toMatch(/^Total products: \d+$/);
  });
});

describe("the spec's CLI examples in npm form", () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const run = (args: string[]) =>
    finished(
      spawn('npm', args, {
        cwd: root,
        // No DATABASE_URL: the embedded database (the dry run writes nothing anyway).
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          // The run's initialised embedded data directory (vitest.global-setup.ts), when there is one.
          EMBEDDED_DATABASE_TEMPLATE: process.env.EMBEDDED_DATABASE_TEMPLATE,
          STRIPE_SECRET_KEY: env.emu.apiKey,
          STRIPE_API_BASE: env.emu.url,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );

  it('npm run -w @packages/billing migrate-stripe-metadata-to-db -- --dry-run, and the root script', async () => {
    for (const args of [
      ['run', '-w', '@packages/billing', 'migrate-stripe-metadata-to-db', '--', '--dry-run'],
      ['run', 'migrate-stripe-metadata-to-db', '--', '--dry-run'],
    ]) {
      const result = await run(args);
      expect([args.join(' '), result.code, result.stdout]).toEqual([
        args.join(' '),
        0,
        expect.stringContaining('Dry run: nothing will be written.'),
      ]);
    }
  }, 180_000);
});
