import type { TenantEventRule } from '../../../core/index.js';
import { subscriptionChanged } from './_customer.subscription.js';
import { trialWillEnd } from './_customer.subscription.trial_will_end.js';
import { entitlementSummaryUpdated } from './_entitlements.active_entitlement_summary.updated.js';
import { paymentFailed } from './_invoice.payment_failed.js';
import { paymentSucceeded } from './_invoice.payment_succeeded.js';

/**
 * How each event type is handled: a tenant event is queued under its customer and decided by its
 * rule (one module per type, beside this file); a plan event (a product or price changed) is queued
 * on its own and refreshes the plan cache (src/flows/webhooks/plan-events.ts). Any other type is stored
 * `ignored` when it arrives.
 */
export type EventHandler = { queue: 'customer'; rule: TenantEventRule } | { queue: 'plan' };

const customer = (rule: TenantEventRule) => ({ queue: 'customer', rule }) as const;
const plan = { queue: 'plan' } as const;

export const EVENT_HANDLERS = {
  'customer.subscription.created': customer(subscriptionChanged),
  'customer.subscription.updated': customer(subscriptionChanged),
  'customer.subscription.deleted': customer(subscriptionChanged),
  'customer.subscription.paused': customer(subscriptionChanged),
  'customer.subscription.resumed': customer(subscriptionChanged),
  'customer.subscription.pending_update_applied': customer(subscriptionChanged),
  'customer.subscription.pending_update_expired': customer(subscriptionChanged),
  'entitlements.active_entitlement_summary.updated': customer(entitlementSummaryUpdated),
  'invoice.payment_succeeded': customer(paymentSucceeded),
  'invoice.payment_failed': customer(paymentFailed),
  'customer.subscription.trial_will_end': customer(trialWillEnd),
  'product.updated': plan,
  'product.deleted': plan,
  'price.updated': plan,
  'price.deleted': plan,
} as const satisfies Record<string, EventHandler>;

export type HandledEventType = keyof typeof EVENT_HANDLERS;

export function handlerOf(type: string): EventHandler | null {
  return Object.hasOwn(EVENT_HANDLERS, type) ? EVENT_HANDLERS[type as HandledEventType] : null;
}
