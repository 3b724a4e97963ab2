import type Stripe from 'stripe';
import type { StripeCall } from '../stripe-sync/client.js';
import { listAll } from '../stripe-sync/plans.js';
import { chooseSubscription, type ActiveSubscription } from '../stripe-sync/subscriptions.js';
import type { SubscriptionTruth } from './decisions.js';
import { toDate } from './event.js';

export interface TruthReader {
  getActiveSubscription(customerId: string): Promise<ActiveSubscription | null>;
  call: StripeCall;
}

/**
 * What Stripe says about a customer right now: the subscription that grants access, else the most
 * relevant of the rest (same ranking as the bulk sync). Webhooks and the reconcile report both
 * decide from this, so "in sync" means exactly "what a webhook would write now".
 */
export async function readSubscriptionTruth(stripe: Stripe, reader: TruthReader, customerId: string): Promise<SubscriptionTruth> {
  const active = await reader.getActiveSubscription(customerId);
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
  const all = await listAll(reader.call, 'subscriptions.list', (page) => stripe.subscriptions.list({ ...page, customer: customerId, status: 'all' }));
  const best = chooseSubscription(all);
  return best ? { kind: 'none', subscriptionId: best.id, status: best.status } : { kind: 'none', subscriptionId: null, status: 'canceled' };
}
