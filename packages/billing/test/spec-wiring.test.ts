import { beforeAll, describe, expect, it } from 'vitest';
import {
  addFeature,
  createCustomPlanService,
  createFeatureReader,
  createMemoryCache,
  createFeatureSyncService,
  createStripeSyncService,
  createStripeWebhookHandler,
  createTenant,
  MetadataError,
} from '../src/index.js';
import { useBillingTestEnv } from './helpers/use-env.js';

/**
 * The spec's argument lists with no options behave like the wired context: the database's catalog
 * decides which keys exist, and services built apart on one database read each other's commits at once
 * (nothing is cached behind their backs: a cache is shared only by passing it).
 */

const env = await useBillingTestEnv();
const SPEC_PRODUCT_METADATA = {
  bundle: 'pro',
  features: 'google.reviews,facebook.overview,twitter.alerts',
  featuresJson: '{"google.reviews": true, "facebook.overview": true}',
  scrapeIntervalHours: '4',
  custom: 'false',
};
let proPriceId: string;

beforeAll(async () => {
  const product = await env.stripe.products.create({ name: 'Pro', metadata: SPEC_PRODUCT_METADATA });
  const price = await env.stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 4900,
    recurring: { interval: 'month' },
    lookup_key: 'spec_wiring_pro',
  });
  proPriceId = price.id;
});

async function register(keys: string[]) {
  for (const key of keys) await addFeature(env.prisma, { key, type: 'boolean', description: key });
}

describe('createStripeSyncService(stripe): a reader without a database', () => {
  it('reads the spec metadata (any well-formed key, typed by its value)', async () => {
    const stripeSync = createStripeSyncService(env.stripe);
    const plan = await stripeSync.getPlanDefaultsFromStripe(proPriceId);
    expect(plan.features).toEqual({
      'facebook.overview': true,
      'google.reviews': true,
      'twitter.alerts': true,
    });
    expect(plan.bundle).toBe('pro');
    expect(plan.scrapeIntervalHours).toBe(4);
  });

  it('still refuses malformed keys', async () => {
    const product = await env.stripe.products.create({
      name: 'Broken',
      metadata: { features: 'google..reviews' },
    });
    await expect(createStripeSyncService(env.stripe).getPlanDefaultsFromStripe(product.id)).rejects.toThrow(
      MetadataError,
    );
  });
});

describe('database-facing services check plans against the database catalog', () => {
  it('refuses unregistered keys (a typo never becomes a flag), then applies them once registered', async () => {
    const stripeSync = createStripeSyncService(env.stripe);
    const featureSync = createFeatureSyncService(env.prisma, stripeSync);
    await createTenant(env.prisma, { id: 'sw-1', name: 'One' });
    const refused = await featureSync.applyPlanDefaultsToTenant('sw-1', proPriceId);
    expect(refused).toMatchObject({ success: false, reason: 'invalid_metadata' });
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: 'sw-1' } })).toBeNull();

    await register(['google.reviews', 'facebook.overview', 'twitter.alerts']);
    const applied = await featureSync.applyPlanDefaultsToTenant('sw-1', proPriceId);
    expect(applied).toMatchObject({ success: true, changed: true });
    expect(await featureSync.isFeatureEnabled('sw-1', 'google.reviews')).toBe(true);
  });

  it('picks up a key registered by another process (straight into the table) on the next miss', async () => {
    const product = await env.stripe.products.create({
      name: 'Other',
      metadata: { features: 'platform.freshKey' },
    });
    const featureSync = createFeatureSyncService(env.prisma, createStripeSyncService(env.stripe));
    await createTenant(env.prisma, { id: 'sw-2', name: 'Two' });
    expect(await featureSync.applyPlanDefaultsToTenant('sw-2', product.id)).toMatchObject({
      success: false,
    });
    await env.prisma.featureCatalog.create({
      data: { key: 'platform.freshKey', type: 'boolean', description: 'added elsewhere' },
    });
    // The refresh on a miss is rate-limited to once a second: within a few, the new key is known.
    await expect
      .poll(async () => (await featureSync.applyPlanDefaultsToTenant('sw-2', product.id)).success, {
        timeout: 10_000,
        interval: 250,
      })
      .toBe(true);
  });
});

describe("services built apart on one database read each other's commits at once", () => {
  it('a custom plan is visible to a separately built feature service at once', async () => {
    await register(['platform.whiteLabel', 'platform.customIntegrations']);
    const stripeSync = createStripeSyncService(env.stripe);
    const featureSync = createFeatureSyncService(env.prisma, stripeSync);
    const customPlanService = createCustomPlanService(env.stripe, env.prisma);
    await createTenant(env.prisma, { id: 'sw-3', name: 'Three' });
    await featureSync.applyPlanDefaultsToTenant('sw-3', proPriceId);
    expect(await featureSync.isFeatureEnabled('sw-3', 'platform.whiteLabel')).toBe(false);
    await customPlanService.createCustomEnterprisePlan({
      tenantId: 'sw-3',
      basePlanId: proPriceId,
      priceCents: 120000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: { 'platform.whiteLabel': true, 'platform.customIntegrations': true },
      planName: 'Three Custom',
      createCheckoutSession: false,
    });
    expect(await featureSync.isFeatureEnabled('sw-3', 'platform.whiteLabel')).toBe(true);
    const other = createFeatureSyncService(env.prisma, createStripeSyncService(env.stripe));
    expect(await other.isFeatureEnabled('sw-3', 'platform.customIntegrations')).toBe(true);
  });

  it('the webhook handler built the spec way: its change is read at once by a service built apart', async () => {
    const stripeSync = createStripeSyncService(env.stripe);
    const featureSync = createFeatureSyncService(env.prisma, stripeSync);
    const secret = 'whsec_spec_wiring';
    const webhookHandler = createStripeWebhookHandler(env.stripe, env.prisma, featureSync, secret);
    const customer = await env.stripe.customers.create({ metadata: { tenantId: 'sw-4' } });
    await createTenant(env.prisma, { id: 'sw-4', name: 'Four', stripeCustomerId: customer.id });
    expect(await featureSync.isFeatureEnabled('sw-4', 'twitter.alerts')).toBe(false);
    const sub = await env.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: proPriceId }],
    });
    const event = {
      id: `evt_sw4_${Date.now()}`,
      object: 'event',
      type: 'customer.subscription.created',
      created: Math.floor(Date.now() / 1000),
      data: { object: sub },
      api_version: '2024-06-20',
      livemode: false,
      pending_webhooks: 0,
      request: null,
    };
    const payload = JSON.stringify(event);
    const signature = env.stripe.webhooks.generateTestHeaderString({ payload, secret });
    expect(await webhookHandler.handleWebhook(payload, signature)).toMatchObject({ status: 'processed' });
    expect(
      await createFeatureSyncService(env.prisma, stripeSync).isFeatureEnabled('sw-4', 'twitter.alerts'),
    ).toBe(true);
  });

  it('a cache is shared by passing one reader: the custom plan service updates the cached value', async () => {
    const reader = createFeatureReader(env.prisma, createMemoryCache());
    const stripeSync = createStripeSyncService(env.stripe);
    const featureSync = createFeatureSyncService(env.prisma, stripeSync, { featureReader: reader });
    const customPlanService = createCustomPlanService(env.stripe, env.prisma, { featureReader: reader });
    await createTenant(env.prisma, { id: 'sw-5', name: 'Five' });
    await featureSync.applyPlanDefaultsToTenant('sw-5', proPriceId);
    // Cached now: a read that went around the reader would not see the custom plan below.
    expect(await featureSync.isFeatureEnabled('sw-5', 'platform.whiteLabel')).toBe(false);
    const misses = reader.stats.misses;
    await customPlanService.createCustomEnterprisePlan({
      tenantId: 'sw-5',
      basePlanId: proPriceId,
      priceCents: 120000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: { 'platform.whiteLabel': true },
      planName: 'Five Custom',
      createCheckoutSession: false,
    });
    expect(await featureSync.isFeatureEnabled('sw-5', 'platform.whiteLabel')).toBe(true);
    // Served from the cache the custom plan service published to, not read again.
    expect(reader.stats.misses).toBe(misses);
  });
});
