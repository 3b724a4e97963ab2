import type { MergeStrategy, PlanDefaults } from './types.js';
import { isHeldConfig } from './held-config.js';
import { planPatch } from './plan-patch.js';
import { sameValue } from './same-value.js';
import { grantsAccess } from './subscription-status.js';
import type { Decision, TenantFeaturePatch, TenantFeatureState } from './tenant-state.js';

export interface PlanChangeOptions {
  /** Apply even to custom/manual configs, plans meant for another tenant, and unchanged configs. */
  force?: boolean;
  mergeStrategy?: MergeStrategy;
  /** The subscription the plan comes from; sets subscription id/status and access. */
  subscription?: { id: string; status: string };
  stripeEventId?: string;
  /** Stripe `created` of the triggering event: older than what was already applied → skipped as stale. */
  eventCreatedAt?: Date;
  /**
   * When we started reading the Stripe state behind `plan`/`subscription` (the bulk sync's walk).
   * A config written at or after that moment (a webhook, a reconcile fix, the grace cron: all of
   * them decide from a read at least as new) is not overwritten with our older picture: a write
   * that would change it is skipped as 'stale_read'. Compared with the row's `updatedAt`, which our
   * own processes stamp, rather than with Stripe's second-resolution event clock.
   */
  observedAt?: Date;
}

/** Why decidePlanChange leaves a tenant alone. */
export type PlanChangeSkip =
  'stale_event' | 'plan_for_other_tenant' | 'custom_config' | 'up_to_date' | 'stale_read';

/**
 * Pure decision shared by the transactional write (re-run on the locked row) and the bulk sync's
 * pre-check on bulk-loaded rows, so "would this change anything?" is answered identically in both
 * and unchanged tenants never open a transaction.
 *
 * Skip reasons: 'stale_event', 'plan_for_other_tenant', 'custom_config', 'up_to_date', 'stale_read'.
 */
export function decidePlanChange(
  current: TenantFeatureState | null,
  tenantId: string,
  plan: PlanDefaults,
  options: PlanChangeOptions = {},
): Decision<PlanChangeSkip> {
  const force = options.force ?? false;
  // Even force never lets an older event overwrite state written from a newer one.
  if (
    options.eventCreatedAt &&
    current?.lastStripeEventAt &&
    options.eventCreatedAt < current.lastStripeEventAt
  ) {
    return { skip: 'stale_event' };
  }
  if (!force && plan.tenantId !== null && plan.tenantId !== tenantId)
    return { skip: 'plan_for_other_tenant' };
  // A custom config that *is* this custom price stays in sync; any other hand-made config is
  // left alone until someone forces the plan back on.
  if (!force && current && isHeldConfig(current, plan.priceId)) return { skip: 'custom_config' };

  // Without subscription information (an admin applying a plan) the tenant's access state stands.
  let accessActive = options.subscription
    ? grantsAccess(options.subscription.status)
    : (current?.accessActive ?? true);
  // Same payment rules as the webhook path (decideFromTruth): a streak belongs to its subscription,
  // so a different subscription starts clean (or the grace cron would cut it off at once), and
  // access that the grace policy took away on this subscription stays off (the grace clock only
  // moves forward) until invoice.payment_succeeded clears the streak. Without this, every bulk sync
  // handed a past_due tenant whose grace had run out its features back.
  const newSubscription =
    options.subscription !== undefined &&
    current?.stripeSubscriptionId != null &&
    current.stripeSubscriptionId !== options.subscription.id;
  if (options.subscription && !newSubscription && current?.paymentFailedAt && !current.accessActive)
    accessActive = false;
  const patch = planPatch(current, plan, { strategy: options.mergeStrategy ?? 'merge', accessActive });
  if (options.subscription) {
    patch.stripeSubscriptionId = options.subscription.id;
    patch.subscriptionStatus = options.subscription.status;
  }
  if (newSubscription) patch.paymentFailedAt = null;
  if (options.eventCreatedAt) patch.lastStripeEventAt = options.eventCreatedAt;
  if (options.stripeEventId) patch.lastStripeEventId = options.stripeEventId;

  if (!force && current && isNoOp(current, patch)) return { skip: 'up_to_date' };
  // Checked after the no-op test: a webhook that already wrote what we would write is simply up to date.
  if (
    options.observedAt &&
    current?.updatedAt &&
    current.updatedAt.getTime() >= options.observedAt.getTime() &&
    !isNoOp(current, patch)
  ) {
    return { skip: 'stale_read' };
  }
  const samePlan =
    current !== null && current.stripeProductId === plan.productId && current.stripePriceId === plan.priceId;
  return {
    patch,
    action:
      current === null || current.stripeProductId === null
        ? 'plan_applied'
        : samePlan
          ? 'plan_refreshed'
          : 'plan_changed',
  };
}

export function isNoOp(current: TenantFeatureState, patch: TenantFeaturePatch): boolean {
  return (Object.keys(patch) as (keyof TenantFeaturePatch)[]).every((key) =>
    sameValue(current[key], patch[key]),
  );
}
