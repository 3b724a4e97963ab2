import { describe, expect, it } from 'vitest';
import {
  CheckoutNotConfiguredError,
  createCustomPlanService,
  type CreateCustomPlanInput,
  type CustomPlanService,
} from '../src/index.js';
import { countOf } from './admin-helpers.js';
import { createTenant, seedPlans } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';

/** The default of createCustomEnterprisePlan: a link fitting the customer, with no extra flags. */

const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
let seq = 0;

function request(tenantId: string, extra: Partial<CreateCustomPlanInput> = {}): CreateCustomPlanInput {
  return {
    tenantId,
    basePlanId: plans.enterprise.price.id,
    priceCents: 120000,
    currency: 'usd',
    recurringInterval: 'month',
    overrides: { white_label: true, custom_domains: true },
    planName: `Custom ${tenantId}`,
    ...extra,
  };
}

async function tenant(withCustomer: boolean) {
  seq += 1;
  const id = `lnk_${seq}`;
  const customer = withCustomer
    ? await env.stripe.customers.create({ name: id, metadata: { tenantId: id } })
    : null;
  await createTenant(env.prisma, id, customer?.id ?? null);
  return { id, customerId: customer?.id ?? null };
}

describe('createCustomEnterprisePlan without link flags', () => {
  it('a tenant without a customer gets one created and linked, and a Checkout link', async () => {
    const t = await tenant(false);
    const result = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    expect(result.productId).toMatch(/^prod_/);
    expect(result.priceId).toMatch(/^price_/);
    expect(result.checkoutUrl).toMatch(/\/checkout\/cs_/);
    const linked = await env.prisma.tenant.findUnique({ where: { id: t.id } });
    expect(linked?.stripeCustomerId).toMatch(/^cus_/);
    const customer = await env.stripe.customers.retrieve(linked!.stripeCustomerId!);
    expect((customer as { metadata: Record<string, string> }).metadata.tenantId).toBe(t.id);
    const audit = await env.prisma.featureAuditLog.findMany({
      where: { tenantId: t.id, action: 'stripe_customer_linked' },
    });
    expect(audit).toHaveLength(1);
    const sessions = await env.stripe.checkout.sessions.list({ customer: linked!.stripeCustomerId! });
    expect(sessions.data[0]?.line_items ?? null).toBeNull();
    expect(sessions.data.map((s) => s.url)).toEqual([result.checkoutUrl]);
  });

  it('finds an unlinked customer by metadata.tenantId instead of creating one', async () => {
    const t = await tenant(false);
    const existing = await env.stripe.customers.create({ name: 'pre', metadata: { tenantId: t.id } });
    const before = countOf(env, 'POST /v1/customers');
    const result = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    expect(countOf(env, 'POST /v1/customers')).toBe(before);
    expect(result.checkoutUrl).toMatch(/\/checkout\/cs_/);
    expect((await env.prisma.tenant.findUnique({ where: { id: t.id } }))?.stripeCustomerId).toBe(existing.id);
  });

  it('a paying tenant gets a Billing Portal link confirming the move (no second subscription); confirming moves it', async () => {
    const t = await tenant(true);
    const sub = await env.stripe.subscriptions.create({
      customer: t.customerId!,
      items: [{ price: plans.pro.price.id }],
    });
    const sessionsBefore = countOf(env, 'POST /v1/checkout/sessions');
    const result = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    expect(countOf(env, 'POST /v1/checkout/sessions')).toBe(sessionsBefore);
    expect(countOf(env, 'POST /v1/billing_portal/sessions')).toBeGreaterThan(0);
    expect(result.checkoutUrl).toMatch(/\/billing_portal\/bps_/);
    const sessionId = result.checkoutUrl!.split('/').at(-1)!;
    // Still on the old price until the customer confirms.
    const untouched = await env.stripe.subscriptions.retrieve(sub.id);
    expect(untouched.items.data[0]!.price.id).toBe(plans.pro.price.id);
    env.emu.confirmBillingPortalSession(sessionId);
    const moved = await env.stripe.subscriptions.retrieve(sub.id);
    expect(moved.items.data.map((i) => i.price.id)).toEqual([result.priceId]);
    const all = await env.stripe.subscriptions.list({ customer: t.customerId!, status: 'all' });
    expect(all.data).toHaveLength(1);
    // Asked again once it pays for the plan: no link is needed.
    const again = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    expect(again.priceId).toBe(result.priceId);
    expect(again.checkoutUrl).toBeUndefined();
  });

  it('a repeated request for a paying tenant not yet moved gets a fresh portal link', async () => {
    const t = await tenant(true);
    await env.stripe.subscriptions.create({
      customer: t.customerId!,
      items: [{ price: plans.pro.price.id }],
    });
    const first = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    const second = await env.customPlans.createCustomEnterprisePlan(request(t.id));
    expect(second.priceId).toBe(first.priceId);
    expect(second.checkoutUrl).toMatch(/\/billing_portal\/bps_/);
  });

  it('switchSubscription keeps the immediate switch; createCheckoutSession: false gives no link', async () => {
    const t = await tenant(true);
    const sub = await env.stripe.subscriptions.create({
      customer: t.customerId!,
      items: [{ price: plans.pro.price.id }],
    });
    const switched = await env.customPlans.createCustomEnterprisePlan(
      request(t.id, { switchSubscription: true }),
    );
    expect(switched.checkoutUrl).toBeUndefined();
    expect(switched.subscriptionId).toBe(sub.id);
    const u = await tenant(false);
    const none = await env.customPlans.createCustomEnterprisePlan(
      request(u.id, { createCheckoutSession: false }),
    );
    expect(none.checkoutUrl).toBeUndefined();
    expect((await env.prisma.tenant.findUnique({ where: { id: u.id } }))?.stripeCustomerId).toBeNull();
  });

  it('without URLs anywhere: CheckoutNotConfiguredError before anything is created', async () => {
    const previous = [process.env.CHECKOUT_SUCCESS_URL, process.env.CHECKOUT_CANCEL_URL];
    delete process.env.CHECKOUT_SUCCESS_URL;
    delete process.env.CHECKOUT_CANCEL_URL;
    try {
      const service: CustomPlanService = createCustomPlanService(env.stripe, env.prisma);
      const t = await tenant(false);
      const products = countOf(env, 'POST /v1/products');
      const customers = countOf(env, 'POST /v1/customers');
      await expect(service.createCustomEnterprisePlan(request(t.id))).rejects.toBeInstanceOf(
        CheckoutNotConfiguredError,
      );
      expect(countOf(env, 'POST /v1/products')).toBe(products);
      expect(countOf(env, 'POST /v1/customers')).toBe(customers);
      expect(await env.prisma.customPlan.count({ where: { tenantId: t.id } })).toBe(0);
      // The configured defaults are what the two-argument form uses.
      process.env.CHECKOUT_SUCCESS_URL = 'https://app.example.test/ok';
      process.env.CHECKOUT_CANCEL_URL = 'https://app.example.test/cancel';
      const result = await service.createCustomEnterprisePlan(request(t.id));
      expect(result.checkoutUrl).toMatch(/\/checkout\/cs_/);
    } finally {
      for (const [name, value] of [
        ['CHECKOUT_SUCCESS_URL', previous[0]],
        ['CHECKOUT_CANCEL_URL', previous[1]],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('emulator: billing_portal through the stripe SDK', () => {
  it('creates configurations and sessions in Stripe wire format, validating the flow', async () => {
    const t = await tenant(true);
    const sub = await env.stripe.subscriptions.create({
      customer: t.customerId!,
      items: [{ price: plans.starter.price.id }],
    });
    const configuration = await env.stripe.billingPortal.configurations.create({
      features: {
        subscription_update: {
          enabled: true,
          default_allowed_updates: ['price'],
          proration_behavior: 'create_prorations',
          products: [],
        },
      },
      business_profile: { headline: 'Acme' },
    });
    expect(configuration).toMatchObject({ object: 'billing_portal.configuration', active: true });
    expect((await env.stripe.billingPortal.configurations.retrieve(configuration.id)).id).toBe(
      configuration.id,
    );
    const session = await env.stripe.billingPortal.sessions.create({
      customer: t.customerId!,
      configuration: configuration.id,
      return_url: 'https://app.example.test/back',
      flow_data: {
        type: 'subscription_update_confirm',
        subscription_update_confirm: {
          subscription: sub.id,
          items: [{ id: sub.items.data[0]!.id, price: plans.pro.price.id, quantity: 1 }],
        },
        after_completion: { type: 'redirect', redirect: { return_url: 'https://app.example.test/done' } },
      },
    });
    expect(session).toMatchObject({
      object: 'billing_portal.session',
      customer: t.customerId,
      configuration: configuration.id,
      return_url: 'https://app.example.test/back',
      flow: {
        type: 'subscription_update_confirm',
        after_completion: { type: 'redirect', redirect: { return_url: 'https://app.example.test/done' } },
        subscription_update_confirm: {
          subscription: sub.id,
          items: [{ id: sub.items.data[0]!.id, price: plans.pro.price.id, quantity: 1 }],
        },
      },
    });
    expect(session.url).toMatch(/^http/);
    await expect(
      env.stripe.billingPortal.sessions.create({
        customer: t.customerId!,
        flow_data: {
          type: 'subscription_update_confirm',
          subscription_update_confirm: {
            subscription: sub.id,
            items: [{ id: 'si_nope', price: plans.pro.price.id }],
          },
        },
      }),
    ).rejects.toMatchObject({ type: 'StripeInvalidRequestError' });
    await expect(env.stripe.billingPortal.sessions.create({ customer: 'cus_nope' })).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
    });
  });
});
