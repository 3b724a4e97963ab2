import { describe, expect, it } from 'vitest';
import { decodeVersioned } from '../src/io/cache/index.js';
import { restrictFeatures } from '../src/core/index.js';
import {
  enforcePaymentGrace,
  listUnmatchedEvents,
  schedulePaymentGrace,
  type EnforcePaymentGraceResult,
} from '../src/flows/webhooks/index.js';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { createCustomPlanService } from '../src/flows/custom-plans/index.js';
import { PLAN_FIXTURES, seedPlan } from './helpers/fixtures.js';
import { startExtraServer } from './webhook-helpers.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

const DAY = 86_400_000;
const env = await useWebhookTestEnv({ resetClockEachTest: true });

describe('customer.subscription.created', () => {
  it('applies the plan of the subscription Stripe reports, audits it and publishes to the cache', async () => {
    const customerId = await env.createCustomer('t_created');
    const sub = await env.subscribe(customerId, 'pro');
    const res = await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      received: true,
      status: 'processed',
      action: 'plan_applied',
      type: 'customer.subscription.created',
    });
    const state = await env.state('t_created');
    expect(state).toMatchObject({
      features: PLAN_FIXTURES.pro.features,
      planFeatures: PLAN_FIXTURES.pro.features,
      bundle: 'pro',
      scrapeIntervalHours: 6,
      source: 'plan',
      stripeProductId: env.plans.pro.product.id,
      stripePriceId: env.plans.pro.price.id,
      stripeSubscriptionId: sub.id,
      subscriptionStatus: 'active',
      accessActive: true,
      lastStripeEventId: res.json.eventId,
    });
    expect(await env.audits('t_created')).toEqual([
      { action: 'plan_applied', stripeEventId: res.json.eventId, source: 'webhook', actor: 'stripe' },
    ]);
    expect(await env.ledger(res.json.eventId as string)).toMatchObject({
      status: 'processed',
      action: 'plan_applied',
      tenantId: 't_created',
      attempts: 1,
    });
    // Published after commit: the cache already holds the committed version.
    const cached = decodeVersioned(await env.cache.get(`${env.namespace}:t_created`));
    expect(cached?.version).toBe(state!.version);
  });

  it('finds a tenant through customer metadata and stores the customer id on it', async () => {
    const customerId = await env.createCustomer('t_meta', { link: 'metadata' });
    const sub = await env.subscribe(customerId, 'starter');
    const res = await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    expect(res.json).toMatchObject({ status: 'processed', action: 'plan_applied' });
    expect((await env.prisma.tenant.findUnique({ where: { id: 't_meta' } }))?.stripeCustomerId).toBe(
      customerId,
    );
    expect((await env.state('t_meta'))?.features).toEqual(PLAN_FIXTURES.starter.features);
  });

  it('finds a tenant through subscription metadata', async () => {
    const customerId = await env.createCustomer('t_submeta', { link: 'none' });
    const sub = await env.subscribe(customerId, 'starter', { metadata: { tenantId: 't_submeta' } });
    const res = await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
    expect(res.json).toMatchObject({ status: 'processed' });
    expect((await env.prisma.tenant.findUnique({ where: { id: 't_submeta' } }))?.stripeCustomerId).toBe(
      customerId,
    );
  });
});

describe('customer.subscription.updated', () => {
  it('applies a plan change with the merge strategy, keeping overrides', async () => {
    const { sub } = await env.subscribed('t_upgrade', 'starter');
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: 't_upgrade' },
      data: { overrides: { max_users: 77 } },
    });
    const itemId = sub.items.data[0]!.id;
    await env.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemId, price: env.plans.enterprise.price.id }],
    });
    const res = await env.deliver(env.lastEvent('customer.subscription.updated', sub.id));
    expect(res.json).toMatchObject({ status: 'processed', action: 'plan_changed' });
    const state = await env.state('t_upgrade');
    expect(state).toMatchObject({
      features: { ...PLAN_FIXTURES.enterprise.features, max_users: 77 },
      planFeatures: PLAN_FIXTURES.enterprise.features,
      overrides: { max_users: 77 },
      bundle: 'enterprise',
      stripePriceId: env.plans.enterprise.price.id,
    });
    expect((await env.audits('t_upgrade')).map((a) => a.action)).toEqual(['plan_applied', 'plan_changed']);
  });

  it('follows status changes: past_due keeps access, unpaid restricts, active restores', async () => {
    const { sub } = await env.subscribed('t_status', 'pro');
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: 't_status' },
      data: { overrides: { sso: true } },
    });
    const full = { ...PLAN_FIXTURES.pro.features, sso: true };

    const pastDue = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'past_due'));
    expect(pastDue.json).toMatchObject({ action: 'subscription_status_changed' });
    expect(await env.state('t_status')).toMatchObject({
      subscriptionStatus: 'past_due',
      accessActive: true,
      features: full,
    });

    const unpaid = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'unpaid'));
    expect(unpaid.json).toMatchObject({ action: 'access_restricted' });
    expect(await env.state('t_status')).toMatchObject({
      subscriptionStatus: 'unpaid',
      accessActive: false,
      features: restrictFeatures(full),
      planFeatures: PLAN_FIXTURES.pro.features,
      overrides: { sso: true },
    });

    const active = await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'active'));
    expect(active.json).toMatchObject({ action: 'access_restored' });
    expect(await env.state('t_status')).toMatchObject({
      subscriptionStatus: 'active',
      accessActive: true,
      features: full,
    });
  });

  it.each(['paused', 'incomplete', 'canceled'] as const)('%s restricts access', async (status) => {
    const tenantId = `t_status_${status}`;
    const { sub } = await env.subscribed(tenantId, 'starter');
    const res = await env.deliver(env.emu.setSubscriptionStatus(sub.id, status));
    expect(res.json).toMatchObject({ status: 'processed', action: 'access_restricted' });
    expect(await env.state(tenantId)).toMatchObject({
      subscriptionStatus: status,
      accessActive: false,
      features: restrictFeatures(PLAN_FIXTURES.starter.features),
    });
  });

  it('trialing grants access and records the trial end', async () => {
    const { sub } = await env.subscribed('t_trialing', 'pro', { trial_period_days: 14 });
    expect(await env.state('t_trialing')).toMatchObject({
      subscriptionStatus: 'trialing',
      accessActive: true,
      trialEndsAt: new Date(sub.trial_end! * 1000),
      features: PLAN_FIXTURES.pro.features,
    });
  });
});

describe('customer.subscription.deleted', () => {
  it('disables every feature but keeps the configuration, with an audit row', async () => {
    const { sub } = await env.subscribed('t_deleted', 'enterprise');
    await env.stripe.subscriptions.cancel(sub.id);
    const res = await env.deliver(env.lastEvent('customer.subscription.deleted', sub.id));
    expect(res.json).toMatchObject({ status: 'processed', action: 'subscription_deleted' });
    const state = await env.state('t_deleted');
    expect(state).toMatchObject({
      accessActive: false,
      subscriptionStatus: 'canceled',
      features: restrictFeatures(PLAN_FIXTURES.enterprise.features),
      planFeatures: PLAN_FIXTURES.enterprise.features,
      bundle: 'enterprise',
      stripePriceId: env.plans.enterprise.price.id,
    });
    expect(Object.values(state!.features).every((v) => v === false || v === 0)).toBe(true);
    const audits = await env.audits('t_deleted');
    expect(audits.at(-1)).toEqual({
      action: 'subscription_deleted',
      stripeEventId: res.json.eventId,
      source: 'webhook',
      actor: 'stripe',
    });
    expect(await env.featureSync.isFeatureEnabled('t_deleted', 'sso')).toBe(false);
  });
});

describe('invoice payments and the grace period', () => {
  it('records a payment without an audit row (no entitlement changed)', async () => {
    await env.subscribed('t_paid', 'starter');
    const sub = (await env.state('t_paid'))!.stripeSubscriptionId!;
    const event = env.emu.payInvoice(sub, { succeeded: true });
    const res = await env.deliver(event);
    expect(res.json).toMatchObject({ status: 'processed', action: 'payment_succeeded' });
    expect(await env.state('t_paid')).toMatchObject({
      lastPaymentAt: new Date(event.created * 1000),
      paymentFailedAt: null,
      accessActive: true,
    });
    expect((await env.audits('t_paid')).map((a) => a.action)).toEqual(['plan_applied']);
  });

  it('keeps access during the grace period, restricts on a failure after it, restores on payment', async () => {
    const { sub } = await env.subscribed('t_grace', 'pro');
    const start = Date.now();
    env.clock.now = new Date(start);
    const first = env.emu.payInvoice(sub.id, { succeeded: false });
    expect((await env.deliver(first)).json).toMatchObject({ status: 'processed', action: 'payment_failed' });
    const failedAt = new Date(first.created * 1000);
    expect(await env.state('t_grace')).toMatchObject({
      paymentFailedAt: failedAt,
      accessActive: true,
      features: PLAN_FIXTURES.pro.features,
    });

    env.clock.now = new Date(start + 3 * DAY);
    expect((await env.deliver(env.emu.payInvoice(sub.id, { succeeded: false }))).json).toMatchObject({
      action: 'payment_failed',
    });
    // The streak started with the first failure; a retry's failure does not push the deadline out.
    expect(await env.state('t_grace')).toMatchObject({ paymentFailedAt: failedAt, accessActive: true });

    env.clock.now = new Date(start + 8 * DAY);
    const late = await env.deliver(env.emu.payInvoice(sub.id, { succeeded: false }));
    expect(late.json).toMatchObject({ status: 'processed', action: 'payment_grace_expired' });
    expect(await env.state('t_grace')).toMatchObject({
      accessActive: false,
      features: restrictFeatures(PLAN_FIXTURES.pro.features),
      planFeatures: PLAN_FIXTURES.pro.features,
    });

    // A subscription event while past_due must not quietly undo the restriction.
    expect((await env.deliver(env.emu.setSubscriptionStatus(sub.id, 'past_due'))).json).toMatchObject({
      status: 'processed',
    });
    expect(await env.state('t_grace')).toMatchObject({ accessActive: false, subscriptionStatus: 'past_due' });

    env.emu.setSubscriptionStatus(sub.id, 'active');
    const paid = await env.deliver(env.emu.payInvoice(sub.id, { succeeded: true }));
    expect(paid.json).toMatchObject({ status: 'processed', action: 'access_restored' });
    expect(await env.state('t_grace')).toMatchObject({
      accessActive: true,
      paymentFailedAt: null,
      features: PLAN_FIXTURES.pro.features,
      subscriptionStatus: 'active',
    });
    expect((await env.audits('t_grace')).map((a) => a.action)).toEqual([
      'plan_applied',
      'payment_grace_expired',
      'subscription_status_changed',
      'access_restored',
    ]);
  });

  it('ignores a failure that Stripe has since settled, whatever the delivery order', async () => {
    const { sub } = await env.subscribed('t_settled', 'starter');
    const failed = env.emu.payInvoice(sub.id, { succeeded: false });
    const paid = env.emu.payInvoice(sub.id, { succeeded: true });
    expect((await env.deliver(paid)).json).toMatchObject({ action: 'payment_succeeded' });
    expect((await env.deliver(failed)).json).toMatchObject({
      status: 'ignored',
      action: 'stale_payment_failure',
    });
    expect(await env.state('t_settled')).toMatchObject({ paymentFailedAt: null, accessActive: true });
    expect(await env.ledger(failed.id)).toMatchObject({
      status: 'ignored',
      action: 'stale_payment_failure',
      tenantId: 't_settled',
    });
  });

  it('enforcePaymentGrace restricts tenants whose grace ran out without another event', async () => {
    const { sub } = await env.subscribed('t_cron', 'starter');
    const failed = env.emu.payInvoice(sub.id, { succeeded: false });
    await env.deliver(failed);
    const failedAt = failed.created * 1000;
    expect(
      (await enforcePaymentGrace(env.prisma, env.featureSync, { now: new Date(failedAt + 6 * DAY) }))
        .restricted,
    ).not.toContain('t_cron');
    expect((await env.state('t_cron'))?.accessActive).toBe(true);
    const run = await enforcePaymentGrace(env.prisma, env.featureSync, {
      now: new Date(failedAt + 7 * DAY + 1000),
    });
    expect(run.restricted).toContain('t_cron');
    expect(await env.state('t_cron')).toMatchObject({
      accessActive: false,
      features: restrictFeatures(PLAN_FIXTURES.starter.features),
    });
    expect((await env.audits('t_cron')).at(-1)).toMatchObject({
      action: 'payment_grace_expired',
      source: 'sync',
    });
    expect(await env.featureSync.isFeatureEnabled('t_cron', 'api_access')).toBe(false);
    // Idempotent: a second run finds nothing to do.
    expect(
      (await enforcePaymentGrace(env.prisma, env.featureSync, { now: new Date(failedAt + 9 * DAY) }))
        .restricted,
    ).not.toContain('t_cron');
  });
});

describe('schedulePaymentGrace (run by npm start)', () => {
  it('restricts a tenant whose grace ran out on its own schedule, and stops cleanly', async () => {
    const { sub } = await env.subscribed('t_sched', 'starter');
    await env.deliver(env.emu.payInvoice(sub.id, { succeeded: false }));
    expect((await env.state('t_sched'))?.accessActive).toBe(true);
    // Eight days pass: only the failure time moves, as it would on a real clock.
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: 't_sched' },
      data: { paymentFailedAt: new Date(Date.now() - 8 * DAY) },
    });
    const runs: EnforcePaymentGraceResult[] = [];
    const errors: unknown[] = [];
    const schedule = schedulePaymentGrace(env.prisma, env.featureSync, {
      intervalMs: 30,
      onRun: (result) => runs.push(result),
      onError: (error) => errors.push(error),
    });
    try {
      await expect
        .poll(() => runs.some((r) => r.restricted.includes('t_sched')), { timeout: 10_000 })
        .toBe(true);
    } finally {
      await schedule.stop();
    }
    expect(errors).toEqual([]);
    expect(await env.state('t_sched')).toMatchObject({
      accessActive: false,
      features: restrictFeatures(PLAN_FIXTURES.starter.features),
    });
    expect((await env.audits('t_sched')).filter((a) => a.action === 'payment_grace_expired')).toHaveLength(1);
    const after = runs.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(runs.length).toBe(after);
    expect(await schedule.runNow()).toBeUndefined();
  });

  it('rejects a non-positive interval, or one longer than a Node timer can hold', () => {
    expect(() => schedulePaymentGrace(env.prisma, env.featureSync, { intervalMs: 0 })).toThrow(RangeError);
    expect(() => schedulePaymentGrace(env.prisma, env.featureSync, { intervalMs: 2 ** 31 })).toThrow(
      RangeError,
    );
  });
});

describe('custom plan checkout, end to end', () => {
  it('the customer completes the custom plan checkout: the subscription webhook keeps the tenant on the custom plan features', async () => {
    await env.createCustomer('t_custom_checkout');
    const customPlans = createCustomPlanService(env.stripe, env.prisma, {
      stripeSync: env.stripeSync,
      featureReader: env.featureSync.reader,
      catalog: DEFAULT_FEATURE_CATALOG,
    });
    const plan = await customPlans.createCustomEnterprisePlan({
      tenantId: 't_custom_checkout',
      basePlanId: env.plans.pro.price.id,
      priceCents: 99_000,
      currency: 'usd',
      recurringInterval: 'month',
      overrides: { max_users: 777, white_label: true },
      planName: 'Custom for t_custom_checkout',
      createCheckoutSession: true,
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/no',
    });
    const row = await env.prisma.customPlan.findUniqueOrThrow({ where: { id: plan.customPlanId } });
    const session = env.emu.completeCheckoutSession(row.checkoutSessionId!);
    const created = env.lastEvent('customer.subscription.created', String(session.subscription));
    const res = await env.deliver(created);
    expect(res.json).toMatchObject({ status: 'processed' });
    const state = await env.state('t_custom_checkout');
    expect(state).toMatchObject({
      accessActive: true,
      stripeSubscriptionId: session.subscription,
      stripePriceId: plan.priceId,
      features: plan.features,
    });
    // The custom plan's values are its plan features (its price carries them), not tenant overrides.
    expect(state).toMatchObject({ source: 'custom', planFeatures: plan.features });
    expect(plan.features).toMatchObject({ max_users: 777, white_label: true });
    expect(await env.featureSync.isFeatureEnabled('t_custom_checkout', 'white_label')).toBe(true);
  });
});

describe('customer.subscription.trial_will_end', () => {
  it('records the trial end and calls the hook after commit', async () => {
    const { sub } = await env.subscribed('t_trial', 'starter', { trial_period_days: 7 });
    const res = await env.deliver(env.emu.triggerTrialWillEnd(sub.id));
    expect(res.json).toMatchObject({ status: 'processed', action: 'trial_will_end' });
    const trialEnd = new Date(sub.trial_end! * 1000);
    expect((await env.state('t_trial'))?.trialEndsAt).toEqual(trialEnd);
    expect(env.trialCalls).toContainEqual({ tenantId: 't_trial', subscriptionId: sub.id, trialEnd });
  });

  it('logs a failing hook and still acknowledges the event', async () => {
    const extra = await startExtraServer(env, {
      onTrialWillEnd: () => {
        throw new Error('mailer down');
      },
    });
    try {
      const { sub } = await env.subscribed('t_trial_hook', 'starter', { trial_period_days: 7 });
      const res = await env.deliver(env.emu.triggerTrialWillEnd(sub.id), { url: extra.url });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status: 'processed', action: 'trial_will_end' });
      expect(env.logs).toContainEqual(
        expect.objectContaining({
          line: 'onTrialWillEnd hook failed',
          fields: expect.objectContaining({ tenantId: 't_trial_hook', error: 'Error: mailer down' }),
        }),
      );
    } finally {
      await extra.close();
    }
  });
});

describe('product.updated / price.updated', () => {
  const basic = {
    name: 'Basic',
    bundle: 'basic',
    lookupKey: 'basic_monthly',
    unitAmount: 500,
    productMetadata: { bundle: 'basic', features: 'api_access', featuresJson: '{"max_projects":1}' },
    features: { api_access: true, max_projects: 1 },
    scrapeIntervalHours: 24,
  };

  it('invalidates the cached plan so the next read sees the new metadata', async () => {
    const plan = await seedPlan(env.stripe, 'basic', basic);
    expect((await env.stripeSync.getPlanDefaultsFromStripe(plan.price.id)).features).toEqual(basic.features);
    await env.stripe.products.update(plan.product.id, { metadata: { features: 'api_access,webhooks' } });
    // Still cached until the event arrives.
    expect((await env.stripeSync.getPlanDefaultsFromStripe(plan.price.id)).features).toEqual(basic.features);
    const res = await env.deliver(env.lastEvent('product.updated', plan.product.id));
    expect(res.json).toMatchObject({ status: 'processed', action: 'plan_invalidated' });
    expect((await env.stripeSync.getPlanDefaultsFromStripe(plan.price.id)).features).toEqual({
      ...basic.features,
      webhooks: true,
    });
  });

  it('with reapplyOnPlanChange, pushes the new defaults to tenants on that plan', async () => {
    const extra = await startExtraServer(env, { reapplyOnPlanChange: true });
    try {
      const plan = await seedPlan(env.stripe, 'basic', { ...basic, lookupKey: 'basic_reapply' });
      const customerId = await env.createCustomer('t_reapply');
      const sub = await env.stripe.subscriptions.create({
        customer: customerId,
        items: [{ price: plan.price.id }],
      });
      await env.deliver(env.lastEvent('customer.subscription.created', sub.id));
      expect((await env.state('t_reapply'))?.features).toEqual(basic.features);

      await env.stripe.products.update(plan.product.id, { metadata: { features: 'api_access,sso' } });
      const res = await env.deliver(env.lastEvent('product.updated', plan.product.id), { url: extra.url });
      expect(res.json).toMatchObject({ status: 'processed', action: 'plan_reapplied' });
      expect((await env.state('t_reapply'))?.features).toEqual({ ...basic.features, sso: true });
      expect((await env.audits('t_reapply')).at(-1)).toEqual({
        action: 'plan_updated',
        stripeEventId: res.json.eventId,
        source: 'webhook',
        actor: 'stripe',
      });

      await env.stripe.prices.update(plan.price.id, { metadata: { features: '{"max_projects":9}' } });
      const priceRes = await env.deliver(env.lastEvent('price.updated', plan.price.id), { url: extra.url });
      expect(priceRes.json).toMatchObject({ status: 'processed', action: 'plan_reapplied' });
      expect((await env.state('t_reapply'))?.features).toEqual({
        api_access: true,
        sso: true,
        max_projects: 9,
      });
    } finally {
      await extra.close();
    }
  });
});

describe('unknown tenants and other events', () => {
  it('acknowledges an event for an unknown customer, records it and lists it', async () => {
    const customerId = await env.createCustomer('t_nobody', { link: 'none', createTenant: false });
    const sub = await env.subscribe(customerId, 'starter');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const res = await env.deliver(event);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      received: true,
      status: 'unknown_tenant',
      action: 'unknown_tenant',
      eventId: event.id,
    });
    expect(await env.ledger(event.id)).toMatchObject({
      status: 'ignored',
      action: 'unknown_tenant',
      tenantId: null,
    });
    const unmatched = await listUnmatchedEvents(env.prisma);
    expect(unmatched).toContainEqual(
      expect.objectContaining({ eventId: event.id, type: 'customer.subscription.created', customerId }),
    );
    // Stripe's retry of the same event is a duplicate, not a second lookup.
    expect((await env.deliver(event)).json).toMatchObject({ status: 'duplicate', action: 'unknown_tenant' });
  });

  it('lists an unmatched event with the customer its inbox row recorded, whatever its reason says', async () => {
    await env.prisma.processedStripeEvent.create({
      data: {
        eventId: 'evt_unmatched_column',
        type: 'customer.subscription.updated',
        status: 'ignored',
        action: 'unknown_tenant',
        customerId: 'cus_in_column',
        queueKey: 'cus_in_column',
        error: 'no tenant for this subscription',
        stripeCreatedAt: new Date(),
      },
    });
    const unmatched = await listUnmatchedEvents(env.prisma);
    expect(unmatched).toContainEqual(
      expect.objectContaining({ eventId: 'evt_unmatched_column', customerId: 'cus_in_column' }),
    );
  });

  it('records any other event type as ignored', async () => {
    await env.stripe.customers.create({ name: 'someone' });
    const event = env.lastEvent('customer.created');
    const res = await env.deliver(event);
    expect(res.json).toMatchObject({
      status: 'ignored',
      action: 'unhandled_event_type',
      type: 'customer.created',
    });
    expect(await env.ledger(event.id)).toMatchObject({ status: 'ignored', action: 'unhandled_event_type' });
  });
});
