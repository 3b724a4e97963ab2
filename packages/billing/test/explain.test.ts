import { describe, expect, it } from 'vitest';
import { buildServer } from '../src/entry/server/app.js';
import { explainFeature, setFeatureOverride } from '../src/index.js';
import { runManageCli } from '../src/entry/cli/manage.js';
import { ADMIN_TOKEN, captureStream } from './admin-helpers.js';
import { closeAfterAll, useWebhookTestEnv } from './helpers/use-env.js';

/**
 * explainFeature against a tenant whose features came from a signed webhook, then an override:
 * the value, the Stripe object and field, the override's author, the audit row and event behind
 * the last change, and the same for a past instant. Also over the admin API and `manage explain`.
 */
const env = await useWebhookTestEnv();
await env.subscribed('ex_starter', 'starter');
await env.subscribed('ex_pro', 'pro');
const afterWebhook = new Date();
await new Promise((resolve) => setTimeout(resolve, 20)); // audit rows have millisecond times
await setFeatureOverride(env.prisma, 'ex_starter', 'max_projects', 50, {
  actor: 'admin:alice',
  featureReader: env.featureSync.reader,
});

describe('explainFeature', () => {
  it('names the plan, the Stripe field, and the webhook event that set the value', async () => {
    const api = await explainFeature(env.prisma, 'ex_starter', 'api_access', { stripe: env.stripe });
    expect(api).toMatchObject({
      tenantId: 'ex_starter',
      key: 'api_access',
      at: null,
      value: true,
      origin: 'plan',
      plan: {
        value: true,
        bundle: 'starter',
        productId: env.plans.starter.product.id,
        priceId: env.plans.starter.price.id,
        field: { object: 'product', id: env.plans.starter.product.id, field: 'metadata.features' },
      },
      override: null,
      access: { active: true, subscriptionStatus: 'active', restricted: false, graceUntil: null },
      lastChange: { source: 'webhook', before: null, after: true, stripeEvent: { type: expect.any(String) } },
    });
    expect(api.lastChange!.auditId).toMatch(/^\d+$/);
    // A limit the price refines is the price's metadata.
    const users = await explainFeature(env.prisma, 'ex_pro', 'max_users', { stripe: env.stripe });
    expect(users.plan.field).toEqual({
      object: 'price',
      id: env.plans.pro.price.id,
      field: 'metadata.features',
    });
    expect(users.lastChange?.stripeEvent?.type).toBe('customer.subscription.created');
  });

  it('an override: who set it and when, the plan value beside it, and the rule that combines them', async () => {
    const projects = await explainFeature(env.prisma, 'ex_starter', 'max_projects', { stripe: env.stripe });
    expect(projects).toMatchObject({
      value: 50,
      origin: 'override',
      plan: { value: 3, field: { object: 'product', field: 'metadata.featuresJson' } },
      override: { value: 50, actor: 'admin:alice', source: 'admin' },
      lastChange: { actor: 'admin:alice', before: 3, after: 50, stripeEvent: null },
    });
    expect(projects.rule).toMatch(/override wins/);
  });

  it('for a past instant, from the audit log', async () => {
    const then = await explainFeature(env.prisma, 'ex_starter', 'max_projects', { at: afterWebhook });
    expect(then).toMatchObject({
      at: afterWebhook.toISOString(),
      value: 3,
      origin: 'plan',
      override: null,
      lastChange: { source: 'webhook', after: 3 },
    });
    const before = await explainFeature(env.prisma, 'ex_starter', 'max_projects', { at: new Date(0) });
    expect(before).toMatchObject({ value: null, origin: 'none', lastChange: null });
    // A key the tenant never had.
    expect(await explainFeature(env.prisma, 'ex_starter', 'sso')).toMatchObject({
      value: null,
      origin: 'none',
    });
    await expect(explainFeature(env.prisma, 'nobody', 'sso')).rejects.toMatchObject({
      code: 'tenant_not_found',
    });
  });

  it('over the admin API and `manage explain`', async () => {
    const app = closeAfterAll(
      await buildServer({
        prisma: env.prisma,
        stripe: env.stripe,
        featureSync: env.featureSync,
        webhookHandler: env.handler,
        auth: { tokens: [{ name: 'ops', role: 'admin', token: ADMIN_TOKEN }] },
      }),
    );
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const url = '/api/admin/tenants/ex_starter/features/max_projects/explain';
    const now = await app.inject({ method: 'GET', url, headers });
    expect(now.statusCode).toBe(200);
    expect(now.json()).toMatchObject({
      value: 50,
      origin: 'override',
      plan: { field: { field: 'metadata.featuresJson' } },
    });
    const past = await app.inject({ method: 'GET', url: `${url}?at=${afterWebhook.toISOString()}`, headers });
    expect(past.json()).toMatchObject({ value: 3, at: afterWebhook.toISOString() });
    expect((await app.inject({ method: 'GET', url: `${url}?at=yesterday`, headers })).statusCode).toBe(400);
    const missing = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/nobody/features/sso/explain',
      headers,
    });
    expect(missing.statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);

    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runManageCli(
      ['explain', 'ex_starter', 'max_projects', '--at', afterWebhook.toISOString()],
      {
        stdout,
        stderr,
        env: {},
        context: { prisma: env.prisma, featureReader: env.featureSync.reader },
      },
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout.text)).toMatchObject({ value: 3, origin: 'plan' });
  });
});
