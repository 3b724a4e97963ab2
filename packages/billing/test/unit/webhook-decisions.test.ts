import { describe, expect, it } from 'vitest';
import {
  decideFromTruth,
  decideGraceEnforcement,
  decidePaymentFailed,
  decidePaymentSucceeded,
  decideTrialWillEnd,
  grantsAccess,
  NO_SUBSCRIPTION,
  subscriptionTruthOf,
  type Decision,
} from '../../src/core/index.js';
import { days, facts, granting, plan, tenantState, T0 } from './state-builder.js';

/** The patch of a decision that must write something. */
function patchOf(decision: Decision) {
  if ('skip' in decision) throw new Error(`expected a change, got skip ${decision.skip}`);
  return decision;
}

// docs/webhooks.md, "Subscription status → access": one case per row.
describe('status → access (docs/webhooks.md)', () => {
  const truthFor = (status: string) =>
    subscriptionTruthOf({
      active: grantsAccess(status)
        ? {
            subscription: { id: 'sub_1', status },
            status,
            plan: plan(),
            priceId: 'price_pro',
            productId: 'prod_pro',
          }
        : null,
      mostRelevant: { id: 'sub_1', status },
    });

  it.each(['active', 'trialing', 'past_due'])('%s: access, plan defaults + overrides', (status) => {
    const { patch } = patchOf(decideFromTruth(tenantState(), truthFor(status), facts()));
    expect(patch.accessActive).toBe(true);
    expect(patch.features).toEqual({ sso: true, max_users: 50 });
    expect(patch.subscriptionStatus).toBe(status);
  });

  it.each(['unpaid', 'canceled', 'paused', 'incomplete', 'incomplete_expired'])(
    '%s: no access, every key kept, false / 0',
    (status) => {
      const { patch } = patchOf(decideFromTruth(tenantState(), truthFor(status), facts()));
      expect(patch.accessActive).toBe(false);
      expect(patch.features).toEqual({ sso: false, max_users: 0 });
      expect(patch.subscriptionStatus).toBe(status);
    },
  );

  it('no subscription left (deleted): no access, every key kept, false / 0', () => {
    const decision = patchOf(
      decideFromTruth(tenantState(), NO_SUBSCRIPTION, facts({ eventType: 'customer.subscription.deleted' })),
    );
    expect(decision.action).toBe('subscription_deleted');
    expect(decision.patch).toMatchObject({ accessActive: false, features: { sso: false, max_users: 0 } });
    // The config is kept: the plan and overrides stay, so access can come back as it was.
    expect(decision.patch.planFeatures).toBeUndefined();
    expect(decision.patch.overrides).toBeUndefined();
  });
});

// docs/webhooks.md, "Events": the actions of each row.
describe('subscription events (created / updated / paused / resumed)', () => {
  it('plan_applied for a tenant with no config yet', () => {
    expect(decideFromTruth(null, granting(), facts())).toMatchObject({ action: 'plan_applied' });
  });

  it('plan_changed when the price moves, merging the new plan with the overrides', () => {
    const enterprise = plan({
      productId: 'prod_ent',
      priceId: 'price_ent',
      bundle: 'enterprise',
      features: { sso: true, max_users: 100, api_access: true },
    });
    const decision = patchOf(decideFromTruth(tenantState(), granting('active', enterprise), facts()));
    expect(decision.action).toBe('plan_changed');
    expect(decision.patch.features).toEqual({ sso: true, max_users: 50, api_access: true });
  });

  it('subscription_status_changed, access_restricted, access_restored, subscription_synced', () => {
    expect(decideFromTruth(tenantState(), granting('trialing'), facts())).toMatchObject({
      action: 'subscription_status_changed',
    });
    expect(
      decideFromTruth(tenantState(), { kind: 'none', subscriptionId: 'sub_1', status: 'unpaid' }, facts()),
    ).toMatchObject({
      action: 'access_restricted',
    });
    const restricted = tenantState({
      accessActive: false,
      features: { sso: false, max_users: 0 },
      subscriptionStatus: 'unpaid',
    });
    expect(decideFromTruth(restricted, granting('active'), facts())).toMatchObject({
      action: 'access_restored',
      patch: { accessActive: true, features: { sso: true, max_users: 50 } },
    });
    expect(decideFromTruth(tenantState(), granting('active'), facts())).toMatchObject({
      action: 'subscription_synced',
    });
  });

  it('a custom price minted for another tenant is skipped', () => {
    const custom = plan({ productId: 'prod_c', priceId: 'price_c', custom: true, tenantId: 't_other' });
    expect(decideFromTruth(tenantState(), granting('active', custom), facts())).toEqual({
      skip: 'plan_for_other_tenant',
    });
  });

  it('the event watermark only moves forward (an older event leaves it alone)', () => {
    const seen = tenantState({ lastStripeEventAt: days(1), lastStripeEventId: 'evt_new' });
    const { patch } = patchOf(decideFromTruth(seen, granting('trialing'), facts({ created: T0 })));
    expect(patch.lastStripeEventAt).toBeUndefined();
    expect(patch.lastStripeEventId).toBeUndefined();
  });
});

describe('invoice.payment_succeeded', () => {
  it('records lastPaymentAt; clears paymentFailedAt only when the debt is settled', () => {
    const failing = tenantState({ paymentFailedAt: T0 });
    const settled = patchOf(
      decidePaymentSucceeded(failing, { newestInvoicePaid: true, truth: null }, facts({ created: days(1) })),
    );
    expect(settled).toMatchObject({
      action: 'payment_succeeded',
      patch: { lastPaymentAt: days(1), paymentFailedAt: null },
    });
    const stillOwing = patchOf(
      decidePaymentSucceeded(failing, { newestInvoicePaid: false, truth: null }, facts({ created: days(1) })),
    );
    expect(stillOwing.patch.paymentFailedAt).toEqual(T0);
  });

  it('restores access when the subscription grants it', () => {
    const cut = tenantState({
      accessActive: false,
      features: { sso: false, max_users: 0 },
      paymentFailedAt: T0,
      subscriptionStatus: 'past_due',
    });
    const decision = decidePaymentSucceeded(
      cut,
      { newestInvoicePaid: true, truth: granting('active') },
      facts({ eventType: 'invoice.payment_succeeded', created: days(9), now: days(9) }),
    );
    expect(decision).toMatchObject({
      action: 'access_restored',
      patch: { accessActive: true, paymentFailedAt: null, features: { sso: true, max_users: 50 } },
    });
  });
});

describe('invoice.payment_failed and the grace policy', () => {
  it('payment_failed starts the streak at the earliest failure and keeps access within the grace period', () => {
    const first = patchOf(
      decidePaymentFailed(
        tenantState(),
        { newestInvoicePaid: false },
        facts({ created: days(2), now: days(2) }),
      ),
    );
    expect(first).toMatchObject({ action: 'payment_failed', patch: { paymentFailedAt: days(2) } });
    const later = tenantState({ paymentFailedAt: days(2) });
    const second = patchOf(
      decidePaymentFailed(later, { newestInvoicePaid: false }, facts({ created: days(4), now: days(4) })),
    );
    expect(second).toMatchObject({ action: 'payment_failed', patch: { paymentFailedAt: days(2) } });
  });

  it('payment_grace_expired once a failure arrives after the grace period ran out', () => {
    const streak = tenantState({ paymentFailedAt: T0 });
    expect(
      decidePaymentFailed(streak, { newestInvoicePaid: false }, facts({ created: days(8), now: days(8) })),
    ).toMatchObject({
      action: 'payment_grace_expired',
      patch: { accessActive: false, features: { sso: false, max_users: 0 } },
    });
  });

  it('stale_payment_failure when Stripe says the debt is settled or the failure predates the last payment', () => {
    expect(decidePaymentFailed(tenantState(), { newestInvoicePaid: true }, facts())).toEqual({
      skip: 'stale_payment_failure',
    });
    const paid = tenantState({ lastPaymentAt: days(3) });
    expect(decidePaymentFailed(paid, { newestInvoicePaid: false }, facts({ created: days(2) }))).toEqual({
      skip: 'stale_payment_failure',
    });
  });

  it('the cron restricts exactly when the webhook path would (same predicate)', () => {
    const streak = tenantState({ paymentFailedAt: T0 });
    expect(decideGraceEnforcement(streak, facts({ now: days(6) }))).toEqual({ skip: 'within_grace' });
    expect(decideGraceEnforcement(streak, facts({ now: days(7) }))).toMatchObject({
      action: 'payment_grace_expired',
      patch: { accessActive: false },
    });
    expect(decideGraceEnforcement(tenantState(), facts({ now: days(30) }))).toEqual({ skip: 'within_grace' });
  });
});

describe('customer.subscription.trial_will_end', () => {
  it('records the trial end of the subscription the tenant is on, and skips any other', () => {
    expect(
      decideTrialWillEnd(tenantState(), { subscriptionId: 'sub_1', trialEnd: days(3) }, facts()),
    ).toMatchObject({
      action: 'trial_will_end',
      patch: { trialEndsAt: days(3) },
    });
    expect(
      decideTrialWillEnd(tenantState(), { subscriptionId: 'sub_old', trialEnd: days(3) }, facts()),
    ).toEqual({
      skip: 'not_current_subscription',
    });
  });
});
