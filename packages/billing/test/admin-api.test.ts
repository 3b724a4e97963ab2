import { describe, expect, it } from 'vitest';
import { createApiToken, hashToken, revokeApiToken } from '../src/io/http/auth.js';
import {
  ADMIN_TOKEN,
  bearer,
  buildAdminApp,
  countOf,
  TENANT_A_TOKEN,
  TENANT_B_TOKEN,
  testAuthConfig,
} from './admin-helpers.js';
import { createTenant, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
const tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 3, { plans, prefix: 'adm' });
const A = tenants[0]!.tenantId;
const B = tenants[1]!.tenantId;
const app = await useAdminApp(env, A, B);

type Call = { method: 'GET' | 'POST'; url: string; payload?: Record<string, unknown> };
const customPlanBody = () => ({
  basePlanId: plans.pro.price.id,
  priceCents: 99_000,
  currency: 'usd',
  recurringInterval: 'month',
  overrides: { max_users: 250 },
  planName: 'Matrix plan',
});

type EndpointName = 'customPlans' | 'applyPlan' | 'sync' | 'features' | 'auditLog';
function endpoints(tenantId: string): Record<EndpointName, Call> {
  return {
    customPlans: {
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/custom-plans`,
      payload: customPlanBody(),
    },
    applyPlan: {
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/apply-plan`,
      payload: { planId: plans.starter.price.id, dryRun: true },
    },
    sync: { method: 'POST', url: '/api/admin/sync?wait=true', payload: { dryRun: true } },
    features: { method: 'GET', url: `/api/admin/tenants/${tenantId}/features` },
    auditLog: { method: 'GET', url: `/api/admin/tenants/${tenantId}/audit-log` },
  };
}

const inject = (call: Call, headers: Record<string, string> = {}) =>
  app.inject({
    method: call.method,
    url: call.url,
    headers,
    ...(call.payload ? { payload: call.payload } : {}),
  });

describe('auth matrix', () => {
  const names = ['customPlans', 'applyPlan', 'sync', 'features', 'auditLog'] as const;

  it.each(names)('%s: no token → 401 with WWW-Authenticate', async (name) => {
    const res = await inject(endpoints(A)[name]);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
  });

  it.each(names)('%s: invalid token → 401', async (name) => {
    const res = await inject(endpoints(A)[name], bearer('not-a-real-token-at-all-000000'));
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it.each(names)('%s: malformed Authorization header → 401', async (name) => {
    const res = await inject(endpoints(A)[name], {
      authorization: `Basic ${Buffer.from('x:y').toString('base64')}`,
    });
    expect(res.statusCode).toBe(401);
  });

  it.each(names)("%s: another tenant's token → 403", async (name) => {
    const res = await inject(endpoints(A)[name], bearer(TENANT_B_TOKEN));
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('forbidden');
  });

  const tenantExpectations: Record<(typeof names)[number], number> = {
    customPlans: 403,
    applyPlan: 403,
    sync: 403,
    features: 200,
    auditLog: 403,
  };
  it.each(names)("%s: the tenant's own token → only features are readable", async (name) => {
    const res = await inject(endpoints(A)[name], bearer(TENANT_A_TOKEN));
    expect(res.statusCode).toBe(tenantExpectations[name]);
  });

  const adminExpectations: Record<(typeof names)[number], number> = {
    customPlans: 201,
    applyPlan: 200,
    sync: 200,
    features: 200,
    auditLog: 200,
  };
  it.each(names)('%s: admin token → allowed', async (name) => {
    const res = await inject(endpoints(tenants[2]!.tenantId)[name], bearer(ADMIN_TOKEN));
    expect(res.statusCode, res.body).toBe(adminExpectations[name]);
  });

  it('without an auth config every request is refused (fails closed)', async () => {
    const open = await buildAdminApp(env, undefined);
    try {
      const res = await open.inject({
        method: 'GET',
        url: `/api/admin/tenants/${A}/features`,
        headers: bearer(ADMIN_TOKEN),
      });
      expect(res.statusCode).toBe(401);
    } finally {
      await open.close();
    }
  });

  it('accepts database tokens (hash stored only) until revoked', async () => {
    const created = await createApiToken(env.prisma, { name: 'db-tenant-a', role: 'tenant', tenantId: A });
    const row = await env.prisma.apiToken.findUniqueOrThrow({ where: { id: created.id } });
    expect(row.tokenHash).toBe(hashToken(created.token));
    expect(JSON.stringify(row)).not.toContain(created.token);

    const own = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${A}/features`,
      headers: bearer(created.token),
    });
    expect(own.statusCode).toBe(200);
    const other = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${B}/features`,
      headers: bearer(created.token),
    });
    expect(other.statusCode).toBe(403);

    expect(await revokeApiToken(env.prisma, created.id)).toBe(true);
    const revoked = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${A}/features`,
      headers: bearer(created.token),
    });
    expect(revoked.statusCode).toBe(401);
  });

  it('a database admin token may use admin endpoints', async () => {
    const created = await createApiToken(env.prisma, { name: 'db-admin', role: 'admin' });
    const res = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${B}/audit-log`,
      headers: bearer(created.token),
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('request validation', () => {
  const admin = bearer(ADMIN_TOKEN);

  it.each([
    [
      'custom plan: bad price',
      `/api/admin/tenants/${'adm_000002'}/custom-plans`,
      { ...{ basePlanId: 'x', currency: 'usd', recurringInterval: 'month', planName: 'p' }, priceCents: -1 },
      'priceCents',
    ],
    [
      'custom plan: bad currency',
      `/api/admin/tenants/${'adm_000002'}/custom-plans`,
      { basePlanId: 'x', priceCents: 100, currency: 'dollars', recurringInterval: 'month', planName: 'p' },
      'currency',
    ],
    [
      'custom plan: unknown field',
      `/api/admin/tenants/${'adm_000002'}/custom-plans`,
      {
        basePlanId: 'x',
        priceCents: 100,
        currency: 'usd',
        recurringInterval: 'month',
        planName: 'p',
        colour: 'red',
      },
      '',
    ],
    [
      'apply-plan: missing planId',
      `/api/admin/tenants/${'adm_000002'}/apply-plan`,
      { force: true },
      'planId',
    ],
    [
      'apply-plan: bad merge strategy',
      `/api/admin/tenants/${'adm_000002'}/apply-plan`,
      { planId: 'x', mergeStrategy: 'squash' },
      'mergeStrategy',
    ],
    ['sync: negative limit', '/api/admin/sync', { limit: -1 }, 'limit'],
    ['sync: limit as string', '/api/admin/sync', { limit: '5' }, 'limit'],
    ['sync: unknown field', '/api/admin/sync', { everything: true }, ''],
  ])('%s → 400 validation_error', async (_name, url, payload, path) => {
    const res = await app.inject({ method: 'POST', url, headers: admin, payload });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error.code).toBe('validation_error');
    expect(Array.isArray(body.error.issues)).toBe(true);
    if (path) expect(body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('unknown override key → 400 unknown_feature', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${B}/custom-plans`,
      headers: admin,
      payload: { ...customPlanBody(), overrides: { teleport: true } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('unknown_feature');
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=201', 'limit'],
    ['limit=abc', 'limit'],
    ['before=abc', 'before'],
    ['colour=red', ''],
  ])('audit-log ?%s → 400', async (query, path) => {
    const res = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${B}/audit-log?${query}`,
      headers: admin,
    });
    expect(res.statusCode).toBe(400);
    if (path) expect(res.json().error.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('malformed JSON → 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/admin/sync',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"dryRun": tru',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_json');
  });

  it('auth is checked before the body: bad body without token → 401', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/admin/sync', payload: { limit: -1 } });
    expect(res.statusCode).toBe(401);
  });
});

describe('endpoints', () => {
  const admin = bearer(ADMIN_TOKEN);

  it('unknown tenant → 404 on every tenant endpoint', async () => {
    for (const call of Object.values(endpoints('nobody'))) {
      if (call.url.startsWith('/api/admin/sync')) continue;
      const res = await inject(call, admin);
      expect(res.statusCode, call.url).toBe(404);
      expect(res.json().error.code).toBe('tenant_not_found');
    }
  });

  it('unknown plan → 404 plan_not_found', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${B}/apply-plan`,
      headers: admin,
      payload: { planId: 'price_nope' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('plan_not_found');
  });

  it('apply-plan writes with an admin audit row; features and audit log read it back', async () => {
    const tenantId = B;
    const res = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/apply-plan`,
      headers: admin,
      payload: { planId: plans.enterprise.price.id, mergeStrategy: 'replace' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      success: true,
      changed: true,
      after: plans.enterprise.fixture.features,
    });

    const features = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/features`,
      headers: bearer(TENANT_B_TOKEN),
    });
    expect(features.statusCode).toBe(200);
    expect(features.json()).toMatchObject({
      tenantId,
      features: plans.enterprise.fixture.features,
      source: 'plan',
      configured: true,
    });
    // Tenants see their features, not the Stripe bookkeeping admins get.
    expect(features.json()).not.toHaveProperty('stripeCustomerId');
    const asAdmin = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/features`,
      headers: admin,
    });
    expect(asAdmin.json()).toMatchObject({
      stripeProductId: plans.enterprise.product.id,
      planFeatures: plans.enterprise.fixture.features,
    });

    const log = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/audit-log`,
      headers: admin,
    });
    expect(log.statusCode).toBe(200);
    expect(log.json().entries[0]).toMatchObject({ source: 'admin', actor: 'admin:ops' });
  });

  it('custom plan via the API: 201, Idempotency-Key header replays, tenant switched to custom', async () => {
    const tenantId = tenants[2]!.tenantId;
    const headers = { ...admin, 'idempotency-key': `api-deal-${tenantId}` };
    // The tenant already pays: checkout would start a second subscription, so it is refused before anything is created.
    const productsBefore = countOf(env, 'POST /v1/products');
    const checkout = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/custom-plans`,
      headers: admin,
      payload: { ...customPlanBody(), overrides: { max_users: 777 }, createCheckoutSession: true },
    });
    expect(checkout.statusCode).toBe(409);
    expect(checkout.json().error).toMatchObject({
      code: 'customer_already_subscribed',
      message: expect.stringMatching(/switchSubscription/),
    });
    expect(countOf(env, 'POST /v1/products')).toBe(productsBefore);

    const payload = { ...customPlanBody(), overrides: { max_users: 777 }, switchSubscription: true };
    const first = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/custom-plans`,
      headers,
      payload,
    });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      productId: expect.stringMatching(/^prod_/),
      subscriptionId: expect.stringMatching(/^sub_/),
    });
    const subscription = await env.stripe.subscriptions.retrieve(first.json().subscriptionId);
    expect(subscription.items.data.map((item) => item.price.id)).toEqual([first.json().priceId]);
    const second = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/custom-plans`,
      headers,
      payload,
    });
    expect(second.json()).toEqual(first.json());
    const features = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/features`,
      headers: admin,
    });
    expect(features.json()).toMatchObject({ source: 'custom', features: { max_users: 777 } });
    const reused = await app.inject({
      method: 'POST',
      url: `/api/admin/tenants/${tenantId}/custom-plans`,
      headers,
      payload: { ...payload, priceCents: 5 },
    });
    expect(reused.statusCode).toBe(409);
    // The documented shape only: no internal `step` on a conflict the caller resolves.
    expect(reused.json()).toEqual({ error: { code: 'idempotency_conflict', message: expect.any(String) } });
  });

  it('custom plan Stripe failure → 502 with the failed step', async () => {
    env.emu.injectFault({ status: 500, count: 3, method: 'POST', path: '/v1/prices' });
    try {
      const res = await app.inject({
        method: 'POST',
        url: `/api/admin/tenants/${B}/custom-plans`,
        headers: admin,
        payload: { ...customPlanBody(), planName: 'Doomed plan' },
      });
      expect(res.statusCode).toBe(502);
      expect(res.json().error).toMatchObject({ code: 'stripe_request_failed', step: 'price' });
    } finally {
      env.emu.clearFaults();
    }
  });

  it('Stripe authentication failure → 502', async () => {
    const { createStripeSyncService } = await import('../src/io/stripe-sync/index.js');
    const { createFeatureSyncService } = await import('../src/flows/feature-sync/index.js');
    const badStripe = env.newStripeClient({ apiKey: 'sk_test_wrong', maxNetworkRetries: 0 });
    const badSync = createFeatureSyncService(
      env.prisma,
      createStripeSyncService(badStripe, { maxRetries: 0 }),
    );
    const { buildServer } = await import('../src/entry/server/app.js');
    const badApp = await buildServer({
      prisma: env.prisma,
      stripe: badStripe,
      featureSync: badSync,
      auth: testAuthConfig(env, A, B),
    } as Parameters<typeof buildServer>[0]);
    try {
      const res = await badApp.inject({
        method: 'POST',
        url: '/api/admin/sync?wait=true',
        headers: admin,
        payload: {},
      });
      expect(res.statusCode).toBe(502);
      expect(res.json().error.code).toBe('stripe_authentication_failed');
    } finally {
      await badApp.close();
    }
  });

  it('sync returns summary and results; dryRun writes nothing', async () => {
    const fresh = await createTenant(env.prisma, 'adm_sync_probe');
    const before = await env.prisma.featureAuditLog.count();
    const res = await app.inject({
      method: 'POST',
      url: '/api/admin/sync?wait=true',
      headers: admin,
      payload: { dryRun: true },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.summary).toMatchObject({ processed: expect.any(Number), failed: [] });
    expect(body).toMatchObject({ runId: expect.any(String), status: 'succeeded' });
    expect(Array.isArray(body.results)).toBe(true);
    expect(await env.prisma.featureAuditLog.count()).toBe(before);
    expect(fresh.id).toBe('adm_sync_probe');
  });

  it('sync for one tenant writes with source admin', async () => {
    const tenantId = A;
    const res = await app.inject({
      method: 'POST',
      url: '/api/admin/sync?wait=true',
      headers: admin,
      payload: { tenantId },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().summary.processed).toBe(1);
    const entries = await env.prisma.featureAuditLog.findMany({ where: { tenantId } });
    expect(entries.some((e) => e.source === 'admin')).toBe(true);
  });

  it('audit log of a deleted tenant: its rows stay readable, the deletion newest; an id never seen is 404', async () => {
    const tenantId = 'adm_deleted';
    await createTenant(env.prisma, tenantId);
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/admin/tenants/${tenantId}`,
      headers: admin,
    });
    expect(deleted.statusCode).toBe(200);
    const log = await app.inject({
      method: 'GET',
      url: `/api/admin/tenants/${tenantId}/audit-log`,
      headers: admin,
    });
    expect(log.statusCode).toBe(200);
    expect(log.json().entries[0]).toMatchObject({ action: 'tenant_deleted', actor: 'admin:ops' });
    const never = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/adm_never_existed/audit-log',
      headers: admin,
    });
    expect([never.statusCode, never.json().error.code]).toEqual([404, 'tenant_not_found']);
  });

  it('audit log paginates newest first with a cursor', async () => {
    const tenantId = 'adm_paged';
    await createTenant(env.prisma, tenantId);
    for (let i = 0; i < 5; i += 1) {
      await env.prisma.featureAuditLog.create({
        data: { tenantId, actor: 'test', source: 'admin', action: `step_${i}` },
      });
    }
    const page1 = (
      await app.inject({
        method: 'GET',
        url: `/api/admin/tenants/${tenantId}/audit-log?limit=2`,
        headers: admin,
      })
    ).json();
    expect(page1.entries.map((e: { action: string }) => e.action)).toEqual(['step_4', 'step_3']);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = (
      await app.inject({
        method: 'GET',
        url: `/api/admin/tenants/${tenantId}/audit-log?limit=2&before=${page1.nextCursor}`,
        headers: admin,
      })
    ).json();
    expect(page2.entries.map((e: { action: string }) => e.action)).toEqual(['step_2', 'step_1']);
    const page3 = (
      await app.inject({
        method: 'GET',
        url: `/api/admin/tenants/${tenantId}/audit-log?limit=2&before=${page2.nextCursor}`,
        headers: admin,
      })
    ).json();
    expect(page3.entries.map((e: { action: string }) => e.action)).toEqual(['step_0']);
    expect(page3.nextCursor).toBeNull();
  });

  it('a tenant without a config reads empty features', async () => {
    await createTenant(env.prisma, 'adm_empty');
    const res = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/adm_empty/features',
      headers: admin,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tenantId: 'adm_empty', features: {}, configured: false });
  });

  it('other routes are not behind admin auth', async () => {
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
  });
});
