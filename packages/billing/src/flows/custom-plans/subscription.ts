import type Stripe from 'stripe';
import { CustomPlanError, ValidationError } from '../../core/errors.js';
import type { GrantingSubscription } from '../../io/stripe-sync/index.js';
import type { StripeCall, SwitchedSubscription } from './types.js';

export const onPrice = (current: GrantingSubscription, priceId: string): boolean =>
  (current.subscription.items?.data ?? []).some((item) => item.price?.id === priceId);

/** Checkout starts a new subscription: for a customer who already pays, that means paying twice. */
export function refuseSecondSubscription(current: GrantingSubscription, customerId: string): never {
  throw new CustomPlanError(
    'customer_already_subscribed',
    `Customer ${customerId} already has subscription ${current.subscription.id} (${current.subscription.status}); ` +
      'a checkout session would start a second one and bill twice. Use switchSubscription to move it onto the custom price.',
    'pending',
  );
}

export function requireSubscriptionToSwitch(
  current: GrantingSubscription | null,
  customerId: string | null,
): GrantingSubscription {
  if (current) return current;
  throw new ValidationError(
    customerId
      ? `Customer ${customerId} has no active, trialing or past_due subscription to switch; use createCheckoutSession instead`
      : 'The tenant has no Stripe customer, so there is no subscription to switch',
    [
      {
        path: 'switchSubscription',
        message: customerId ? 'no access-granting subscription' : 'tenant has no stripeCustomerId',
      },
    ],
  );
}

/** What a switch changes, known before the call so a failed or uncertain switch can still be undone. */
export function switchOf(current: GrantingSubscription): SwitchedSubscription {
  return {
    subscriptionId: current.subscription.id,
    itemId: current.item.id,
    previousPriceId: current.item.price.id,
  };
}

/**
 * Puts the plan item on the custom price (Stripe prorates by default, as a mid-cycle plan change
 * should). Setting a price is idempotent by nature, and a resumed attempt re-reads the subscription
 * first, so no key of ours is needed; the SDK keys its own network retries. A key derived from the
 * plan would be wrong here: Stripe would replay an old answer after someone moved the item since.
 */
export async function switchToPrice(
  stripe: Stripe,
  call: StripeCall,
  switched: SwitchedSubscription,
  priceId: string,
): Promise<void> {
  const updated = await call('subscriptions.update', () =>
    stripe.subscriptions.update(switched.subscriptionId, {
      items: [{ id: switched.itemId, price: priceId }],
    }),
  );
  const item = updated.items.data.find((candidate) => candidate.id === switched.itemId);
  if (item?.price.id !== priceId) {
    throw new CustomPlanError(
      'stripe_subscription_not_switched',
      `Subscription ${switched.subscriptionId} item ${switched.itemId} is on ${item?.price.id ?? 'no price'} after the switch to ${priceId}`,
      'subscription',
    );
  }
}
