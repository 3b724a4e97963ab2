import type Stripe from 'stripe';
import type { CustomPlan } from '@packages/db';
import { asFeatureMap } from '../../core/index.js';
import type { GrantingSubscription } from '../../io/stripe-sync/index.js';
import { CustomPlanError, ValidationError } from '../../core/errors.js';
import { decideCheckoutReplay, storedCheckout, storedUrlIfLive } from './checkout.js';
import { stepError } from './compensation.js';
import { checkoutUrls, linkMode, type ParsedInput } from './input.js';
import type { CustomPlanLedger } from './ledger.js';
import type { CustomPlanStripeSteps } from './stripe-steps.js';
import {
  onPrice,
  refuseSecondSubscription,
  requireSubscriptionToSwitch,
  switchOf,
  switchToPrice,
} from './subscription.js';
import type { CheckoutUrls, CustomPlanResult, StripeCall } from './types.js';

export interface PlanReplayDeps {
  stripe: Stripe;
  call: StripeCall;
  steps: CustomPlanStripeSteps;
  ledger: CustomPlanLedger;
  now: () => Date;
  checkoutBaseUrls: () => CheckoutUrls | undefined;
  grantingSubscription(customerId: string): Promise<GrantingSubscription | null>;
}

export type PlanReplay = (
  row: CustomPlan,
  input: ParsedInput,
  customerId: string | null,
  stripeKey: string,
) => Promise<CustomPlanResult>;

/**
 * Answers a request for a plan that is already active: its ids, plus what the request asks for now
 * (a usable checkout link, or the customer's subscription moved onto the plan). Nothing is archived
 * here: the plan is live, so only the extra step can fail.
 */
export function createPlanReplay(deps: PlanReplayDeps): PlanReplay {
  const { stripe, call, steps, ledger, now } = deps;

  /** An already active plan: the stored ids, plus a usable checkout link if one is asked for now. */
  async function replay(
    row: CustomPlan,
    input: ParsedInput,
    customerId: string | null,
    stripeKey: string,
  ): Promise<CustomPlanResult> {
    let checkoutUrl: string | undefined;
    let subscriptionId: string | undefined;
    try {
      if (input.switchSubscription) subscriptionId = await replaySwitch(row, customerId);
      else checkoutUrl = await replayCheckout(row, input, customerId, stripeKey);
    } catch (error) {
      if (error instanceof ValidationError || error instanceof CustomPlanError) throw error;
      // The plan itself is complete and in use; only the extra step failed, so nothing is archived.
      throw stepError(input.switchSubscription ? 'subscription' : 'checkout', error, []);
    }
    return {
      customPlanId: row.id,
      productId: row.stripeProductId!,
      priceId: row.stripePriceId!,
      ...(checkoutUrl ? { checkoutUrl } : {}),
      ...(subscriptionId ? { subscriptionId } : {}),
      features: asFeatureMap(row.features),
    };
  }

  /** An existing plan asked to switch: the customer's subscription is moved onto it unless it is already. */
  async function replaySwitch(row: CustomPlan, customerId: string | null): Promise<string> {
    const current = requireSubscriptionToSwitch(
      customerId ? await deps.grantingSubscription(customerId) : null,
      customerId,
    );
    if (!onPrice(current, row.stripePriceId!))
      await switchToPrice(stripe, call, switchOf(current), row.stripePriceId!);
    return current.subscription.id;
  }

  /**
   * The link a replay hands out. Asked for a checkout, it checks the stored session with Stripe:
   * still open with time left → same URL; completed → none (a second session could sell the plan
   * twice); expired or about to → the old one is expired and a new one created, so there is never
   * more than one open session per plan.
   */
  async function replayCheckout(
    row: CustomPlan,
    input: ParsedInput,
    customerId: string | null,
    stripeKey: string,
  ): Promise<string | undefined> {
    const mode = linkMode(input);
    if (!mode || !row.stripePriceId || !customerId) return storedUrlIfLive(row, now());
    const subscription = await deps.grantingSubscription(customerId);
    // Already paying for this plan (through our checkout, a switch or the portal): no link is needed.
    if (subscription && onPrice(subscription, row.stripePriceId)) return undefined;
    if (subscription && mode === 'checkout') refuseSecondSubscription(subscription, customerId);
    if (subscription) {
      // Paying for another plan: a fresh portal session confirming the move (they are short-lived).
      const session = await steps.createPortalUpdate(
        customerId,
        subscription.subscription.id,
        subscription.item.id,
        row.stripePriceId,
        checkoutUrls(input, deps.checkoutBaseUrls()),
      );
      return session.url;
    }
    // Rows from before the session column: nothing to check the URL against.
    if (!row.checkoutSessionId && row.checkoutUrl) return row.checkoutUrl;
    let replacing: string | undefined;
    if (row.checkoutSessionId) {
      const current = await steps.retrieveCheckout(row.checkoutSessionId);
      const decision = decideCheckoutReplay(current, now());
      if (decision.kind === 'reuse') return decision.url;
      if (decision.kind === 'completed') return undefined;
      if (decision.expireFirst) {
        const outcome = await expireOpenSession(current.id);
        if (outcome === 'completed') return undefined;
      }
      replacing = current.id;
    }
    const session = await steps.createCheckout(
      row,
      customerId,
      row.stripePriceId,
      checkoutUrls(input, deps.checkoutBaseUrls()),
      stripeKey,
      replacing,
    );
    const stored = storedCheckout(session);
    if (!stored) return undefined;
    await ledger.recordCheckout(row.id, stored);
    return stored.url;
  }

  /** Expires an open session; a concurrent replay may have expired it, or the customer completed it. */
  async function expireOpenSession(sessionId: string): Promise<'expired' | 'completed'> {
    try {
      await steps.expireCheckout(sessionId);
      return 'expired';
    } catch (error) {
      const latest = await steps.retrieveCheckout(sessionId);
      if (latest.status === 'complete') return 'completed';
      if (latest.status === 'expired') return 'expired';
      throw error;
    }
  }

  return replay;
}
