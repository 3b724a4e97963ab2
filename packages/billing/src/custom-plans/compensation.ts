import type Stripe from 'stripe';
import { CustomPlanError, StripeApiError } from '../errors.js';
import type { CreatedObjects, CustomPlanStep, StripeCall } from './types.js';

/**
 * Archives what an attempt created, and reports what could not be archived instead of throwing:
 * the original failure is what the caller must see.
 */
export async function archiveCreated(stripe: Stripe, call: StripeCall, created: CreatedObjects): Promise<string[]> {
  const problems: string[] = [];
  // Reverse creation order: an open checkout must not be payable once its price is archived.
  if (created.checkoutSessionId) {
    const id = created.checkoutSessionId;
    await call('checkout.sessions.expire', () => stripe.checkout.sessions.expire(id)).catch((e: unknown) => {
      problems.push(`checkout session ${id} could not be expired: ${messageOf(e)}`);
    });
  }
  // Before the price is archived: the customer goes back to what they were paying for.
  if (created.switchedSubscription) {
    const { subscriptionId, itemId, previousPriceId } = created.switchedSubscription;
    await call('subscriptions.update', () => stripe.subscriptions.update(subscriptionId, { items: [{ id: itemId, price: previousPriceId }] })).catch(
      (e: unknown) => {
        problems.push(`subscription ${subscriptionId} could not be moved back to ${previousPriceId}: ${messageOf(e)}`);
      },
    );
  }
  if (created.priceId) {
    const id = created.priceId;
    await call('prices.update', () => stripe.prices.update(id, { active: false })).catch((e: unknown) => {
      problems.push(`price ${id} could not be archived: ${messageOf(e)}`);
    });
  }
  if (created.productId) {
    const id = created.productId;
    await call('products.update', () => stripe.products.update(id, { active: false })).catch((e: unknown) => {
      problems.push(`product ${id} could not be archived: ${messageOf(e)}`);
    });
  }
  return problems;
}

export function stepError(step: CustomPlanStep, error: unknown, archiveProblems: string[]): CustomPlanError {
  const stripeSide = error instanceof StripeApiError;
  const code = stripeSide ? 'stripe_request_failed' : error instanceof CustomPlanError ? error.code : 'custom_plan_failed';
  const cleanup = archiveProblems.length > 0 ? ` Cleanup incomplete: ${archiveProblems.join('; ')}` : '';
  return new CustomPlanError(code, `Custom plan creation failed at step "${step}": ${messageOf(error)}.${cleanup}`, step, { cause: error });
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
