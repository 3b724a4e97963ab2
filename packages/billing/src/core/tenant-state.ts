import type { FeatureMap } from './types.js';

export type ConfigSource = 'plan' | 'custom' | 'manual';

/** A tenant's feature configuration as the services see it. */
export interface TenantFeatureState {
  tenantId: string;
  features: FeatureMap;
  planFeatures: FeatureMap;
  overrides: FeatureMap;
  bundle: string | null;
  scrapeIntervalHours: number | null;
  source: ConfigSource;
  stripeProductId: string | null;
  stripePriceId: string | null;
  stripeSubscriptionId: string | null;
  subscriptionStatus: string | null;
  accessActive: boolean;
  paymentFailedAt: Date | null;
  lastPaymentAt: Date | null;
  trialEndsAt: Date | null;
  /** The subscription's current period as Stripe last said (billing_period meters count within it). */
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  version: number;
  lastStripeEventAt: Date | null;
  lastStripeEventId: string | null;
  updatedAt: Date | null;
}

export type TenantFeaturePatch = Partial<Omit<TenantFeatureState, 'tenantId' | 'version' | 'updatedAt'>>;

/** What a decision returns: a change to write (with the audit action name), or a reason to leave the tenant alone. */
export type Decision<Skip extends string = string> =
  { patch: TenantFeaturePatch; action: string } | { skip: Skip };

/** The state of a tenant that has no config row yet. */
export function emptyState(tenantId: string): TenantFeatureState {
  return {
    tenantId,
    features: {},
    planFeatures: {},
    overrides: {},
    bundle: null,
    scrapeIntervalHours: null,
    source: 'plan',
    stripeProductId: null,
    stripePriceId: null,
    stripeSubscriptionId: null,
    subscriptionStatus: null,
    accessActive: true,
    paymentFailedAt: null,
    lastPaymentAt: null,
    trialEndsAt: null,
    currentPeriodStart: null,
    currentPeriodEnd: null,
    version: 0,
    lastStripeEventAt: null,
    lastStripeEventId: null,
    updatedAt: null,
  };
}
