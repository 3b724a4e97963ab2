import {
  emptyState,
  gracePeriodMs,
  type EventFacts,
  type SubscriptionTruth,
  type TenantFeatureState,
} from '../../src/core/index.js';
import type { PlanDefaults } from '../../src/core/types.js';

/**
 * Builders for the pure core's unit tests: a tenant as the services see it, a plan, Stripe's
 * truth and an event's facts, each with sensible defaults and only the fields a test cares about.
 */

export const T0 = new Date('2026-11-01T00:00:00Z');
const DAY = 86_400_000;
export const days = (n: number) => new Date(T0.getTime() + n * DAY);

/** Tenant `t_1` on the pro plan, active and paid, unless told otherwise. */
export function tenantState(patch: Partial<TenantFeatureState> = {}): TenantFeatureState {
  return {
    ...emptyState('t_1'),
    features: { sso: true, max_users: 50 },
    planFeatures: { sso: true, max_users: 10 },
    overrides: { max_users: 50 },
    bundle: 'pro',
    stripeProductId: 'prod_pro',
    stripePriceId: 'price_pro',
    stripeSubscriptionId: 'sub_1',
    subscriptionStatus: 'active',
    accessActive: true,
    version: 3,
    ...patch,
  };
}

export function plan(patch: Partial<PlanDefaults> = {}): PlanDefaults {
  return {
    productId: 'prod_pro',
    productName: 'Pro',
    priceId: 'price_pro',
    lookupKey: null,
    bundle: 'pro',
    features: { sso: true, max_users: 10 },
    scrapeIntervalHours: null,
    custom: false,
    tenantId: null,
    ...patch,
  };
}

/** A granting subscription on `p` (default: the pro plan). */
export function granting(
  status = 'active',
  p: PlanDefaults = plan(),
  patch: { subscriptionId?: string; trialEnd?: Date | null } = {},
): SubscriptionTruth {
  return {
    kind: 'granting',
    subscriptionId: patch.subscriptionId ?? 'sub_1',
    status,
    plan: p,
    priceId: p.priceId ?? 'price_pro',
    productId: p.productId,
    trialEnd: patch.trialEnd ?? null,
  };
}

export function facts(patch: Partial<EventFacts> = {}): EventFacts {
  return {
    tenantId: 't_1',
    eventId: 'evt_1',
    eventType: 'customer.subscription.updated',
    created: T0,
    now: T0,
    graceMs: gracePeriodMs(7),
    ...patch,
  };
}
