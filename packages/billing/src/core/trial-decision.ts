import { type EventFacts, watermark } from './event-facts.js';
import { type Decision, emptyState, type TenantFeatureState } from './tenant-state.js';

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
