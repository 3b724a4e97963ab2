import { subscriptionTruthOf, type SubscriptionTruth } from '../../core/index.js';
import type { SubscriptionState } from './subscriptions.js';

export interface TruthReader {
  getSubscriptionState(customerId: string): Promise<SubscriptionState>;
}

/** Reads a customer's subscriptions from Stripe and turns them into the truth the core decides from. */
export async function readSubscriptionTruth(
  reader: TruthReader,
  customerId: string,
): Promise<SubscriptionTruth> {
  return subscriptionTruthOf(await reader.getSubscriptionState(customerId));
}
