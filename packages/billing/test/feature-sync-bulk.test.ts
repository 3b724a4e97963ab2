import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTenant,
  PLAN_FIXTURES,
  seedTenantsWithSubscriptions,
  type SeededTenant,
} from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

const { env, plans, stripeSync, sync } = await useFeatureSyncEnv({ concurrency: 4 });
let linked: SeededTenant[];
let byMetadata: SeededTenant[];
let brokenTenants: SeededTenant[];
const special: Record<string, string> = {};

/**
 * One Stripe account with every situation a reconcile meets: tenants bound by column, tenants
 * only named in customer metadata, customers without a tenant, a customer claiming a tenant bound
 * to someone else, a hand-edited config, a canceled subscription and a product with bad metadata.
 */
beforeAll(async () => {
  linked = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 30, { plans, prefix: 'linked' });
  byMetadata = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 5, {
    plans,
    prefix: 'meta',
    link: 'metadata',
  });
  const broken = await env.stripe.products.create({
    name: 'Broken',
    metadata: { bundle: 'broken', featuresJson: '{"max_users":"lots"}' },
  });
  const brokenPrice = await env.stripe.prices.create({
    product: broken.id,
    currency: 'usd',
    unit_amount: 1,
    recurring: { interval: 'month' },
  });
  brokenTenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 2, {
    priceFor: () => brokenPrice.id,
    prefix: 'broken',
  });

  const orphan = await env.stripe.customers.create({ metadata: { tenantId: 'tenant_that_does_not_exist' } });
  await env.stripe.subscriptions.create({ customer: orphan.id, items: [{ price: plans.pro.price.id }] });
  const anonymous = await env.stripe.customers.create({});
  await env.stripe.subscriptions.create({ customer: anonymous.id, items: [{ price: plans.pro.price.id }] });
  special.orphan = orphan.id;

  // Claims linked_000000, which is bound to its own customer.
  const impostor = await env.stripe.customers.create({ metadata: { tenantId: linked[0]!.tenantId } });
  await env.stripe.subscriptions.create({
    customer: impostor.id,
    items: [{ price: plans.enterprise.price.id }],
  });
  special.impostor = impostor.id;

  const canceled = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 1, {
    plans,
    prefix: 'canceled',
  });
  env.emu.setSubscriptionStatus(canceled[0]!.subscriptionId, 'canceled');
  special.canceledTenant = canceled[0]!.tenantId;

  special.manualTenant = linked[1]!.tenantId;
  await env.prisma.tenantFeatureConfig.create({
    data: { tenantId: special.manualTenant, source: 'manual', features: { sso: true } },
  });
});
describe('syncAllTenantsFromStripe', () => {
  it('first sync: applies plans, backfills customer ids, and reports skips and failures per customer', async () => {
    const progress: Array<{ done: number; total: number }> = [];
    const queries = env.db.stats.queries;
    const { results, summary } = await sync.syncAllTenantsFromStripe({ onProgress: (p) => progress.push(p) });
    // 34 tenants written (with their audit rows and customer links) in one statement, after the
    // bulk load: round trips do not grow with the number of tenants.
    expect(env.db.stats.queries - queries).toBeLessThanOrEqual(5);

    // 30 linked + 5 metadata + 2 broken + orphan + anonymous + impostor + canceled.
    expect(summary.processed).toBe(41);
    expect(summary.updated).toBe(29 + 5);
    expect(summary.unchanged).toBe(0);
    expect(summary.skipped).toEqual({
      no_tenant: 2,
      customer_mismatch: 1,
      custom_config: 1,
      no_active_subscription: 1,
    });
    expect(summary.failed).toHaveLength(2);
    expect(summary.failed.map((f) => f.tenantId).sort()).toEqual(brokenTenants.map((t) => t.tenantId).sort());
    expect(summary.failed[0]!.error).toMatch(/max_users/);
    expect(results.find((r) => r.tenantId === brokenTenants[0]!.tenantId)).toMatchObject({
      success: false,
      reason: 'invalid_metadata',
    });
    expect(results.find((r) => r.customerId === special.impostor)).toMatchObject({
      tenantId: linked[0]!.tenantId,
      reason: 'customer_mismatch',
    });
    expect(results.find((r) => r.customerId === special.orphan)).toMatchObject({
      tenantId: 'tenant_that_does_not_exist',
      reason: 'no_tenant',
    });
    expect(summary.stripeRequests).toBeGreaterThan(0);
    expect(progress).toHaveLength(41);
    expect(progress.at(-1)).toEqual({ done: 41, total: 41, tenantId: expect.anything() });

    for (const [i, tenant] of linked.entries()) {
      if (tenant.tenantId === special.manualTenant) continue;
      const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({
        where: { tenantId: tenant.tenantId },
      });
      const name = (['starter', 'pro', 'enterprise'] as const)[i % 3]!;
      expect(config).toMatchObject({
        features: PLAN_FIXTURES[name].features,
        stripePriceId: tenant.priceId,
        stripeSubscriptionId: tenant.subscriptionId,
        subscriptionStatus: 'active',
        version: 1,
      });
    }
    const backfilled = await env.prisma.tenant.findMany({
      where: { id: { in: byMetadata.map((t) => t.tenantId) } },
    });
    expect(backfilled.map((t) => t.stripeCustomerId).sort()).toEqual(
      byMetadata.map((t) => t.customerId).sort(),
    );
    const manual = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({
      where: { tenantId: special.manualTenant },
    });
    expect(manual.features).toEqual({ sso: true });
    expect(
      await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: special.canceledTenant } }),
    ).toBeNull();
    expect(await env.prisma.featureAuditLog.count({ where: { actor: 'system', source: 'sync' } })).toBe(34);
    // Committed changes are visible through the feature cache.
    expect(await sync.isFeatureEnabled(linked[2]!.tenantId, 'sso')).toBe(true);
  });

  it('second sync: nothing changed, so no transaction and only a few DB round trips', async () => {
    env.emu.resetRequestCounts();
    const queries = env.db.stats.queries;
    const { summary } = await sync.syncAllTenantsFromStripe();
    expect(summary.updated).toBe(0);
    expect(summary.unchanged).toBe(34);
    expect(summary.failed).toHaveLength(2);
    // The tenant bulk load (tenants + configs), nothing per tenant.
    expect(env.db.stats.queries - queries).toBeLessThanOrEqual(4);
    // One page of subscriptions; the products are cached.
    expect(env.emu.requestCounts()['GET /v1/subscriptions']).toBe(1);
  });

  it('dry run reports what a plan change would do without writing', async () => {
    await env.stripe.products.update(plans.starter.product.id, {
      metadata: { features: 'api_access,webhooks,sso' },
    });
    stripeSync.invalidatePlan(plans.starter.product.id);
    const versions = await env.prisma.tenantFeatureConfig.aggregate({ _sum: { version: true } });
    const { results, summary } = await sync.syncAllTenantsFromStripe({ dryRun: true });
    const starterCount =
      linked.filter((t, i) => i % 3 === 0 && t.tenantId !== special.manualTenant).length +
      byMetadata.filter((_, i) => i % 3 === 0).length;
    expect(summary.updated).toBe(starterCount);
    const one = results.find((r) => r.customerId === linked[0]!.customerId)!;
    expect(one.after).toMatchObject({ sso: true, max_users: 5 });
    expect(one.before).not.toHaveProperty('sso');
    expect(await env.prisma.tenantFeatureConfig.aggregate({ _sum: { version: true } })).toEqual(versions);
  });

  it('syncs a single tenant through its customer, and applies the pending change', async () => {
    env.emu.resetRequestCounts();
    const { results, summary } = await sync.syncAllTenantsFromStripe({
      tenantId: linked[0]!.tenantId,
      actor: 'ops',
    });
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      tenantId: linked[0]!.tenantId,
      customerId: linked[0]!.customerId,
      success: true,
      changed: true,
    });
    expect(summary.updated).toBe(1);
    const counts = env.emu.requestCounts();
    expect(counts['GET /v1/subscriptions']).toBe(1);
    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({
      where: { tenantId: linked[0]!.tenantId },
    });
    expect(config.features).toMatchObject({ sso: true });
    const audit = await env.prisma.featureAuditLog.findFirstOrThrow({
      where: { tenantId: linked[0]!.tenantId, actor: 'ops' },
    });
    expect(audit.action).toBe('plan_refreshed');

    const none = await createTenant(env.prisma, 'no_customer_tenant');
    expect((await sync.syncAllTenantsFromStripe({ tenantId: none.id })).results[0]).toMatchObject({
      success: false,
      reason: 'no_customer',
    });
    expect((await sync.syncAllTenantsFromStripe({ tenantId: 'ghost' })).results[0]).toMatchObject({
      success: false,
      reason: 'tenant_not_found',
    });
    expect(
      (await sync.syncAllTenantsFromStripe({ tenantId: special.canceledTenant })).results[0],
    ).toMatchObject({ reason: 'no_active_subscription' });
  });

  it('force re-applies over custom configs; limit caps the customers', async () => {
    const { summary } = await sync.syncAllTenantsFromStripe({ force: true, mergeStrategy: 'replace' });
    expect(summary.skipped.custom_config).toBeUndefined();
    const manual = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({
      where: { tenantId: special.manualTenant },
    });
    expect(manual.source).toBe('plan');

    const limited = await sync.syncAllTenantsFromStripe({ limit: 5 });
    expect(limited.summary.processed).toBe(5);
  });
});
