import { restrictFeatures } from '../features/merge.js';
import {
  emptyState,
  planPatch,
  type Decision,
  type TenantFeaturePatch,
  type TenantFeatureState,
} from '../tenant-store/index.js';
import type { FeatureMap, PlanDefaults } from '../types.js';

/**
 * Pure state transitions for webhook events. Everything that needs Stripe or the database is
 * fetched by the handler *while it holds the tenant lock* and passed in, so these functions only
 * decide; that keeps the ordering rules (see docs/webhooks.md) testable without any I/O.
 */

export interface EventFacts {
  tenantId: string;
  eventId: string;
  eventType: string;
  /** Stripe `created` of the event. */
  created: Date;
  now: Date;
  graceMs: number;
}

/** What Stripe says *now* about the customer, read after the tenant row was locked. */
export type SubscriptionTruth =
  | {
      kind: 'granting';
      subscriptionId: string;
      status: string;
      plan: PlanDefaults;
      priceId: string;
      productId: string;
      trialEnd: Date | null;
    }
  | {
      kind: 'none';
      /** The subscription the event was about, when it has one. */
      subscriptionId: string | null;
      /** Its current status as Stripe reports it (canceled when Stripe no longer knows it). */
      status: string;
    };

export function graceExpired(
  paymentFailedAt: Date | null,
  facts: Pick<EventFacts, 'now' | 'graceMs'>,
): boolean {
  return paymentFailedAt !== null && facts.now.getTime() - paymentFailedAt.getTime() >= facts.graceMs;
}

/**
 * lastStripeEventAt/Id only ever move forward. Ties (Stripe's `created` has one-second
 * resolution) keep the first event seen, so redeliveries cannot make the id flap.
 */
export function watermark(base: TenantFeatureState, facts: EventFacts): TenantFeaturePatch {
  if (base.lastStripeEventAt && base.lastStripeEventAt.getTime() >= facts.created.getTime()) return {};
  return { lastStripeEventAt: facts.created, lastStripeEventId: facts.eventId };
}

/** Every key the tenant could have, switched off; kept visible so the UI can show what was lost. */
export function restrictedFeatures(state: TenantFeatureState): FeatureMap {
  return restrictFeatures(
    Object.fromEntries([
      ...Object.entries(state.features),
      ...Object.entries(state.planFeatures),
      ...Object.entries(state.overrides),
    ]),
  );
}

/** Manual configs, and custom configs for a price other than the one Stripe bills, are not overwritten by plans. */
export function isHeldConfig(state: TenantFeatureState, priceId: string | null): boolean {
  return state.source === 'manual' || (state.source === 'custom' && state.stripePriceId !== priceId);
}

/** The unrestricted feature map: plan defaults with the tenant's overrides on top. */
function derivedFeatures(state: TenantFeatureState): FeatureMap {
  return Object.fromEntries([...Object.entries(state.planFeatures), ...Object.entries(state.overrides)]);
}

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
): Decision {
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
  };
  let action = options.quietAction ?? 'subscription_synced';

  if (current && isHeldConfig(current, truth.priceId)) {
    // Same rule as feature-sync's decidePlanChange: a hand-made config (or a custom plan the tenant
    // has not switched to yet) keeps its features; billing state and access still follow Stripe.
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

/**
 * invoice.payment_succeeded. A payment is a fact that stays true, so it is never stale; whether it
 * ends the failure streak is decided by Stripe's current view (`newestInvoicePaid`), not by which
 * event happened to arrive last. When access has to come back, the handler also passes the
 * subscription truth so the restore goes through the same rules as a subscription event.
 */
export function decidePaymentSucceeded(
  current: TenantFeatureState | null,
  input: { newestInvoicePaid: boolean; truth: SubscriptionTruth | null },
  facts: EventFacts,
): Decision {
  const base = current ?? emptyState(facts.tenantId);
  const lastPaymentAt =
    base.lastPaymentAt && base.lastPaymentAt.getTime() >= facts.created.getTime()
      ? base.lastPaymentAt
      : facts.created;
  const paymentFailedAt = input.newestInvoicePaid ? null : base.paymentFailedAt;
  if (input.truth) {
    return decideFromTruth(current, input.truth, facts, {
      paymentFailedAt,
      extra: { lastPaymentAt },
      quietAction: 'payment_succeeded',
    });
  }
  return {
    patch: { ...watermark(base, facts), lastPaymentAt, paymentFailedAt },
    action: 'payment_succeeded',
  };
}

/**
 * invoice.payment_failed. Stale when Stripe says the debt is settled (`newestInvoicePaid`), or when
 * the failure predates the last successful payment (it belongs to an earlier streak). Otherwise the
 * streak starts at the earliest failure seen, and access ends once a failure arrives after the
 * grace period has run out.
 */
export function decidePaymentFailed(
  current: TenantFeatureState | null,
  input: { newestInvoicePaid: boolean },
  facts: EventFacts,
): Decision {
  const base = current ?? emptyState(facts.tenantId);
  if (input.newestInvoicePaid) return { skip: 'stale_payment_failure' };
  if (base.lastPaymentAt && facts.created.getTime() < base.lastPaymentAt.getTime())
    return { skip: 'stale_payment_failure' };
  const paymentFailedAt =
    base.paymentFailedAt && base.paymentFailedAt.getTime() <= facts.created.getTime()
      ? base.paymentFailedAt
      : facts.created;
  const mark = watermark(base, facts);
  if (base.accessActive && graceExpired(paymentFailedAt, facts)) {
    return {
      patch: { ...mark, paymentFailedAt, accessActive: false, features: restrictedFeatures(base) },
      action: 'payment_grace_expired',
    };
  }
  return { patch: { ...mark, paymentFailedAt }, action: 'payment_failed' };
}

/** customer.subscription.trial_will_end: only the trial end of the subscription the tenant is on. */
export function decideTrialWillEnd(
  current: TenantFeatureState | null,
  input: { subscriptionId: string; trialEnd: Date | null },
  facts: EventFacts,
): Decision {
  const base = current ?? emptyState(facts.tenantId);
  if (base.stripeSubscriptionId !== null && base.stripeSubscriptionId !== input.subscriptionId)
    return { skip: 'not_current_subscription' };
  return { patch: { ...watermark(base, facts), trialEndsAt: input.trialEnd }, action: 'trial_will_end' };
}

/** product/price updated with reapplyOnPlanChange: new plan defaults, access state untouched. */
export function decidePlanReapply(
  current: TenantFeatureState | null,
  plan: PlanDefaults,
  facts: EventFacts,
): Decision {
  if (!current) return { skip: 'no_config' };
  if (plan.tenantId && plan.tenantId !== facts.tenantId) return { skip: 'plan_for_other_tenant' };
  if (isHeldConfig(current, plan.priceId)) return { skip: 'custom_config' };
  return {
    patch: {
      ...watermark(current, facts),
      ...planPatch(current, plan, { strategy: 'merge', accessActive: current.accessActive }),
      // The tenant stays on the product/price it is billed for; only what the plan grants changes.
      stripeProductId: current.stripeProductId,
      stripePriceId: current.stripePriceId,
    },
    action: 'plan_updated',
  };
}

/** The cron side of the grace policy: same predicate as the webhook path. */
export function decideGraceEnforcement(
  current: TenantFeatureState | null,
  facts: Pick<EventFacts, 'now' | 'graceMs'>,
): Decision {
  if (!current || !current.accessActive || !graceExpired(current.paymentFailedAt, facts))
    return { skip: 'within_grace' };
  return {
    patch: { accessActive: false, features: restrictedFeatures(current) },
    action: 'payment_grace_expired',
  };
}
