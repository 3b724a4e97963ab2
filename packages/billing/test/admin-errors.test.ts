import { describe, expect, it } from 'vitest';
import type { CustomPlanService } from '../src/flows/custom-plans/index.js';
import { CustomPlanError } from '../src/core/errors.js';
import type { BillingErrorCode } from '../src/core/error-codes.js';
import { buildServer } from '../src/entry/server/app.js';
import { ADMIN_TOKEN, bearer, testAuthConfig } from './admin-helpers.js';
import { createTenant } from './helpers/fixtures.js';
import { useAdminApp, useAdminTestEnv } from './helpers/use-env.js';

/** Error mapping of the admin API: client mistakes are 4xx, our own failures 5xx without internals. */

const env = await useAdminTestEnv();
await createTenant(env.prisma, 'adme_a');
const app = await useAdminApp(env, 'adme_a', 'adme_b');

describe('admin API error mapping', () => {
  it.each(['9223372036854775808', '9999999999999999999'])(
    'audit-log ?before=%s (beyond bigint) → 400, not 500',
    async (before) => {
      const res = await app.inject({
        method: 'GET',
        url: `/api/admin/tenants/adme_a/audit-log?before=${before}`,
        headers: bearer(ADMIN_TOKEN),
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.issues.map((i: { path: string }) => i.path)).toContain('before');
    },
  );

  it('audit-log ?before= the largest bigint is accepted', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/admin/tenants/adme_a/audit-log?before=9223372036854775807',
      headers: bearer(ADMIN_TOKEN),
    });
    expect(res.statusCode, res.body).toBe(200);
  });

  it('a custom plan failing on our side (database, not Stripe) → 500 without internals, not 409', async () => {
    const internal = 'connection to postgres://billing:hunter2@db.internal:5432 terminated';
    const res = await createCustomPlanFailingWith(
      new CustomPlanError(
        'custom_plan_failed',
        `Custom plan creation failed at step "tenant_update": ${internal}.`,
        'tenant_update',
        {
          cause: new Error(internal),
        },
      ),
    );
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toMatchObject({ code: 'custom_plan_failed', step: 'tenant_update' });
    expect(res.body).not.toContain('hunter2');
  });

  it.each<[BillingErrorCode, number]>([
    ['idempotency_conflict', 409],
    ['custom_plan_in_progress', 409],
    ['custom_plan_state_changed', 409],
    ['customer_already_subscribed', 409],
    ['stripe_request_failed', 502],
    ['stripe_subscription_not_switched', 502],
  ])('custom plan error %s → %i', async (code, status) => {
    const res = await createCustomPlanFailingWith(new CustomPlanError(code, `failed: ${code}`, 'price'));
    expect(res.statusCode).toBe(status);
    expect(res.json().error.code).toBe(code);
  });
});

/** POST a custom plan to a server whose custom plan service always throws `error`. */
async function createCustomPlanFailingWith(error: Error) {
  const failing: CustomPlanService = {
    idempotencyKeyFor: () => 'k',
    createCustomEnterprisePlan: async () => {
      throw error;
    },
  };
  const stubApp = await buildServer({
    prisma: env.prisma,
    stripe: env.stripe,
    customPlans: failing,
    auth: testAuthConfig(env, 'adme_a', 'adme_b'),
  } as Parameters<typeof buildServer>[0]);
  try {
    return await stubApp.inject({
      method: 'POST',
      url: '/api/admin/tenants/adme_a/custom-plans',
      headers: bearer(ADMIN_TOKEN),
      payload: {
        basePlanId: 'x',
        priceCents: 100,
        currency: 'usd',
        recurringInterval: 'month',
        planName: 'p',
      },
    });
  } finally {
    await stubApp.close();
  }
}
