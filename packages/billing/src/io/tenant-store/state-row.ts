import type { Prisma, TenantFeatureConfig } from '@packages/db';
import { asFeatureMap, type TenantFeatureState } from '../../core/index.js';

/** A config row as the services see it (JSON columns read back defensively). */
export function toState(row: TenantFeatureConfig): TenantFeatureState {
  return {
    tenantId: row.tenantId,
    features: asFeatureMap(row.features),
    planFeatures: asFeatureMap(row.planFeatures),
    overrides: asFeatureMap(row.overrides),
    bundle: row.bundle,
    scrapeIntervalHours: row.scrapeIntervalHours,
    source: row.source,
    stripeProductId: row.stripeProductId,
    stripePriceId: row.stripePriceId,
    stripeSubscriptionId: row.stripeSubscriptionId,
    subscriptionStatus: row.subscriptionStatus,
    accessActive: row.accessActive,
    paymentFailedAt: row.paymentFailedAt,
    lastPaymentAt: row.lastPaymentAt,
    trialEndsAt: row.trialEndsAt,
    currentPeriodStart: row.currentPeriodStart,
    currentPeriodEnd: row.currentPeriodEnd,
    version: row.version,
    lastStripeEventAt: row.lastStripeEventAt,
    lastStripeEventId: row.lastStripeEventId,
    updatedAt: row.updatedAt,
  };
}

/** The columns a state writes (everything but the key and the version). */
export function toRowData(state: TenantFeatureState) {
  return {
    features: state.features as Prisma.InputJsonValue,
    planFeatures: state.planFeatures as Prisma.InputJsonValue,
    overrides: state.overrides as Prisma.InputJsonValue,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    source: state.source,
    stripeProductId: state.stripeProductId,
    stripePriceId: state.stripePriceId,
    stripeSubscriptionId: state.stripeSubscriptionId,
    subscriptionStatus: state.subscriptionStatus,
    accessActive: state.accessActive,
    paymentFailedAt: state.paymentFailedAt,
    lastPaymentAt: state.lastPaymentAt,
    trialEndsAt: state.trialEndsAt,
    currentPeriodStart: state.currentPeriodStart,
    currentPeriodEnd: state.currentPeriodEnd,
    lastStripeEventAt: state.lastStripeEventAt,
    lastStripeEventId: state.lastStripeEventId,
  };
}

/** What the audit log keeps of a state: the entitlement-relevant fields, not bookkeeping. */
export function auditSnapshot(state: TenantFeatureState) {
  return {
    features: state.features,
    overrides: state.overrides,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    source: state.source,
    stripeProductId: state.stripeProductId,
    stripePriceId: state.stripePriceId,
    subscriptionStatus: state.subscriptionStatus,
    accessActive: state.accessActive,
  };
}
