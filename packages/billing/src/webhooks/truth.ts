import type { SubscriptionState } from '../stripe-sync/subscriptions.js';
import type { SubscriptionTruth } from './decisions.js';
import { toDate } from './event.js';

export interface TruthReader {
  getSubscriptionState(customerId: string): Promise<SubscriptionState>;
}

/**
 * What Stripe says about a customer right now: the subscription that grants access, else the most
 * relevant of the rest (same ranking as the bulk sync). Webhooks and the reconcile report both
 * decide from this, so "in sync" means exactly "what a webhook would write now".
 */
export async function readSubscriptionTruth(
  reader: TruthReader,
  customerId: string,
): Promise<SubscriptionTruth> {
  const { active, mostRelevant } = await reader.getSubscriptionState(customerId);
  if (active) {
    return {
      kind: 'granting',
      subscriptionId: active.subscription.id,
      status: active.status,
      plan: active.plan,
      priceId: active.priceId,
      productId: active.productId,
      trialEnd: toDate(active.subscription.trial_end),
    };
  }
  return mostRelevant
    ? { kind: 'none', subscriptionId: mostRelevant.id, status: mostRelevant.status }
    : { kind: 'none', subscriptionId: null, status: 'canceled' };
}
