import type { EmulatorCore } from './core.js';
import { confirmBillingPortalSession } from './resources/billing-portal.js';
import { completeCheckoutSession } from './resources/checkout.js';
import { createSubscriptionInvoice } from './resources/invoices.js';
import {
  renewSubscriptionPeriod,
  renderSubscription,
  setSubscriptionStatus,
  type SubscriptionStatus,
} from './resources/subscriptions.js';
import type { Obj } from './store.js';

/**
 * State changes Stripe's billing engine makes on its own (payments, dunning,
 * trial reminders). Tests trigger them directly instead of waiting for clocks.
 */
export function setStatus(core: EmulatorCore, subscriptionId: string, status: SubscriptionStatus): Obj {
  return setSubscriptionStatus(core.ctx(), subscriptionId, status);
}

export function payInvoice(core: EmulatorCore, subscriptionId: string, succeeded = true): Obj {
  const sub = core.store.subscriptions.get(subscriptionId);
  if (!sub) throw new Error(`No such subscription: '${subscriptionId}'`);
  const invoice = createSubscriptionInvoice(core.ctx(), sub, succeeded);
  // latest_invoice moves without its own event here; a real cycle would also emit invoice.created etc.
  sub.latest_invoice = invoice.id;
  return core.events.emit(succeeded ? 'invoice.payment_succeeded' : 'invoice.payment_failed', invoice);
}

/**
 * A renewal, as a test clock reaching the period end causes it: the next period starts
 * (customer.subscription.updated), its invoice is paid (invoice.payment_succeeded). Answers both events.
 */
export function renewSubscription(core: EmulatorCore, subscriptionId: string): Obj[] {
  const updated = renewSubscriptionPeriod(core.ctx(), subscriptionId);
  return [updated, payInvoice(core, subscriptionId, true)];
}

export function triggerTrialWillEnd(core: EmulatorCore, subscriptionId: string): Obj {
  const sub = core.store.subscriptions.get(subscriptionId);
  if (!sub) throw new Error(`No such subscription: '${subscriptionId}'`);
  return core.events.emit('customer.subscription.trial_will_end', renderSubscription(core.ctx(), sub));
}

/** What a customer paying on the hosted page would cause; see completeCheckoutSession. */
export function completeCheckout(core: EmulatorCore, sessionId: string): Obj {
  return completeCheckoutSession(core.ctx(), sessionId);
}

/** What a customer confirming a portal subscription_update_confirm flow would cause. */
export function confirmBillingPortal(core: EmulatorCore, sessionId: string): Obj {
  return confirmBillingPortalSession(core.ctx(), sessionId);
}
