import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { createCustomPlanService } from '../src/flows/custom-plans/index.js';
import {
  EXIT_OK,
  EXIT_PROBLEMS,
  runEntitlementsMigrationCli,
} from '../src/entry/cli/migrate-metadata-to-entitlements.js';
import { restrictFeatures } from '../src/core/index.js';
import { reconcileTenants } from '../src/flows/reconcile/index.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import type { PlanSource } from '../src/io/plan-source/index.js';
import { captureStream } from './admin-helpers.js';
import { PLAN_FIXTURES, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

// One emulator + database for the file: the plans are seeded with metadata, then moved to Stripe
// Features by the migration CLI, and every later test reads them in `entitlements` mode.
const env = await useWebhookTestEnv({ stripeSync: { planSource: 'entitlements' } });

const SUMMARY = 'entitlements.active_entitlement_summary.updated';
// A reader built without a catalog accepts any well-formed key typed by its value; these tests
// check Features against the catalog, as the database-facing services do.
const fastSync = (planSource: PlanSource) =>
  createStripeSyncService(env.stripe, {
    catalog: DEFAULT_FEATURE_CATALOG,
    planSource,
    maxRetries: 0,
    requestsPerSecond: 100_000,
    burst: 100_000,
  });

async function migrate(argv: string[]) {
  const stdout = captureStream();
  const stderr = captureStream();
  const context = { stripe: env.stripe, stripeSync: env.stripeSync, catalog: DEFAULT_FEATURE_CATALOG };
  const code = await runEntitlementsMigrationCli(argv, { context, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const attachedKeys = async (productId: string) =>
  (await env.stripe.products.listFeatures(productId, { limit: 100 })).data
    .map((pf) => pf.entitlement_feature.lookup_key)
    .sort();

describe('migrate-metadata-to-entitlements', () => {
  it('dry run first: prints the plan and creates nothing', async () => {
    const { code, stdout } = await migrate([]);
    expect(code).toBe(EXIT_OK);
    expect(stdout).toContain('Dry run: nothing will be created');
    expect(stdout).toContain('would create Feature api_access');
    expect(stdout).toContain('would create Feature max_users#25 (metadata value=25)');
    expect(stdout).toContain(`would attach max_users#25 to ${env.plans.pro.product.id}`);
    expect((await env.stripe.entitlements.features.list({ limit: 100 })).data).toEqual([]);
  });

  it('--apply creates Features and attachments equal to the metadata, keeps metadata, and is idempotent', async () => {
    const first = await migrate(['--apply']);
    expect(first.code).toBe(EXIT_OK);
    expect(first.stdout).toContain('created Feature api_access');
    expect(await attachedKeys(env.plans.starter.product.id)).toEqual([
      'api_access',
      'max_projects#3',
      'max_users#5',
      'webhooks',
    ]);
    const users = (await env.stripe.entitlements.features.list({ lookup_key: 'max_users#5' })).data[0];
    expect(users?.metadata).toEqual({ value: '5' });
    for (const plan of Object.values(env.plans)) {
      const product = await env.stripe.products.retrieve(plan.product.id);
      expect(product.metadata).toEqual(plan.fixture.productMetadata);
    }

    const again = await migrate(['--apply', '--json']);
    expect(again.code).toBe(EXIT_OK);
    const report = JSON.parse(again.stdout) as { actions: unknown[]; alreadyAttached: number; problems: [] };
    expect(report.actions).toEqual([]);
    expect(report.problems).toEqual([]);
    expect(report.alreadyAttached).toBeGreaterThanOrEqual(4);
  });

  it('reports a product it cannot migrate and leaves it alone', async () => {
    const product = await env.stripe.products.create({
      name: 'Odd',
      metadata: { featuresJson: '{"max_users":7}' },
    });
    const rival = await env.stripe.entitlements.features.create({
      lookup_key: 'max_users#odd',
      name: 'Users',
      metadata: { value: '8' },
    });
    await env.stripe.products.createFeature(product.id, { entitlement_feature: rival.id });
    const { code, stdout } = await migrate(['--apply']);
    expect(code).toBe(EXIT_PROBLEMS);
    expect(stdout).toContain(`problem: ${product.id} max_users#7: product already grants "max_users"`);
    expect(await attachedKeys(product.id)).toEqual(['max_users#odd']);
    await env.stripe.products.deleteFeature(
      product.id,
      (await env.stripe.products.listFeatures(product.id)).data[0]!.id,
    );
    await env.stripe.products.update(product.id, { active: false, metadata: { featuresJson: '' } });
  });
});

describe('entitlements as the plan source', () => {
  it('resolves every plan to the same features the metadata granted', async () => {
    for (const plan of Object.values(env.plans)) {
      const resolved = await env.stripeSync.getPlanDefaultsFromStripe(plan.fixture.lookupKey);
      expect(resolved).toMatchObject({
        productId: plan.product.id,
        bundle: plan.fixture.bundle,
        features: plan.fixture.features,
      });
    }
  });

  it('bulk sync and reconcile work from Stripe Features', async () => {
    const tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 3, {
      plans: env.plans,
      prefix: 'ent',
    });
    const { summary } = await env.featureSync.syncAllTenantsFromStripe();
    expect(summary.failed).toEqual([]);
    const expected = [PLAN_FIXTURES.starter, PLAN_FIXTURES.pro, PLAN_FIXTURES.enterprise];
    for (const [i, tenant] of tenants.entries()) {
      expect((await env.state(tenant.tenantId))?.features).toEqual(expected[i]!.features);
    }
    const report = await reconcileTenants({ prisma: env.prisma, featureSync: env.featureSync });
    expect(report.drift).toEqual([]);
    expect(report.failed).toEqual([]);
    expect(report.inSync).toBeGreaterThanOrEqual(3);
  });

  it('getPlanStatistics counts products with features from the configured sources', async () => {
    const metadataOnly = await env.stripe.products.create({
      name: 'Legacy',
      metadata: { features: 'sso' },
    });
    const nativeOnly = await env.stripe.products.create({ name: 'Native' });
    const sso = (await env.stripe.entitlements.features.list({ lookup_key: 'api_access' })).data[0]!;
    await env.stripe.products.createFeature(nativeOnly.id, { entitlement_feature: sso.id });
    const broken = await env.stripe.products.create({ name: 'Broken' });
    const bad = await env.stripe.entitlements.features.create({ lookup_key: 'max_users#x', name: 'x' });
    await env.stripe.products.createFeature(broken.id, { entitlement_feature: bad.id });

    const withFeatures = async (source: PlanSource) =>
      (await fastSync(source).getPlanStatistics()).productsWithFeatures;
    // The three seeded plans carry both; Legacy only metadata, Native only a Feature.
    expect(await withFeatures('metadata')).toBe(4);
    expect(await withFeatures('entitlements')).toBe(4);
    expect(await withFeatures('both')).toBe(5);
    const stats = await fastSync('entitlements').getPlanStatistics();
    expect(stats.invalidProducts).toEqual([
      { id: broken.id, error: expect.stringContaining(`Invalid Stripe Feature ${bad.id}`) },
    ]);
    expect(stats.invalidProducts[0]!.error).toContain('number feature');
    for (const p of [metadataOnly, nativeOnly, broken])
      await env.stripe.products.update(p.id, { active: false });
    await env.stripe.products.deleteFeature(
      broken.id,
      (await env.stripe.products.listFeatures(broken.id)).data[0]!.id,
    );
    await env.stripe.products.deleteFeature(
      nativeOnly.id,
      (await env.stripe.products.listFeatures(nativeOnly.id)).data[0]!.id,
    );
  });

  it('a custom plan keeps its features: the base plan from Stripe Features, the overrides on top', async () => {
    const tenantId = 'ent_custom';
    await env.prisma.tenant.create({ data: { id: tenantId, name: tenantId } });
    const customPlans = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      featureReader: env.featureSync.reader,
    });
    const plan = await customPlans.createCustomEnterprisePlan({
      tenantId,
      basePlanId: env.plans.pro.price.id,
      priceCents: 99_900,
      currency: 'usd',
      recurringInterval: 'year',
      overrides: { max_users: 500 },
      planName: 'Custom for ent',
      createCheckoutSession: false,
    });
    const expected = { ...PLAN_FIXTURES.pro.features, max_users: 500 };
    expect(plan.features).toEqual(expected);
    // Read back as the webhook path and the sync read it: no Stripe Feature is attached to it.
    expect(await attachedKeys(plan.productId)).toEqual([]);
    expect(await env.stripeSync.getPlanDefaultsFromStripe(plan.priceId)).toMatchObject({
      custom: true,
      features: expected,
    });
  });
});

describe('webhooks in entitlements mode', () => {
  it('a summary event re-reads the customer and never trusts its payload', async () => {
    const { customerId } = await env.subscribed('ent_summary', 'pro');
    expect((await env.state('ent_summary'))?.features).toEqual(PLAN_FIXTURES.pro.features);
    const fake = env.emu.emitEvent(SUMMARY, {
      object: 'entitlements.active_entitlement_summary',
      customer: customerId,
      entitlements: { object: 'list', data: [], has_more: true, url: '/v1/entitlements/active_entitlements' },
      livemode: false,
    });
    const res = await env.deliver(fake);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'processed', type: SUMMARY });
    expect((await env.state('ent_summary'))?.features).toEqual(PLAN_FIXTURES.pro.features);
  });

  it('detaching a Feature reaches the tenant through the summary event, past the plan cache', async () => {
    const { customerId } = await env.subscribed('ent_detach', 'starter');
    // Warm the cache: the starter plan's attachments are now held for the TTL.
    await env.stripeSync.getPlanDefaultsFromStripe(env.plans.starter.product.id);
    const product = env.plans.starter.product.id;
    const attachment = (await env.stripe.products.listFeatures(product, { limit: 100 })).data.find(
      (pf) => pf.entitlement_feature.lookup_key === 'webhooks',
    )!;
    const before = env.eventsOf(SUMMARY).length;
    await env.stripe.products.deleteFeature(product, attachment.id);
    const summaries = env.eventsOf(SUMMARY).slice(before);
    const mine = summaries.find((e) => (e.data.object as { customer: string }).customer === customerId)!;
    expect(mine).toBeDefined();
    const res = await env.deliver(mine);
    expect(res.json).toMatchObject({ status: 'processed' });
    const { webhooks: _gone, ...rest } = PLAN_FIXTURES.starter.features;
    expect((await env.state('ent_detach'))?.features).toEqual(rest);
    await env.stripe.products.createFeature(product, {
      entitlement_feature: attachment.entitlement_feature.id,
    });
    // Its summary events are not delivered here, so later tests must not see the cached detachment.
    env.stripeSync.invalidatePlan();
  });

  it('product.updated invalidates the plan, attachments included', async () => {
    await env.stripeSync.getPlanDefaultsFromStripe(env.plans.pro.product.id);
    const sso =
      (await env.stripe.entitlements.features.list({ lookup_key: 'sso' })).data[0] ??
      (await env.stripe.entitlements.features.create({ lookup_key: 'sso', name: 'SSO' }));
    await env.stripe.products.createFeature(env.plans.pro.product.id, { entitlement_feature: sso.id });
    const stale = await env.stripeSync.getPlanDefaultsFromStripe(env.plans.pro.product.id);
    expect(stale.features.sso).toBeUndefined();
    await env.stripe.products.update(env.plans.pro.product.id, { description: 'now with SSO' });
    await env.deliver(env.lastEvent('product.updated', env.plans.pro.product.id));
    const fresh = await env.stripeSync.getPlanDefaultsFromStripe(env.plans.pro.product.id);
    expect(fresh.features.sso).toBe(true);
  });

  it('trial end and pause still act through the subscription status (no summary event is sent)', async () => {
    const { sub } = await env.subscribed('ent_trial', 'starter', { trial_period_days: 7 });
    const before = env.eventsOf(SUMMARY).length;
    const ended = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'active'));
    expect(ended.json).toMatchObject({ status: 'processed' });
    expect(await env.state('ent_trial')).toMatchObject({ subscriptionStatus: 'active', accessActive: true });
    const paused = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'paused'));
    expect(paused.json).toMatchObject({ action: 'access_restricted' });
    expect(env.eventsOf(SUMMARY).length).toBe(before);
    expect(await env.state('ent_trial')).toMatchObject({
      subscriptionStatus: 'paused',
      accessActive: false,
      features: restrictFeatures(PLAN_FIXTURES.starter.features),
    });
  });
});
