import { describe, expect, it } from 'vitest';
import { runManageCli } from '../src/entry/cli/manage.js';
import {
  addFeature,
  createUsageService,
  databaseCatalog,
  previewPlanChange,
  setFeatureOverride,
} from '../src/index.js';
import { ADMIN_TOKEN, captureStream, TENANT_A_TOKEN } from './admin-helpers.js';
import { PLAN_FIXTURES, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

/**
 * previewPlanChange over tenants synced from the emulator's subscriptions: which tenants an edit of
 * a product or a price would change, each key before and after, metered keys over the new limit,
 * and that nothing is written (configs, audit log, Stripe). Also the admin route and `manage preview`.
 */
const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
// Three on starter (one with an override of max_projects), one on pro.
const seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 4, {
  prefix: 'pv',
  priceFor: (i) => (i < 3 ? plans.starter : plans.pro).price.id,
});
const [S1, S2, S3, P1] = seeded.map((s) => s.tenantId) as [string, string, string, string];
await env.featureSync.syncAllTenantsFromStripe();
await setFeatureOverride(env.prisma, S3, 'max_projects', 40, { featureReader: env.featureSync.reader });
await addFeature(env.prisma, {
  key: 'api.calls',
  type: 'number',
  description: 'API calls',
  usage: { reset: 'never', overage: 'reject' },
});
const deps = {
  prisma: env.prisma,
  stripeSync: env.featureSync.stripeSync,
  catalog: databaseCatalog(env.prisma),
};
const app = await useAdminApp(env, S1, P1);

/** Everything a preview must leave as it was. */
async function written() {
  const [configs, audit, product, price] = await Promise.all([
    env.prisma.tenantFeatureConfig.findMany({ orderBy: { tenantId: 'asc' } }),
    env.prisma.featureAuditLog.count(),
    env.stripe.products.retrieve(plans.starter.product.id),
    env.stripe.prices.retrieve(plans.pro.price.id),
  ]);
  return { configs, audit, product: product.metadata, price: price.metadata };
}

describe('previewPlanChange', () => {
  it("new product metadata: the plan's tenants, each changed key before and after; overrides stand", async () => {
    const before = await written();
    const preview = await previewPlanChange(deps, plans.starter.product.id, {
      metadata: { featuresJson: '{"max_projects":10,"max_users":5}', features: 'api_access' },
    });
    expect(preview).toMatchObject({
      planId: plans.starter.product.id,
      object: 'product',
      plans: [
        {
          priceId: plans.starter.price.id,
          before: PLAN_FIXTURES.starter.features,
          after: { api_access: true, max_projects: 10, max_users: 5 },
        },
      ],
      summary: { tenants: 3, changed: 3, unchanged: 0, skipped: {}, overLimit: 0 },
      truncated: false,
    });
    const changes = Object.fromEntries(
      preview.tenants.map((t) => [t.tenantId, t.outcome === 'change' ? t.changes : t]),
    );
    expect(changes).toEqual({
      [S1]: [
        { key: 'max_projects', before: 3, after: 10 },
        { key: 'webhooks', before: true, after: null },
      ],
      [S2]: [
        { key: 'max_projects', before: 3, after: 10 },
        { key: 'webhooks', before: true, after: null },
      ],
      // The override of max_projects outlives the plan change (merge strategy): only webhooks goes.
      [S3]: [{ key: 'webhooks', before: true, after: null }],
    });
    // Reapplying the plan as it is with 'replace' (reset to plan) would only drop the override.
    const replace = await previewPlanChange(
      deps,
      plans.starter.product.id,
      { metadata: {} },
      { mergeStrategy: 'replace' },
    );
    expect(replace.tenants).toEqual([
      {
        tenantId: S3,
        outcome: 'change',
        changes: [{ key: 'max_projects', before: 40, after: 3 }],
        overLimit: [],
      },
    ]);
    expect(replace.summary).toMatchObject({ tenants: 3, changed: 1, unchanged: 2 });
    expect(await written()).toEqual(before);
  });

  it("a price's new feature map refines the product's; tenants on other plans are not read", async () => {
    const preview = await previewPlanChange(deps, plans.pro.price.id, { features: { max_users: 12 } });
    expect(preview.object).toBe('price');
    expect(preview.plans[0]!.after).toEqual({
      ...PLAN_FIXTURES.pro.features,
      max_users: 12,
      // The price no longer grants it; the product never did.
      data_retention_days: undefined,
    });
    expect(preview.tenants).toEqual([
      {
        tenantId: P1,
        outcome: 'change',
        changes: [
          { key: 'data_retention_days', before: 90, after: null },
          { key: 'max_users', before: 30, after: 12 },
        ],
        overLimit: [],
      },
    ]);
    // The same edit as it stands today changes nothing.
    const same = await previewPlanChange(deps, plans.pro.price.id, {
      metadata: { features: PLAN_FIXTURES.pro.priceMetadata.features },
    });
    expect(same.summary).toMatchObject({ tenants: 1, changed: 0, unchanged: 1 });
    expect(same.tenants).toEqual([]);
  });

  it('metered keys: tenants whose usage this period is above the new limit', async () => {
    const usage = createUsageService(env.prisma, { featureReader: env.featureSync.reader });
    try {
      await usage.setUsage(S1, 'api.calls', 50);
      await usage.setUsage(S2, 'api.calls', 20);
    } finally {
      usage.close();
    }
    const preview = await previewPlanChange(deps, plans.starter.product.id, {
      features: { ...PLAN_FIXTURES.starter.features, 'api.calls': 20 },
    });
    expect(preview.summary).toMatchObject({ tenants: 3, changed: 3, overLimit: 1 });
    const byTenant = new Map(preview.tenants.map((t) => [t.tenantId, t]));
    expect(byTenant.get(S1)).toEqual({
      tenantId: S1,
      outcome: 'change',
      changes: [{ key: 'api.calls', before: null, after: 20 }],
      overLimit: [{ key: 'api.calls', used: 50, reserved: 0, limitBefore: 0, limitAfter: 20 }],
    });
    // At the limit is not over it.
    expect(byTenant.get(S2)).toMatchObject({ overLimit: [] });
  });

  it('refuses what is not a plan edit: unknown keys, bad values, unknown objects', async () => {
    await expect(
      previewPlanChange(deps, plans.starter.product.id, { features: { no_such_key: true } }),
    ).rejects.toMatchObject({ code: 'unknown_feature' });
    await expect(
      previewPlanChange(deps, plans.starter.product.id, {
        metadata: { featuresJson: '{"max_users":"lots"}' },
      }),
    ).rejects.toMatchObject({ code: 'invalid_metadata' });
    await expect(previewPlanChange(deps, 'prod_nope', { features: {} })).rejects.toMatchObject({
      code: 'plan_not_found',
    });
    await expect(previewPlanChange(deps, 'starter_monthly', { features: {} })).rejects.toMatchObject({
      code: 'validation_error',
    });
  });

  it('over the admin API and `manage preview`', async () => {
    const url = `/api/admin/plans/${plans.starter.product.id}/preview`;
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const body = { metadata: { featuresJson: '{"max_projects":10,"max_users":5}' }, limit: 1 };
    const ok = await app.inject({ method: 'POST', url, headers, payload: body });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ summary: { tenants: 3, changed: 2 }, truncated: true });
    expect(ok.json().tenants).toHaveLength(1);
    const both = { metadata: {}, features: {} };
    expect((await app.inject({ method: 'POST', url, headers, payload: both })).statusCode).toBe(400);
    const missing = await app.inject({
      method: 'POST',
      url: '/api/admin/plans/prod_nope/preview',
      headers,
      payload: { features: {} },
    });
    expect(missing.statusCode).toBe(404);
    expect((await app.inject({ method: 'POST', url, payload: body })).statusCode).toBe(401);
    const tenantToken = { authorization: `Bearer ${TENANT_A_TOKEN}` };
    expect((await app.inject({ method: 'POST', url, headers: tenantToken, payload: body })).statusCode).toBe(
      403,
    );

    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runManageCli(
      ['preview', plans.pro.price.id, '--features', '{"max_users":12}', '--limit', '5'],
      {
        stdout,
        stderr,
        env: {},
        context: { prisma: env.prisma, featureReader: env.featureSync.reader, stripeSync: deps.stripeSync },
      },
    );
    expect(code, stderr.text).toBe(0);
    expect(JSON.parse(stdout.text)).toMatchObject({ summary: { tenants: 1, changed: 1 } });
  });
});
