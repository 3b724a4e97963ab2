import { describe, expect, it } from 'vitest';
import { PlanNotFoundError, TenantNotFoundError } from '../src/core/errors.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createFeatureCatalog, DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { applyPlanInTransaction, createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import { inTransaction } from '../src/io/tenant-store/index.js';
import type { FeatureMap, MergeStrategy } from '../src/core/types.js';
import { createTenant, PLAN_FIXTURES } from './helpers/fixtures.js';
import { useFeatureSyncEnv } from './helpers/use-env.js';

const { env, plans, stripeSync, sync } = await useFeatureSyncEnv();
let seq = 0;

async function newTenant(customerId: string | null = null): Promise<string> {
  seq += 1;
  const id = `tenant_apply_${seq}`;
  await createTenant(env.prisma, id, customerId);
  return id;
}

async function configOf(tenantId: string) {
  return env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId } });
}

async function auditOf(tenantId: string) {
  return env.prisma.featureAuditLog.findMany({ where: { tenantId }, orderBy: { id: 'asc' } });
}

/** Puts the tenant on `plan` with an admin override and the given config source. */
async function tenantOnStarterWithOverride(source: 'plan' | 'custom' | 'manual' = 'plan'): Promise<string> {
  const tenantId = await newTenant();
  await sync.applyPlanDefaultsToTenantOrThrow(tenantId, plans.starter.price.id);
  const config = await configOf(tenantId);
  await env.prisma.tenantFeatureConfig.update({
    where: { tenantId },
    data: {
      overrides: { max_users: 50 },
      features: { ...(config.features as FeatureMap), max_users: 50 },
      source,
      version: { increment: 1 },
    },
  });
  return tenantId;
}

describe('applyPlanDefaultsToTenant', () => {
  it('applies a plan to a new tenant: config fields, version, audit row', async () => {
    const tenantId = await newTenant();
    const result = await sync.applyPlanDefaultsToTenant(tenantId, 'pro_monthly', {
      actor: 'alice',
      source: 'admin',
    });
    expect(result).toMatchObject({
      success: true,
      changed: true,
      tenantId,
      planId: 'pro_monthly',
      before: null,
      version: 1,
    });
    expect(result.after).toEqual(PLAN_FIXTURES.pro.features);

    const config = await configOf(tenantId);
    expect(config).toMatchObject({
      features: PLAN_FIXTURES.pro.features,
      planFeatures: PLAN_FIXTURES.pro.features,
      overrides: {},
      bundle: 'pro',
      scrapeIntervalHours: 6,
      source: 'plan',
      stripeProductId: plans.pro.product.id,
      stripePriceId: plans.pro.price.id,
      version: 1,
    });
    const audit = await auditOf(tenantId);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'alice', source: 'admin', action: 'plan_applied', before: null });
    expect(audit[0]!.after).toMatchObject({
      features: PLAN_FIXTURES.pro.features,
      bundle: 'pro',
      stripePriceId: plans.pro.price.id,
    });

    const changed = await sync.applyPlanDefaultsToTenant(tenantId, plans.enterprise.product.id);
    expect(changed).toMatchObject({
      success: true,
      changed: true,
      before: PLAN_FIXTURES.pro.features,
      after: PLAN_FIXTURES.enterprise.features,
      version: 2,
    });
    const rows = await auditOf(tenantId);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ actor: 'system', source: 'sync', action: 'plan_changed' });
    expect(rows[1]!.before).toEqual(rows[0]!.after);
  });

  it('reports an unchanged tenant as up_to_date without writing', async () => {
    const tenantId = await newTenant();
    await sync.applyPlanDefaultsToTenant(tenantId, plans.starter.price.id);
    const queries = env.db.stats.queries;
    const again = await sync.applyPlanDefaultsToTenant(tenantId, 'starter_monthly');
    expect(again).toMatchObject({ success: true, changed: false, reason: 'up_to_date', version: 1 });
    expect(env.db.stats.queries - queries).toBeLessThanOrEqual(2);
    expect(await auditOf(tenantId)).toHaveLength(1);
    expect((await configOf(tenantId)).version).toBe(1);
  });

  it('returns tenant_not_found / plan_not_found, and the OrThrow variant throws typed errors', async () => {
    const tenantId = await newTenant();
    expect(await sync.applyPlanDefaultsToTenant('tenant_missing', plans.pro.price.id)).toMatchObject({
      success: false,
      reason: 'tenant_not_found',
      changed: false,
    });
    expect(await sync.applyPlanDefaultsToTenant(tenantId, 'price_missing')).toMatchObject({
      success: false,
      reason: 'plan_not_found',
      changed: false,
    });
    await expect(
      sync.applyPlanDefaultsToTenantOrThrow('tenant_missing', plans.pro.price.id),
    ).rejects.toBeInstanceOf(TenantNotFoundError);
    await expect(sync.applyPlanDefaultsToTenantOrThrow(tenantId, 'nope')).rejects.toBeInstanceOf(
      PlanNotFoundError,
    );
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId } })).toBeNull();
  });

  it('reports malformed plan metadata as invalid_metadata', async () => {
    const tenantId = await newTenant();
    const product = await env.stripe.products.create({
      name: 'Bad',
      metadata: { scrapeIntervalHours: 'soon' },
    });
    expect(await sync.applyPlanDefaultsToTenant(tenantId, product.id)).toMatchObject({
      success: false,
      reason: 'invalid_metadata',
    });
  });

  const PRO = PLAN_FIXTURES.pro.features;
  const STARTER = PLAN_FIXTURES.starter.features;
  const expected: Record<MergeStrategy, { features: FeatureMap; overrides: FeatureMap }> = {
    merge: { features: { ...PRO, max_users: 50 }, overrides: { max_users: 50 } },
    replace: { features: PRO, overrides: {} },
    preserve: { features: { ...PRO, ...STARTER, max_users: 50 }, overrides: { max_users: 50 } },
  };

  describe.each(['merge', 'replace', 'preserve'] as const)('strategy %s', (mergeStrategy) => {
    it.each([false, true])('on a plan-managed tenant (force=%s)', async (force) => {
      const tenantId = await tenantOnStarterWithOverride('plan');
      const result = await sync.applyPlanDefaultsToTenant(tenantId, plans.pro.price.id, {
        mergeStrategy,
        force,
      });
      expect(result).toMatchObject({ success: true, changed: true });
      const config = await configOf(tenantId);
      expect(config.features).toEqual(expected[mergeStrategy].features);
      expect(config.overrides).toEqual(expected[mergeStrategy].overrides);
      expect(config.planFeatures).toEqual(PRO);
      expect(config.source).toBe('plan');
      // Re-applying the same plan with the same strategy is a no-op unless forced (then unchanged).
      const again = await sync.applyPlanDefaultsToTenant(tenantId, plans.pro.price.id, {
        mergeStrategy,
        force,
      });
      expect(again).toMatchObject({ success: true, changed: false, reason: 'up_to_date' });
      expect((await configOf(tenantId)).version).toBe(config.version);
    });

    it.each(['manual', 'custom'] as const)('on a %s config: skipped unless forced', async (source) => {
      const tenantId = await tenantOnStarterWithOverride(source);
      const before = await configOf(tenantId);
      const skipped = await sync.applyPlanDefaultsToTenant(tenantId, plans.pro.price.id, { mergeStrategy });
      expect(skipped).toMatchObject({ success: false, changed: false, reason: 'custom_config' });
      expect((await configOf(tenantId)).version).toBe(before.version);

      const forced = await sync.applyPlanDefaultsToTenant(tenantId, plans.pro.price.id, {
        mergeStrategy,
        force: true,
      });
      expect(forced).toMatchObject({ success: true, changed: true });
      const config = await configOf(tenantId);
      expect(config.features).toEqual(expected[mergeStrategy].features);
      expect(config.source).toBe('plan');
    });
  });

  it('dry run computes before/after and writes nothing', async () => {
    const fresh = await newTenant();
    const dry = await sync.applyPlanDefaultsToTenant(fresh, plans.pro.price.id, { dryRun: true });
    expect(dry).toMatchObject({
      success: true,
      changed: true,
      before: null,
      after: PLAN_FIXTURES.pro.features,
    });
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: fresh } })).toBeNull();

    const tenantId = await tenantOnStarterWithOverride('plan');
    const before = await configOf(tenantId);
    const auditCount = (await auditOf(tenantId)).length;
    const result = await sync.applyPlanDefaultsToTenant(tenantId, plans.enterprise.price.id, {
      dryRun: true,
      mergeStrategy: 'replace',
    });
    expect(result).toMatchObject({
      success: true,
      changed: true,
      before: before.features,
      after: PLAN_FIXTURES.enterprise.features,
    });
    expect(await configOf(tenantId)).toEqual(before);
    expect(await auditOf(tenantId)).toHaveLength(auditCount);
  });

  it('serialises concurrent applies on one tenant: no lost update, one audit row per change', async () => {
    const tenantId = await newTenant();
    const order = [plans.starter, plans.pro, plans.enterprise];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        sync.applyPlanDefaultsToTenant(tenantId, order[i % 3]!.price.id, { actor: `worker-${i}` }),
      ),
    );
    expect(results.every((r) => r.success)).toBe(true);
    const changes = results.filter((r) => r.changed).length;
    const config = await configOf(tenantId);
    expect(config.version).toBe(changes);
    const audit = await auditOf(tenantId);
    expect(audit).toHaveLength(changes);
    // Each row starts where the previous one ended, and the last one is what is stored.
    for (let i = 1; i < audit.length; i += 1) expect(audit[i]!.before).toEqual(audit[i - 1]!.after);
    expect(audit.at(-1)!.after).toMatchObject({
      stripePriceId: config.stripePriceId,
      features: config.features,
    });
    // Each result's version is unique: every change was applied on top of the previous one.
    const versions = results.filter((r) => r.changed).map((r) => r.version);
    expect(new Set(versions).size).toBe(changes);
  });

  it('refuses a custom price meant for another tenant unless forced', async () => {
    const tenantId = await newTenant();
    const product = await env.stripe.products.create({
      name: 'Custom for X',
      metadata: { custom: 'true', features: 'sso' },
    });
    const price = await env.stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount: 100,
      recurring: { interval: 'month' },
      metadata: { tenantId: 'someone_else' },
    });
    expect(await sync.applyPlanDefaultsToTenant(tenantId, price.id)).toMatchObject({
      success: false,
      reason: 'plan_for_other_tenant',
    });
    expect(await sync.applyPlanDefaultsToTenant(tenantId, price.id, { force: true })).toMatchObject({
      success: true,
      changed: true,
    });
    expect((await configOf(tenantId)).source).toBe('custom');
  });

  it('rejects plan features missing from the configured catalog', async () => {
    const narrow = createFeatureCatalog([...DEFAULT_FEATURE_CATALOG.values()].filter((d) => d.key !== 'sso'));
    const strict = createFeatureSyncService(env.prisma, stripeSync, { catalog: narrow });
    const tenantId = await newTenant();
    expect(await strict.applyPlanDefaultsToTenant(tenantId, plans.enterprise.price.id)).toMatchObject({
      success: false,
      reason: 'unknown_feature',
    });
    expect(await strict.applyPlanDefaultsToTenant(tenantId, plans.starter.price.id)).toMatchObject({
      success: true,
      changed: true,
    });
  });
});

describe('feature cache', () => {
  it('a read after a committed apply sees the new features, also through a second reader on the same cache', async () => {
    const tenantId = await newTenant();
    await sync.applyPlanDefaultsToTenant(tenantId, plans.starter.price.id);
    expect(await sync.isFeatureEnabled(tenantId, 'sso')).toBe(false);
    expect((await sync.getTenantFeatures(tenantId))?.features).toEqual(PLAN_FIXTURES.starter.features);

    const otherReader = createFeatureReader(env.prisma, env.cache, { namespace: env.namespace });
    expect((await otherReader.getTenantFeatures(tenantId))?.bundle).toBe('starter');

    await sync.applyPlanDefaultsToTenant(tenantId, plans.enterprise.price.id);
    expect(await sync.isFeatureEnabled(tenantId, 'sso')).toBe(true);
    const seen = await otherReader.getTenantFeatures(tenantId);
    expect(seen).toMatchObject({ bundle: 'enterprise', version: 2 });
    expect(otherReader.stats.hits).toBeGreaterThan(0);
  });
});

describe('applyPlanInTransaction', () => {
  it('sets subscription fields, restricts features when the subscription grants no access, and ignores stale events', async () => {
    const tenantId = await newTenant();
    const plan = await stripeSync.getPlanDefaultsFromStripe(plans.pro.price.id);
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const first = await inTransaction(env.prisma, (tx) =>
      applyPlanInTransaction(tx, tenantId, plan, {
        actor: 'stripe',
        source: 'webhook',
        stripeEventId: 'evt_1',
        eventCreatedAt: t2,
        subscription: { id: 'sub_1', status: 'active' },
      }),
    );
    expect(first.status).toBe('updated');
    expect(await configOf(tenantId)).toMatchObject({
      stripeSubscriptionId: 'sub_1',
      subscriptionStatus: 'active',
      accessActive: true,
      lastStripeEventId: 'evt_1',
    });

    const stale = await inTransaction(env.prisma, (tx) =>
      applyPlanInTransaction(tx, tenantId, plan, {
        actor: 'stripe',
        source: 'webhook',
        stripeEventId: 'evt_0',
        eventCreatedAt: t1,
        subscription: { id: 'sub_1', status: 'canceled' },
      }),
    );
    expect(stale).toMatchObject({ status: 'skipped', reason: 'stale_event' });

    const canceled = await inTransaction(env.prisma, (tx) =>
      applyPlanInTransaction(tx, tenantId, plan, {
        actor: 'stripe',
        source: 'webhook',
        stripeEventId: 'evt_2',
        eventCreatedAt: new Date(t2.getTime() + 1000),
        subscription: { id: 'sub_1', status: 'canceled' },
      }),
    );
    expect(canceled.status).toBe('updated');
    const config = await configOf(tenantId);
    expect(config.accessActive).toBe(false);
    expect(config.features).toMatchObject({ api_access: false, max_users: 0, advanced_analytics: false });
    expect(config.planFeatures).toEqual(PLAN_FIXTURES.pro.features);
    const audit = await auditOf(tenantId);
    expect(audit.at(-1)).toMatchObject({ stripeEventId: 'evt_2', source: 'webhook' });
  });
});
