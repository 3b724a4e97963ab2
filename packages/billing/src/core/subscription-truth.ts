import type { PlanDefaults } from './types.js';
import { toDate } from './unix-time.js';

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
      /** The subscription's current period (its first item's, as Stripe reports it since 2025-03-31). */
      periodStart?: Date | null;
      periodEnd?: Date | null;
    }
  | {
      kind: 'none';
      /** The subscription the event was about, when it has one. */
      subscriptionId: string | null;
      /** Its current status as Stripe reports it (canceled when Stripe no longer knows it). */
      status: string;
    };

/** A customer with no subscription at all (or a deleted one): what the webhook path assumes without an event subscription. */
export const NO_SUBSCRIPTION: SubscriptionTruth = { kind: 'none', subscriptionId: null, status: 'canceled' };

/** The fields of a Stripe subscription the truth is built from. */
export interface SubscriptionRef {
  id: string;
  status: string;
  trial_end?: number | null;
  items?: { data: { current_period_start?: number | null; current_period_end?: number | null }[] };
}

/** A subscription's current period: its first item's (all items of a subscription share it). */
export function periodOf(sub: SubscriptionRef): { periodStart: Date | null; periodEnd: Date | null } {
  const item = sub.items?.data[0];
  return { periodStart: toDate(item?.current_period_start), periodEnd: toDate(item?.current_period_end) };
}

/** A customer's subscriptions as read from Stripe: the access-granting one (if any) and the best of all. */
export interface SubscriptionStateLike {
  active: {
    subscription: SubscriptionRef;
    status: string;
    plan: PlanDefaults;
    priceId: string;
    productId: string;
  } | null;
  mostRelevant: SubscriptionRef | null;
}

/**
 * What Stripe says about a customer right now: the subscription that grants access, else the most
 * relevant of the rest (same ranking as the bulk sync). Webhooks and the reconcile report both
 * decide from this, so "in sync" means exactly "what a webhook would write now".
 */
export function subscriptionTruthOf({ active, mostRelevant }: SubscriptionStateLike): SubscriptionTruth {
  if (active) {
    return {
      kind: 'granting',
      subscriptionId: active.subscription.id,
      status: active.status,
      plan: active.plan,
      priceId: active.priceId,
      productId: active.productId,
      trialEnd: toDate(active.subscription.trial_end),
      ...periodOf(active.subscription),
    };
  }
  return mostRelevant
    ? { kind: 'none', subscriptionId: mostRelevant.id, status: mostRelevant.status }
    : NO_SUBSCRIPTION;
}

/** One customer of the bulk walk: its chosen subscription and, when that grants access, its plan. */
export interface CustomerSubscriptionLike {
  subscription: SubscriptionRef;
  status: string;
  grantsAccess: boolean;
  plan: PlanDefaults | null;
}

/** The truth a customer of the bulk walk implies (same shape as a per-customer read). */
export function truthFromCustomerEntry(entry: CustomerSubscriptionLike): SubscriptionTruth {
  if (entry.grantsAccess && entry.plan) {
    return {
      kind: 'granting',
      subscriptionId: entry.subscription.id,
      status: entry.status,
      plan: entry.plan,
      priceId: entry.plan.priceId ?? '',
      productId: entry.plan.productId,
      trialEnd: toDate(entry.subscription.trial_end),
      ...periodOf(entry.subscription),
    };
  }
  return { kind: 'none', subscriptionId: entry.subscription.id, status: entry.status };
}
