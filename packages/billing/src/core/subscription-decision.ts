import { type EventFacts, watermark } from './event-facts.js';
import { graceExpired } from './grace.js';
import { isHeldConfig } from './held-config.js';
import { planPatch } from './plan-patch.js';
import { derivedFeatures, restrictedFeatures } from './restriction.js';
import type { SubscriptionTruth } from './subscription-truth.js';
import {
  type Decision,
  emptyState,
  type TenantFeaturePatch,
  type TenantFeatureState,
} from './tenant-state.js';

/*
 * Pure state transitions for webhook events. Everything that needs Stripe or the database is
 * fetched by the handler *while it holds the tenant lock* and passed in, so these functions only
 * decide; that keeps the ordering rules (see docs/webhooks.md) testable without any I/O.
 */

export interface TruthOptions {
  /** Replaces the stored paymentFailedAt before access is computed (payment_succeeded clears it). */
  paymentFailedAt?: Date | null;
  /** Extra bookkeeping written with the change (e.g. lastPaymentAt). */
  extra?: TenantFeaturePatch;
  /** Action when nothing but bookkeeping changes. */
  quietAction?: string;
}

/**
 * Makes the tenant match Stripe's current truth. Access needs both a granting subscription and
 * no payment failure older than the grace period, so a later subscription event (e.g. a metadata
 * edit while past_due) cannot quietly undo a grace-period restriction.
 */
export function decideFromTruth(
  current: TenantFeatureState | null,
  truth: SubscriptionTruth,
  facts: EventFacts,
  options: TruthOptions = {},
): Decision<'plan_for_other_tenant'> {
  const base = current ?? emptyState(facts.tenantId);
  const mark = watermark(base, facts);
  let paymentFailedAt =
    options.paymentFailedAt !== undefined ? options.paymentFailedAt : base.paymentFailedAt;

  if (truth.kind === 'none') {
    const patch: TenantFeaturePatch = {
      ...options.extra,
      ...mark,
      features: restrictedFeatures(base),
      accessActive: false,
      subscriptionStatus: truth.status,
      stripeSubscriptionId: truth.subscriptionId ?? base.stripeSubscriptionId,
      paymentFailedAt,
    };
    let action = options.quietAction ?? 'subscription_synced';
    if (base.accessActive || current === null)
      action =
        facts.eventType === 'customer.subscription.deleted' ? 'subscription_deleted' : 'access_restricted';
    else if (base.subscriptionStatus !== truth.status) action = 'subscription_status_changed';
    return { patch, action };
  }

  const { plan } = truth;
  // A custom price is minted for one tenant; another tenant subscribing to it must not get its features.
  if (plan.tenantId && plan.tenantId !== facts.tenantId) return { skip: 'plan_for_other_tenant' };
  // A payment streak belongs to the subscription it happened on; a different subscription starts clean.
  if (base.stripeSubscriptionId !== null && base.stripeSubscriptionId !== truth.subscriptionId)
    paymentFailedAt = null;
  const accessActive = !graceExpired(paymentFailedAt, facts);
  const billing: TenantFeaturePatch = {
    ...options.extra,
    ...mark,
    stripeSubscriptionId: truth.subscriptionId,
    subscriptionStatus: truth.status,
    accessActive,
    paymentFailedAt,
    trialEndsAt: truth.trialEnd,
    // billing_period meters count within it (docs/usage.md); an unknown period keeps the stored one.
    ...(truth.periodStart
      ? { currentPeriodStart: truth.periodStart, currentPeriodEnd: truth.periodEnd ?? null }
      : {}),
  };
  let action = options.quietAction ?? 'subscription_synced';

  if (current && isHeldConfig(current, truth.priceId)) {
    // Same rule as decidePlanChange: a hand-made config (or a custom plan the tenant has not
    // switched to yet) keeps its features; billing state and access still follow Stripe.
    const features = !accessActive
      ? restrictedFeatures(base)
      : base.accessActive
        ? base.features
        : derivedFeatures(base);
    if (!base.accessActive && accessActive) action = 'access_restored';
    else if (base.accessActive && !accessActive) action = 'access_restricted';
    else if (base.subscriptionStatus !== truth.status) action = 'subscription_status_changed';
    return { patch: { ...billing, features }, action };
  }

  const patch: TenantFeaturePatch = {
    ...billing,
    ...planPatch(base, plan, { strategy: 'merge', accessActive }),
    stripeProductId: truth.productId,
    stripePriceId: truth.priceId,
  };
  if (current === null || base.stripeProductId === null) action = 'plan_applied';
  else if (base.stripeProductId !== truth.productId || base.stripePriceId !== truth.priceId)
    action = 'plan_changed';
  else if (!base.accessActive && accessActive) action = 'access_restored';
  else if (base.accessActive && !accessActive) action = 'access_restricted';
  else if (base.subscriptionStatus !== truth.status) action = 'subscription_status_changed';
  return { patch, action };
}
