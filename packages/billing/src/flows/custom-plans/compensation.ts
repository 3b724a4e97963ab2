import type Stripe from 'stripe';
import { CustomPlanError, messageOf, StripeApiError } from '../../core/errors.js';
import type { CreatedObjects, CustomPlanStep, StripeCall } from './types.js';

/**
 * Archives what an attempt created, and reports what could not be archived instead of throwing:
 * the original failure is what the caller must see.
 */
export async function archiveCreated(
  stripe: Stripe,
  call: StripeCall,
  created: CreatedObjects,
): Promise<string[]> {
  const problems: string[] = [];
  // Reverse creation order: an open checkout must not be payable once its price is archived.
  if (created.checkoutSessionId) {
    const id = created.checkoutSessionId;
    await call('checkout.sessions.expire', () => stripe.checkout.sessions.expire(id)).catch((e: unknown) => {
      problems.push(`checkout session ${id} could not be expired: ${messageOf(e)}`);
    });
  }
  // Before the price is archived: the customer goes back to what they were paying for. Only if the
  // item is still on this plan's price: if someone moved it since, that is not ours to undo.
  let priceInUse = false;
  if (created.switchedSubscription && created.priceId) {
    const { subscriptionId, itemId, previousPriceId } = created.switchedSubscription;
    const priceId = created.priceId;
    try {
      const subscription = await call('subscriptions.retrieve', () =>
        stripe.subscriptions.retrieve(subscriptionId),
      );
      const item = subscription.items.data.find((candidate) => candidate.id === itemId);
      if (item?.price.id === priceId) {
        await call('subscriptions.update', () =>
          stripe.subscriptions.update(subscriptionId, { items: [{ id: itemId, price: previousPriceId }] }),
        );
      }
    } catch (e) {
      // The customer is still billed on this plan's price: archiving it would hide a live charge, so
      // price and product stay active for an operator to settle.
      priceInUse = true;
      problems.push(
        `subscription ${subscriptionId} could not be moved back to ${previousPriceId} (${messageOf(e)}); ` +
          `price ${priceId} and its product were left active`,
      );
    }
  }
  if (created.priceId && !priceInUse) {
    const id = created.priceId;
    await call('prices.update', () => stripe.prices.update(id, { active: false })).catch((e: unknown) => {
      problems.push(`price ${id} could not be archived: ${messageOf(e)}`);
    });
  }
  if (created.productId && !priceInUse) {
    const id = created.productId;
    await call('products.update', () => stripe.products.update(id, { active: false })).catch((e: unknown) => {
      problems.push(`product ${id} could not be archived: ${messageOf(e)}`);
    });
  }
  return problems;
}

export function stepError(step: CustomPlanStep, error: unknown, archiveProblems: string[]): CustomPlanError {
  const stripeSide = error instanceof StripeApiError;
  const code = stripeSide
    ? 'stripe_request_failed'
    : error instanceof CustomPlanError
      ? error.code
      : 'custom_plan_failed';
  const cleanup = archiveProblems.length > 0 ? ` Cleanup incomplete: ${archiveProblems.join('; ')}` : '';
  return new CustomPlanError(
    code,
    `Custom plan creation failed at step "${step}": ${messageOf(error)}.${cleanup}`,
    step,
    { cause: error },
  );
}
