import { type EventFacts, watermark } from './event-facts.js';
import { graceExpired } from './grace.js';
import { restrictedFeatures } from './restriction.js';
import { decideFromTruth } from './subscription-decision.js';
import type { SubscriptionTruth } from './subscription-truth.js';
import { type Decision, emptyState, type TenantFeatureState } from './tenant-state.js';

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
