import { decideTrialWillEnd, type TenantEventRule } from '../../../core/index.js';

/**
 * customer.subscription.trial_will_end: records the trial end of the subscription the tenant is on,
 * then tells the application (`onTrialWillEnd`) after the commit.
 */
export const trialWillEnd: TenantEventRule = {
  subscriptionEvent: false,
  subscriptionOf: (event) => event.subscriptionId,
  needsTruth: () => false,
  decide(event, state, facts, f) {
    const sub = event.subscriptionId;
    if (!sub) return { skip: 'no_subscription' };
    const retrieved = facts.subscriptions.get(sub);
    // The notice is moot once the trial converted or the subscription ended before we got to it.
    if (!retrieved || retrieved.status !== 'trialing') return { skip: 'trial_not_active' };
    return decideTrialWillEnd(state, { subscriptionId: sub, trialEnd: retrieved.trialEnd }, f);
  },
  notice: (event, facts, tenantId) => ({
    tenantId,
    subscriptionId: event.subscriptionId!,
    trialEnd: facts.subscriptions.get(event.subscriptionId!)?.trialEnd ?? null,
  }),
};
