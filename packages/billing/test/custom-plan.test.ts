import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { createCustomPlanService, type CreateCustomPlanInput } from '../src/flows/custom-plans/index.js';
import {
  CustomPlanError,
  PlanNotFoundError,
  TenantNotFoundError,
  UnknownFeatureError,
  ValidationError,
} from '../src/core/errors.js';
import { resolvePlanDefaults } from '../src/io/metadata/index.js';
import { countOf, newTenant as newTenantIn, pendingPlanRow } from './admin-helpers.js';
import { whileAuditInsertsFail } from './helpers/db-faults.js';
import { seedPlans } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';

const env = await useAdminTestEnv({ clearFaultsEachTest: true });
const plans = await seedPlans(env.stripe);

const newTenant = (withCustomer = true) => newTenantIn(env, 'cp_tenant', withCustomer);

// createCheckoutSession: false because the default now hands out a link (custom-plan-links.test.ts);
// these tests ask for a checkout or a switch explicitly where they want one.
function input(tenantId: string, extra: Partial<CreateCustomPlanInput> = {}): CreateCustomPlanInput {
  return {
    createCheckoutSession: false,
    tenantId,
    basePlanId: plans.pro.price.id,
    priceCents: 129_900,
    currency: 'USD',
    recurringInterval: 'year',
    overrides: { max_users: 500, sso: true, white_label: true },
    planName: `Enterprise custom for ${tenantId}`,
    ...extra,
  };
}

describe('createCustomEnterprisePlan on the emulator', () => {
  it('creates product + price the parser reads back, switches the tenant to it with an audit row, and returns a checkout url', async () => {
    const tenant = await newTenant();
    const result = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true, actor: 'admin:ops' }),
    );

    const expectedFeatures = { ...plans.pro.fixture.features, max_users: 500, sso: true, white_label: true };
    expect(result.features).toEqual(expectedFeatures);
    expect(result.productId).toMatch(/^prod_/);
    expect(result.priceId).toMatch(/^price_/);
    expect(result.checkoutUrl).toMatch(/^http/);

    const product = await env.stripe.products.retrieve(result.productId);
    const price = await env.stripe.prices.retrieve(result.priceId);
    expect(product.metadata).toMatchObject({
      custom: 'true',
      tenantId: tenant.id,
      bundle: 'pro',
      basePlanId: plans.pro.price.id,
    });
    expect(price.metadata).toMatchObject({ custom: 'true', tenantId: tenant.id });
    expect(price.unit_amount).toBe(129_900);
    expect(price.currency).toBe('usd');
    expect(price.recurring?.interval).toBe('year');
    // The plan as any other reader (webhook, sync) will see it.
    const parsed = resolvePlanDefaults(product, price, DEFAULT_FEATURE_CATALOG);
    expect(parsed).toMatchObject({
      custom: true,
      tenantId: tenant.id,
      bundle: 'pro',
      features: expectedFeatures,
      scrapeIntervalHours: 6,
    });

    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: tenant.id } });
    expect(config).toMatchObject({
      source: 'custom',
      features: expectedFeatures,
      planFeatures: expectedFeatures,
      bundle: 'pro',
      stripeProductId: result.productId,
      stripePriceId: result.priceId,
    });
    const audit = await env.prisma.featureAuditLog.findMany({ where: { tenantId: tenant.id } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      source: 'custom_plan',
      actor: 'admin:ops',
      action: 'custom_plan_applied',
    });

    const row = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: result.customPlanId } });
    expect(row).toMatchObject({
      status: 'active',
      stripeProductId: result.productId,
      stripePriceId: result.priceId,
      checkoutUrl: result.checkoutUrl,
    });

    const session = (await env.stripe.checkout.sessions.list({ customer: tenant.customerId! })).data[0];
    expect(session?.mode).toBe('subscription');
    expect(session?.url).toBe(result.checkoutUrl);
    // The reader sees the committed state straight away (published after commit).
    expect((await env.featureSync.getTenantFeatures(tenant.id))?.features).toEqual(expectedFeatures);
  });

  it('a retried call returns the same ids and creates nothing new in Stripe', async () => {
    const tenant = await newTenant();
    const request = input(tenant.id, { createCheckoutSession: true });
    const productsBefore = countOf(env, 'POST /v1/products');
    const pricesBefore = countOf(env, 'POST /v1/prices');
    const first = await env.customPlans.createCustomEnterprisePlan(request);
    const second = await env.customPlans.createCustomEnterprisePlan(request);
    expect(second).toEqual(first);
    expect(countOf(env, 'POST /v1/products') - productsBefore).toBe(1);
    expect(countOf(env, 'POST /v1/prices') - pricesBefore).toBe(1);
    const mine = (await env.stripe.products.list({ limit: 100 })).data.filter(
      (p) => p.metadata.tenantId === tenant.id,
    );
    expect(mine).toHaveLength(1);
    expect(await env.prisma.customPlan.count({ where: { tenantId: tenant.id } })).toBe(1);
    expect(await env.prisma.featureAuditLog.count({ where: { tenantId: tenant.id } })).toBe(1);
  });

  it('a caller idempotency key makes retries safe and refuses reuse for a different plan', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: `deal-${tenant.id}` }),
    );
    const again = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: `deal-${tenant.id}` }),
    );
    expect(again).toEqual(first);
    const reused = env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: `deal-${tenant.id}`, priceCents: 1 }),
    );
    await expect(reused).rejects.toMatchObject({ name: 'CustomPlanError', code: 'idempotency_conflict' });
  });

  it('a caller key reused with one override fewer, or one more, is a conflict, not a replay of the old plan', async () => {
    const tenant = await newTenant();
    const key = `deal-overrides-${tenant.id}`;
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: key, overrides: { max_users: 321, sso: true } }),
    );
    expect(first.features).toMatchObject({ max_users: 321, sso: true });
    const fewer = env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: key, overrides: { max_users: 321 } }),
    );
    await expect(fewer).rejects.toMatchObject({ code: 'idempotency_conflict' });
    const more = env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { idempotencyKey: key, overrides: { max_users: 321, sso: true, max_projects: 9 } }),
    );
    await expect(more).rejects.toMatchObject({ code: 'idempotency_conflict' });
    // The exact request still replays, in any key order.
    expect(
      await env.customPlans.createCustomEnterprisePlan(
        input(tenant.id, { idempotencyKey: key, overrides: { sso: true, max_users: 321 } }),
      ),
    ).toEqual(first);
  });

  it('a Stripe-side replay after a lost row still yields one product (Stripe idempotency keys are deterministic)', async () => {
    const tenant = await newTenant();
    const request = input(tenant.id);
    const key = env.customPlans.idempotencyKeyFor(request);
    const first = await env.customPlans.createCustomEnterprisePlan(request);
    // Simulate a crash-restart that lost nothing in Stripe: the same key replays the same product.
    const replayed = await env.stripe.products.create(
      { name: request.planName, metadata: (await env.stripe.products.retrieve(first.productId)).metadata },
      { idempotencyKey: `${key}:product` },
    );
    expect(replayed.id).toBe(first.productId);
  });

  it('a price failure archives the product, marks the row failed, leaves the tenant alone, and a retry starts afresh', async () => {
    const tenant = await newTenant();
    await env.prisma.tenantFeatureConfig.create({
      data: { tenantId: tenant.id, features: { api_access: true }, planFeatures: { api_access: true } },
    });
    env.emu.injectFault({ status: 500, count: 5, method: 'POST', path: '/v1/prices' });
    const productsBefore = countOf(env, 'POST /v1/products');

    const attempt = env.customPlans.createCustomEnterprisePlan(input(tenant.id));
    await expect(attempt).rejects.toBeInstanceOf(CustomPlanError);
    const error = (await attempt.catch((e: unknown) => e)) as CustomPlanError;
    expect(error.step).toBe('price');
    expect(error.code).toBe('stripe_request_failed');

    expect(countOf(env, 'POST /v1/products') - productsBefore).toBe(1);
    const row = await env.prisma.customPlan.findFirstOrThrow({ where: { tenantId: tenant.id } });
    expect(row.status).toBe('failed');
    expect(row.error).toContain('[price]');
    expect(row.stripeProductId).toMatch(/^prod_/);
    expect(row.stripePriceId).toBeNull();
    const product = await env.stripe.products.retrieve(row.stripeProductId!);
    expect(product.active).toBe(false);

    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: tenant.id } });
    expect(config).toMatchObject({
      source: 'plan',
      features: { api_access: true },
      stripeProductId: null,
      version: 0,
    });
    expect(await env.prisma.featureAuditLog.count({ where: { tenantId: tenant.id } })).toBe(0);

    env.emu.clearFaults();
    const retried = await env.customPlans.createCustomEnterprisePlan(input(tenant.id));
    expect(retried.productId).not.toBe(row.stripeProductId);
    const rows = await env.prisma.customPlan.findMany({
      where: { tenantId: tenant.id },
      orderBy: { createdAt: 'asc' },
    });
    expect(rows.map((r) => r.status)).toEqual(['failed', 'active']);
    expect((await env.stripe.products.retrieve(retried.productId)).active).toBe(true);
  });

  it('a checkout failure archives product and price and leaves the tenant unchanged', async () => {
    const tenant = await newTenant();
    env.emu.injectFault({ status: 500, count: 5, method: 'POST', path: '/v1/checkout/sessions' });
    const attempt = env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    await expect(attempt).rejects.toMatchObject({ name: 'CustomPlanError', step: 'checkout' });
    const row = await env.prisma.customPlan.findFirstOrThrow({ where: { tenantId: tenant.id } });
    expect(row.status).toBe('failed');
    expect((await env.stripe.products.retrieve(row.stripeProductId!)).active).toBe(false);
    expect((await env.stripe.prices.retrieve(row.stripePriceId!)).active).toBe(false);
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: tenant.id } })).toBeNull();
  });

  it('concurrent identical calls create one plan; the loser is told it is in progress', async () => {
    const tenant = await newTenant();
    const before = countOf(env, 'POST /v1/products');
    const outcomes = await Promise.allSettled(
      [0, 1, 2].map(() => env.customPlans.createCustomEnterprisePlan(input(tenant.id))),
    );
    const fulfilled = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const rejected = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as CustomPlanError] : []));
    expect(fulfilled.length).toBeGreaterThanOrEqual(1);
    for (const r of fulfilled) expect(r).toEqual(fulfilled[0]);
    for (const e of rejected) expect(e).toMatchObject({ code: 'custom_plan_in_progress' });
    expect(countOf(env, 'POST /v1/products') - before).toBe(1);
    expect(await env.prisma.customPlan.count({ where: { tenantId: tenant.id } })).toBe(1);
  });

  it('resumes a crashed attempt from its row, reusing the product it already created', async () => {
    const tenant = await newTenant();
    const resuming = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
      inProgressWindowMs: 0,
    });
    const request = input(tenant.id, { overrides: { max_users: 42 } });
    const features = { ...plans.pro.fixture.features, max_users: 42 };
    const orphan = await env.stripe.products.create({
      name: request.planName,
      metadata: { custom: 'true', tenantId: tenant.id },
    });
    const row = await pendingPlanRow(env, request, resuming.idempotencyKeyFor(request), features, {
      stripeProductId: orphan.id,
    });
    const before = countOf(env, 'POST /v1/products');
    const result = await resuming.createCustomEnterprisePlan(request);
    expect(result).toMatchObject({ customPlanId: row.id, productId: orphan.id, features });
    expect(countOf(env, 'POST /v1/products')).toBe(before);
    expect((await env.prisma.customPlan.findUniqueOrThrow({ where: { id: row.id } })).status).toBe('active');
  });

  it('a recent pending row for the same request → custom_plan_in_progress, nothing created', async () => {
    const tenant = await newTenant();
    const request = input(tenant.id);
    await pendingPlanRow(env, request, env.customPlans.idempotencyKeyFor(request), {
      ...plans.pro.fixture.features,
      max_users: 500,
      sso: true,
      white_label: true,
    });
    const before = countOf(env, 'POST /v1/products');
    await expect(env.customPlans.createCustomEnterprisePlan(request)).rejects.toMatchObject({
      code: 'custom_plan_in_progress',
    });
    expect(countOf(env, 'POST /v1/products')).toBe(before);
  });

  it('asking for checkout on a later retry adds a session to the existing plan', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(input(tenant.id));
    expect(first.checkoutUrl).toBeUndefined();
    const second = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    expect(second).toMatchObject({
      customPlanId: first.customPlanId,
      productId: first.productId,
      priceId: first.priceId,
    });
    expect(second.checkoutUrl).toMatch(/^http/);
    const third = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    expect(third.checkoutUrl).toBe(second.checkoutUrl);
  });

  it('a repeated request reuses an open checkout session: same URL, no new session', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    const sessionsBefore = countOf(env, 'POST /v1/checkout/sessions');
    const again = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    expect(again.checkoutUrl).toBe(first.checkoutUrl);
    expect(countOf(env, 'POST /v1/checkout/sessions')).toBe(sessionsBefore);
  });

  it('an expired checkout session is replaced: a new live URL, recorded on the row, one open session', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    const row = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: first.customPlanId } });
    await env.stripe.checkout.sessions.expire(row.checkoutSessionId!);

    // Without asking for checkout, the dead link is not handed out (the row's expiry says it is dead only
    // once its time has passed, so move it; Stripe's own expiry is checked when checkout is asked for).
    await env.prisma.customPlan.update({
      where: { id: row.id },
      data: { checkoutExpiresAt: new Date(Date.now() - 1000) },
    });
    expect((await env.customPlans.createCustomEnterprisePlan(input(tenant.id))).checkoutUrl).toBeUndefined();

    const renewed = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    expect(renewed).toMatchObject({
      customPlanId: first.customPlanId,
      productId: first.productId,
      priceId: first.priceId,
    });
    expect(renewed.checkoutUrl).toMatch(/^http/);
    expect(renewed.checkoutUrl).not.toBe(first.checkoutUrl);
    const updated = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: row.id } });
    expect(updated.checkoutUrl).toBe(renewed.checkoutUrl);
    expect(updated.checkoutSessionId).not.toBe(row.checkoutSessionId);
    expect(updated.checkoutExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const open = await env.stripe.checkout.sessions.list({ customer: tenant.customerId!, status: 'open' });
    expect(open.data.map((session) => session.id)).toEqual([updated.checkoutSessionId]);
  });

  it('a session close to its expiry is expired before its replacement is created, so two are never open', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    const oldId = (await env.prisma.customPlan.findUniqueOrThrow({ where: { id: first.customPlanId } }))
      .checkoutSessionId!;
    // 23.5 h later by the service's clock: the 24 h session has half an hour left.
    const later = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
      checkoutBaseUrls: { successUrl: 'https://app.example/ok', cancelUrl: 'https://app.example/no' },
      now: () => new Date(Date.now() + 23.5 * 3600_000),
    });
    const renewed = await later.createCustomEnterprisePlan(input(tenant.id, { createCheckoutSession: true }));
    expect(renewed.checkoutUrl).not.toBe(first.checkoutUrl);
    expect((await env.stripe.checkout.sessions.retrieve(oldId)).status).toBe('expired');
    expect(
      (await env.stripe.checkout.sessions.list({ customer: tenant.customerId!, status: 'open' })).data,
    ).toHaveLength(1);
  });

  it('after the customer completed checkout, a repeated request returns no link and creates no session', async () => {
    const tenant = await newTenant();
    const first = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    const row = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: first.customPlanId } });
    const completed = env.emu.completeCheckoutSession(row.checkoutSessionId!);
    expect(completed.subscription).toBeTruthy();
    const sessionsBefore = countOf(env, 'POST /v1/checkout/sessions');
    const again = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { createCheckoutSession: true }),
    );
    expect(again).toMatchObject({
      customPlanId: first.customPlanId,
      productId: first.productId,
      priceId: first.priceId,
    });
    expect(again.checkoutUrl).toBeUndefined();
    expect(countOf(env, 'POST /v1/checkout/sessions')).toBe(sessionsBefore);
  });

  it('keeps earlier tenant overrides except those the custom plan sets', async () => {
    const tenant = await newTenant();
    await env.prisma.tenantFeatureConfig.create({
      data: {
        tenantId: tenant.id,
        features: { max_users: 50, bulk_export: true },
        overrides: { max_users: 50, bulk_export: true },
      },
    });
    const result = await env.customPlans.createCustomEnterprisePlan(input(tenant.id));
    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: tenant.id } });
    expect(config.overrides).toEqual({ bulk_export: true });
    expect(config.features).toEqual({ ...result.features, bulk_export: true });
  });

  it('accepts a product id or lookup key as the base plan', async () => {
    const a = await newTenant();
    const byProduct = await env.customPlans.createCustomEnterprisePlan(
      input(a.id, { basePlanId: plans.starter.product.id, overrides: {} }),
    );
    expect(byProduct.features).toEqual(plans.starter.fixture.features);
    const b = await newTenant();
    const byLookup = await env.customPlans.createCustomEnterprisePlan(
      input(b.id, { basePlanId: 'enterprise_monthly', overrides: { max_users: 5000 } }),
    );
    expect(byLookup.features).toEqual({ ...plans.enterprise.fixture.features, max_users: 5000 });
  });
});

describe('a tenant deleted while its custom plan is being created', () => {
  it('the attempt undoes what it made in Stripe and answers TenantNotFoundError', async () => {
    const tenant = await newTenant();
    const hold = env.emu.holdRequests({ method: 'POST', path: '/v1/prices' });
    const attempt = env.customPlans.createCustomEnterprisePlan(input(tenant.id)).catch((e: unknown) => e);
    // Delete the tenant (its custom_plans row goes with it) while the price request is waiting.
    await expect.poll(() => hold.held, { timeout: 15_000 }).toBe(1);
    await env.prisma.tenant.delete({ where: { id: tenant.id } });
    hold.release();
    const error = await attempt;
    env.emu.clearFaults();
    expect(error).toBeInstanceOf(TenantNotFoundError);
    expect((error as Error).message).toMatch(/deleted while its custom plan was being created/);
    const mine = (await env.stripe.products.list({ limit: 100 })).data.filter(
      (p) => p.metadata.tenantId === tenant.id,
    );
    expect(mine).toHaveLength(1);
    expect(mine[0]!.active).toBe(false);
    const prices = (await env.stripe.prices.list({ product: mine[0]!.id, limit: 10 })).data;
    expect(prices.every((price) => !price.active)).toBe(true);
  });
});

describe('custom plans for customers who already pay', () => {
  /** A new tenant subscribed to `priceIds` (first = first item). */
  async function subscribedTenant(priceIds: string[]) {
    const tenant = await newTenant();
    const subscription = await env.stripe.subscriptions.create({
      customer: tenant.customerId!,
      items: priceIds.map((price) => ({ price })),
    });
    return { ...tenant, subscription };
  }

  it('checkout for a subscribed customer is refused before anything is created (it would bill twice)', async () => {
    const tenant = await subscribedTenant([plans.pro.price.id]);
    const before = {
      products: countOf(env, 'POST /v1/products'),
      rows: await env.prisma.customPlan.count({ where: { tenantId: tenant.id } }),
    };
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(tenant.id, { createCheckoutSession: true }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CustomPlanError);
    expect(error).toMatchObject({
      code: 'customer_already_subscribed',
      message: expect.stringContaining(tenant.subscription.id),
    });
    expect(countOf(env, 'POST /v1/products')).toBe(before.products);
    expect(await env.prisma.customPlan.count({ where: { tenantId: tenant.id } })).toBe(before.rows);
  });

  it('switchSubscription moves the plan item onto the custom price, keeps add-ons, and a repeat changes nothing', async () => {
    const addOnProduct = await env.stripe.products.create({ name: 'Extra seats' });
    const addOn = await env.stripe.prices.create({
      product: addOnProduct.id,
      unit_amount: 500,
      currency: 'usd',
      recurring: { interval: 'month' },
    });
    // The add-on comes first: the plan item is the one whose product carries plan metadata.
    const tenant = await subscribedTenant([addOn.id, plans.pro.price.id]);
    const result = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { switchSubscription: true }),
    );
    expect(result.subscriptionId).toBe(tenant.subscription.id);
    const after = await env.stripe.subscriptions.retrieve(tenant.subscription.id);
    expect(after.items.data.map((item) => item.price.id).sort()).toEqual([addOn.id, result.priceId].sort());
    expect(after.status).toBe('active');
    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: tenant.id } });
    expect(config).toMatchObject({ source: 'custom', stripePriceId: result.priceId });

    const updates = countOf(env, 'POST /v1/subscriptions/:id');
    expect(
      await env.customPlans.createCustomEnterprisePlan(input(tenant.id, { switchSubscription: true })),
    ).toEqual(result);
    expect(countOf(env, 'POST /v1/subscriptions/:id')).toBe(updates);
    // And checkout is not offered to a customer already paying for this very plan.
    expect(
      (await env.customPlans.createCustomEnterprisePlan(input(tenant.id, { createCheckoutSession: true })))
        .checkoutUrl,
    ).toBeUndefined();
  });

  it('a plan created without switching can be switched by a later repeat', async () => {
    const tenant = await subscribedTenant([plans.starter.price.id]);
    const first = await env.customPlans.createCustomEnterprisePlan(input(tenant.id));
    expect(first.subscriptionId).toBeUndefined();
    expect((await env.stripe.subscriptions.retrieve(tenant.subscription.id)).items.data[0]!.price.id).toBe(
      plans.starter.price.id,
    );
    const switched = await env.customPlans.createCustomEnterprisePlan(
      input(tenant.id, { switchSubscription: true }),
    );
    expect(switched).toMatchObject({
      customPlanId: first.customPlanId,
      subscriptionId: tenant.subscription.id,
    });
    expect((await env.stripe.subscriptions.retrieve(tenant.subscription.id)).items.data[0]!.price.id).toBe(
      first.priceId,
    );
  });

  it('switchSubscription without a subscription → ValidationError naming it, nothing created', async () => {
    const tenant = await newTenant();
    const before = countOf(env, 'POST /v1/products');
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(tenant.id, { switchSubscription: true }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toContain('switchSubscription');
    expect(countOf(env, 'POST /v1/products')).toBe(before);
  });

  it('checkout and switch together → ValidationError', async () => {
    const tenant = await newTenant();
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(tenant.id, { switchSubscription: true, createCheckoutSession: true }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toContain('switchSubscription');
  });

  it('an attempt that crashed after moving the subscription is resumed; when its tenant switch fails, the move is still undone', async () => {
    const tenant = await subscribedTenant([plans.pro.price.id]);
    const request = input(tenant.id, { switchSubscription: true });
    // What the crashed attempt left: product, price, the subscription on the price, and a stale row saying so.
    const product = await env.stripe.products.create({
      name: request.planName,
      metadata: { custom: 'true', tenantId: tenant.id },
    });
    const price = await env.stripe.prices.create({
      product: product.id,
      unit_amount: request.priceCents,
      currency: 'usd',
      recurring: { interval: 'month' },
    });
    const itemId = tenant.subscription.items.data[0]!.id;
    await env.stripe.subscriptions.update(tenant.subscription.id, {
      items: [{ id: itemId, price: price.id }],
    });
    const longAgo = new Date(Date.now() - 10 * 60_000);
    await pendingPlanRow(
      env,
      request,
      env.customPlans.idempotencyKeyFor(request),
      { ...plans.enterprise.fixture.features, ...request.overrides },
      {
        overrides: request.overrides,
        stripeProductId: product.id,
        stripePriceId: price.id,
        switchedSubscriptionId: tenant.subscription.id,
        switchedItemId: itemId,
        switchedFromPriceId: plans.pro.price.id,
        createdAt: longAgo,
        updatedAt: longAgo,
      },
    );
    const error = await whileAuditInsertsFail(env.db, tenant.id, () =>
      env.customPlans.createCustomEnterprisePlan(request).catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ name: 'CustomPlanError', step: 'tenant_update' });
    const subscription = await env.stripe.subscriptions.retrieve(tenant.subscription.id);
    expect(subscription.items.data.map((item) => item.price.id)).toEqual([plans.pro.price.id]);
    expect((await env.stripe.prices.retrieve(price.id)).active).toBe(false);
  });

  it('if the subscription cannot be moved back (its old price was archived), the plan price stays active and the error says so', async () => {
    const oldProduct = await env.stripe.products.create({
      name: 'Legacy plan',
      metadata: { features: 'api_access' },
    });
    const oldPrice = await env.stripe.prices.create({
      product: oldProduct.id,
      unit_amount: 900,
      currency: 'usd',
      recurring: { interval: 'month' },
    });
    const tenant = await subscribedTenant([oldPrice.id]);
    await env.stripe.prices.update(oldPrice.id, { active: false });
    const error = await whileAuditInsertsFail(env.db, tenant.id, () =>
      env.customPlans
        .createCustomEnterprisePlan(input(tenant.id, { switchSubscription: true }))
        .catch((e: unknown) => e),
    );
    expect(error).toMatchObject({
      name: 'CustomPlanError',
      step: 'tenant_update',
      message: expect.stringMatching(/could not be moved back.*left active/),
    });
    const row = await env.prisma.customPlan.findFirstOrThrow({ where: { tenantId: tenant.id } });
    expect(row).toMatchObject({ status: 'failed', error: expect.stringMatching(/left active/) });
    // The customer is still billed on the custom price, so it is not hidden by archiving.
    const subscription = await env.stripe.subscriptions.retrieve(tenant.subscription.id);
    expect(subscription.items.data[0]!.price.id).toBe(row.stripePriceId);
    expect((await env.stripe.prices.retrieve(row.stripePriceId!)).active).toBe(true);
    expect((await env.stripe.products.retrieve(row.stripeProductId!)).active).toBe(true);
  });

  it('when the tenant switch fails after the subscription moved, the subscription is moved back and the plan archived', async () => {
    const tenant = await subscribedTenant([plans.pro.price.id]);
    const error = await whileAuditInsertsFail(env.db, tenant.id, () =>
      env.customPlans
        .createCustomEnterprisePlan(input(tenant.id, { switchSubscription: true }))
        .catch((e: unknown) => e),
    );
    expect(error).toMatchObject({ name: 'CustomPlanError', step: 'tenant_update' });
    const subscription = await env.stripe.subscriptions.retrieve(tenant.subscription.id);
    expect(subscription.items.data.map((item) => item.price.id)).toEqual([plans.pro.price.id]);
    const row = await env.prisma.customPlan.findFirstOrThrow({ where: { tenantId: tenant.id } });
    expect(row.status).toBe('failed');
    // The interim "(undoing …)" note is replaced by the outcome once compensation has run.
    expect(row.error).toMatch(/^\[tenant_update\] Custom plan creation failed/);
    expect(row.error).not.toMatch(/undoing/);
    expect((await env.stripe.prices.retrieve(row.stripePriceId!)).active).toBe(false);
    expect((await env.stripe.products.retrieve(row.stripeProductId!)).active).toBe(false);
    expect(await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: tenant.id } })).toBeNull();
  });
});

describe('createCustomEnterprisePlan validation', () => {
  let tenantId: string;
  beforeAll(async () => {
    tenantId = (await newTenant()).id;
  });

  const cases: Array<[string, Partial<CreateCustomPlanInput>, string]> = [
    ['zero price', { priceCents: 0 }, 'priceCents'],
    ['negative price', { priceCents: -100 }, 'priceCents'],
    ['fractional price', { priceCents: 10.5 }, 'priceCents'],
    ['price above Stripe maximum', { priceCents: 100_000_000 }, 'priceCents'],
    ['two-letter currency', { currency: 'us' }, 'currency'],
    ['currency with digits', { currency: 'US1' }, 'currency'],
    ['well-formed but not an ISO 4217 code', { currency: 'xyz' }, 'currency'],
    ['unknown interval', { recurringInterval: 'monthly' as never }, 'recurringInterval'],
    ['empty plan name', { planName: '   ' }, 'planName'],
    ['plan name over 250 characters', { planName: 'x'.repeat(251) }, 'planName'],
    ['boolean feature given a number', { overrides: { sso: 1 as never } }, 'overrides.sso'],
    ['number feature given a string', { overrides: { max_users: '10' as never } }, 'overrides.max_users'],
    ['negative limit', { overrides: { max_users: -1 } }, 'overrides.max_users'],
    ['bad success url', { createCheckoutSession: true, successUrl: 'javascript:alert(1)' }, 'successUrl'],
    ['unknown field', { interval: 'month' } as never, ''],
  ];

  it.each(cases)('%s → ValidationError naming %s', async (_name, extra, path) => {
    const before = countOf(env, 'POST /v1/products');
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(tenantId, extra))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    if (path) expect((error as ValidationError).issues.map((i) => i.path)).toContain(path);
    expect(countOf(env, 'POST /v1/products')).toBe(before);
  });

  it('lowercases the currency', async () => {
    const t = await newTenant();
    const result = await env.customPlans.createCustomEnterprisePlan(input(t.id, { currency: 'EUR' }));
    expect((await env.stripe.prices.retrieve(result.priceId)).currency).toBe('eur');
  });

  it('unknown feature key → UnknownFeatureError', async () => {
    await expect(
      env.customPlans.createCustomEnterprisePlan(input(tenantId, { overrides: { teleport: true } })),
    ).rejects.toBeInstanceOf(UnknownFeatureError);
  });

  it('unknown tenant → TenantNotFoundError', async () => {
    await expect(env.customPlans.createCustomEnterprisePlan(input('no_such_tenant'))).rejects.toBeInstanceOf(
      TenantNotFoundError,
    );
  });

  it('unknown base plan → PlanNotFoundError, with no row and no product', async () => {
    const before = countOf(env, 'POST /v1/products');
    await expect(
      env.customPlans.createCustomEnterprisePlan(input(tenantId, { basePlanId: 'price_does_not_exist' })),
    ).rejects.toBeInstanceOf(PlanNotFoundError);
    expect(countOf(env, 'POST /v1/products')).toBe(before);
    expect(
      await env.prisma.customPlan.count({ where: { tenantId, basePlanId: 'price_does_not_exist' } }),
    ).toBe(0);
  });

  it('checkout without a Stripe customer → ValidationError', async () => {
    const t = await newTenant(false);
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(t.id, { createCheckoutSession: true }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
  });

  it('checkout without URLs (none configured) → ValidationError', async () => {
    const bare = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      catalog: DEFAULT_FEATURE_CATALOG,
    });
    const t = await newTenant();
    const error = (await bare
      .createCustomEnterprisePlan(input(t.id, { createCheckoutSession: true }))
      .catch((e: unknown) => e)) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.issues.map((i) => i.path).sort()).toEqual(['cancelUrl', 'successUrl']);
  });

  it("a base plan that is another tenant's custom plan is refused", async () => {
    const owner = await newTenant();
    const custom = await env.customPlans.createCustomEnterprisePlan(input(owner.id));
    const other = await newTenant();
    const error = await env.customPlans
      .createCustomEnterprisePlan(input(other.id, { basePlanId: custom.priceId }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
  });

  it('loads the catalog from the database when none is given', async () => {
    const fromDb = createCustomPlanService(env.stripe, env.prisma, { stripeSync: env.stripeSync });
    await expect(
      fromDb.createCustomEnterprisePlan(input(tenantId, { overrides: { teleport: true } })),
    ).rejects.toBeInstanceOf(UnknownFeatureError);
  });
});
