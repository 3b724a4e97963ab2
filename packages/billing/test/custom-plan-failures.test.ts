import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { createCustomPlanService, type CreateCustomPlanInput } from '../src/flows/custom-plans/index.js';
import type { CustomPlanError } from '../src/core/errors.js';
import { createFeatureReader, type FeatureReader } from '../src/io/feature-cache/index.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import { countOf, newTenant as newTenantIn, pendingPlanRow } from './admin-helpers.js';
import type { RequestHold } from '@packages/stripe-emulator';
import { seedPlans } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';

/** Failure and race paths of custom plan creation: nothing live may be archived or marked failed. */

const env = await useAdminTestEnv({ clearFaultsEachTest: true });
const plans = await seedPlans(env.stripe);

const newTenant = async () => {
  const tenant = await newTenantIn(env, 'cpf_tenant');
  return { id: tenant.id, customerId: tenant.customerId! };
};

// createCheckoutSession: false because the default now hands out a link (custom-plan-links.test.ts);
// these tests ask for a checkout or a switch explicitly where they want one.
function input(tenantId: string, extra: Partial<CreateCustomPlanInput> = {}): CreateCustomPlanInput {
  return {
    createCheckoutSession: false,
    tenantId,
    basePlanId: plans.pro.price.id,
    priceCents: 49_900,
    currency: 'usd',
    recurringInterval: 'month',
    overrides: { max_users: 321 },
    planName: `Custom for ${tenantId}`,
    ...extra,
  };
}

/**
 * With a first attempt's price request held: once it waits there past the 100 ms in-progress window
 * (its row now looks abandoned), starts `retry`, which takes the row over; once the retry's own
 * price request is held too, lets both go on, the first attempt's first.
 */
async function retryWhileHeld<T>(
  hold: RequestHold,
  retry: () => Promise<T>,
): Promise<{ second: Promise<T> }> {
  await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(1);
  // A lower bound, not a guess: a slower machine only waits longer.
  await new Promise((resolve) => setTimeout(resolve, 150));
  const second = retry();
  // Its outcome is the caller's to check; a rejection before that must not count as unhandled.
  second.catch(() => {});
  await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(2);
  hold.release();
  return { second };
}

/** A service whose clock runs 5 minutes ahead of the database's. */
function serviceWithClockAhead() {
  return createCustomPlanService(env.stripe, env.prisma, {
    stripeSync: env.stripeSync,
    catalog: DEFAULT_FEATURE_CATALOG,
    now: () => new Date(Date.now() + 5 * 60_000),
  });
}

/** The plan is live: row active, Stripe objects active, tenant pointing at them. */
async function expectLive(customPlanId: string, productId: string, priceId: string, tenantId: string) {
  const row = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: customPlanId } });
  expect(row).toMatchObject({
    status: 'active',
    stripeProductId: productId,
    stripePriceId: priceId,
    error: null,
  });
  expect((await env.stripe.products.retrieve(productId)).active).toBe(true);
  expect((await env.stripe.prices.retrieve(priceId)).active).toBe(true);
  const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId } });
  expect(config).toMatchObject({ source: 'custom', stripeProductId: productId, stripePriceId: priceId });
}

describe('custom plan races and post-commit failures', () => {
  it('concurrent resumes of a stale pending row: one resumes it, the others are told it is in progress, nothing live is archived', async () => {
    const tenant = await newTenant();
    // The service's clock runs 5 minutes ahead, so the row created below looks like a crashed attempt.
    const service = serviceWithClockAhead();
    const request = input(tenant.id);
    const row = await pendingPlanRow(env, request, service.idempotencyKeyFor(request), {
      ...plans.pro.fixture.features,
      max_users: 321,
    });
    const before = countOf(env, 'POST /v1/products');

    const outcomes = await Promise.allSettled(
      [0, 1, 2].map(() => service.createCustomEnterprisePlan(request)),
    );
    const fulfilled = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const rejected = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as CustomPlanError] : []));
    expect(fulfilled.length).toBeGreaterThanOrEqual(1);
    for (const r of fulfilled) expect(r).toEqual(fulfilled[0]);
    for (const e of rejected) expect(e).toMatchObject({ code: 'custom_plan_in_progress' });
    const result = fulfilled[0]!;
    expect(result.customPlanId).toBe(row.id);
    expect(countOf(env, 'POST /v1/products') - before).toBe(1);
    await expectLive(result.customPlanId, result.productId, result.priceId, tenant.id);
  });

  it('an attempt mid-flight keeps its row fresh by the service clock: a retry is told it is in progress, not let to take over', async () => {
    const tenant = await newTenant();
    // The service clock runs ahead of the database's, as a skewed host's would.
    const service = serviceWithClockAhead();
    const request = input(tenant.id);
    const hold = env.emu.holdRequests({ method: 'POST', path: '/v1/prices' });
    const first = service.createCustomEnterprisePlan(request);
    // The first attempt has recorded its product and is waiting on the price.
    await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(1);
    expect(
      (
        await env.prisma.customPlan.findUnique({
          where: { idempotencyKey: service.idempotencyKeyFor(request) },
        })
      )?.stripeProductId,
    ).toBeTruthy();
    await expect(service.createCustomEnterprisePlan(request)).rejects.toMatchObject({
      code: 'custom_plan_in_progress',
    });
    hold.release();
    const result = await first;
    await expectLive(result.customPlanId, result.productId, result.priceId, tenant.id);
  });

  it('a retry that takes over a slow attempt finishes the plan; the slow attempt stands down without undoing anything', async () => {
    const tenant = await newTenant();
    // A tiny in-progress window: the retry below finds the first attempt's row stale and takes it over.
    const service = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
      inProgressWindowMs: 100,
    });
    const request = input(tenant.id);
    const hold = env.emu.holdRequests({ method: 'POST', path: '/v1/prices' });
    const before = countOf(env, 'POST /v1/products');
    const first = service.createCustomEnterprisePlan(request);
    const { second } = await retryWhileHeld(hold, () => service.createCustomEnterprisePlan(request));
    const [a, b] = await Promise.allSettled([first, second]);
    if (b.status !== 'fulfilled') throw b.reason;
    // The slow attempt finds at its next write that the row is no longer its own: it either answers
    // with the plan the retry made live or says the retry is still at it. It never archives.
    if (a.status === 'fulfilled') expect(a.value).toEqual(b.value);
    else expect(a.reason).toMatchObject({ code: 'custom_plan_in_progress' });
    expect(countOf(env, 'POST /v1/products') - before).toBe(1);
    await expectLive(b.value.customPlanId, b.value.productId, b.value.priceId, tenant.id);
  });

  it("a slow attempt whose Stripe call fails after a retry took it over archives nothing: the retry's plan stays live", async () => {
    const tenant = await newTenant();
    const request = input(tenant.id);
    // The slow attempt does not retry Stripe errors, so the one injected failure is its own.
    const slow = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: createStripeSyncService(env.stripe, { catalog: DEFAULT_FEATURE_CATALOG, maxRetries: 0 }),
      catalog: DEFAULT_FEATURE_CATALOG,
    });
    const retrying = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
      inProgressWindowMs: 100,
    });
    // Both price requests are held, then go on in arrival order: the slow attempt's, first, fails.
    const hold = env.emu.holdRequests({ method: 'POST', path: '/v1/prices' });
    env.emu.injectFault({ status: 500, count: 1, method: 'POST', path: '/v1/prices', shouldRetry: false });
    const first = slow.createCustomEnterprisePlan(request);
    const { second } = await retryWhileHeld(hold, () => retrying.createCustomEnterprisePlan(request));
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a.status).toBe('rejected');
    expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 'custom_plan_in_progress' });
    if (b.status !== 'fulfilled') throw b.reason;
    await expectLive(b.value.customPlanId, b.value.productId, b.value.priceId, tenant.id);
  });

  it('a failure after the tenant switch committed (cache publish) does not archive the live plan or mark it failed', async () => {
    const tenant = await newTenant();
    const reader = createFeatureReader(env.prisma, env.cache, { namespace: env.namespace });
    const failingReader: FeatureReader = {
      getTenantFeatures: (id) => reader.getTenantFeatures(id),
      isFeatureEnabled: (id, key) => reader.isFeatureEnabled(id, key),
      invalidate: (...ids) => reader.invalidate(...ids),
      stats: reader.stats,
      publish: async () => {
        throw new Error('cache unreachable');
      },
    };
    const service = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
      featureReader: failingReader,
    });

    const result = await service.createCustomEnterprisePlan(
      input(tenant.id, {
        createCheckoutSession: true,
        successUrl: 'https://a.example/ok',
        cancelUrl: 'https://a.example/no',
      }),
    );
    await expectLive(result.customPlanId, result.productId, result.priceId, tenant.id);
    const session = (await env.stripe.checkout.sessions.list({ customer: tenant.customerId })).data[0];
    expect(session?.status).toBe('open');
    // And the request can be repeated: it replays the live plan.
    expect(await service.createCustomEnterprisePlan(input(tenant.id))).toMatchObject({
      customPlanId: result.customPlanId,
    });
  });
});

describe('caller idempotency keys across tenants', () => {
  it('a key whose attempt failed for one tenant can be reused for another without replaying Stripe keys', async () => {
    const first = await newTenant();
    const second = await newTenant();
    const service = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
    });
    const idempotencyKey = `shared-key-${first.id}`;

    env.emu.injectFault({ status: 500, method: 'POST', path: '/v1/prices', count: 10 });
    await expect(
      service.createCustomEnterprisePlan(input(first.id, { idempotencyKey })),
    ).rejects.toMatchObject({ step: 'price' });
    env.emu.clearFaults();

    // Stripe scopes idempotency keys to the API key: reusing `${key}:product` with other parameters
    // (another tenant's product) would be refused, so the retry must get fresh Stripe keys.
    const created = await service.createCustomEnterprisePlan(input(second.id, { idempotencyKey }));
    await expectLive(created.customPlanId, created.productId, created.priceId, second.id);
  });
});
