import type Stripe from 'stripe';
import {
  factReads,
  toDate,
  truthRead,
  type RuledEvent,
  type StripeFacts,
  type SubscriptionFact,
  type SubscriptionTruth,
  type TenantFeatureState,
} from '../../core/index.js';
import { StripeNotFoundError } from '../../core/errors.js';
import { mapStripeError, readSubscriptionTruth } from '../../io/stripe-sync/index.js';
import type { WebhookStripeSync } from './handler-types.js';

/**
 * The Stripe reads of the webhook worker, never inside a transaction (the claim's read ticket
 * orders them against other writers): what a customer's events need (planned by the core), and the
 * tenant a customer names in its metadata.
 */
export interface StripeFactReader {
  /** One subscription read for all of a customer's events, plus the invoices and subscriptions they name. */
  readFacts(events: RuledEvent[], customerId: string, state: TenantFeatureState | null): Promise<StripeFacts>;
  /** The tenant id in the customer's metadata; null when none or the customer is gone. */
  customerTenantHint(customerId: string): Promise<string | null>;
}

export function createStripeFactReader(stripe: Stripe, stripeSync: WebhookStripeSync): StripeFactReader {
  const call = stripeSync.call;

  /** Null when Stripe says the object does not exist. */
  async function unlessMissing<T>(operation: string, read: () => Promise<T>): Promise<T | null> {
    try {
      return await call(operation, read);
    } catch (error) {
      if (mapStripeError(error, operation) instanceof StripeNotFoundError) return null;
      throw error;
    }
  }

  async function readSubscription(id: string): Promise<SubscriptionFact | null> {
    const sub = await unlessMissing('subscriptions.retrieve', () => stripe.subscriptions.retrieve(id));
    return sub ? { status: sub.status, trialEnd: toDate(sub.trial_end) } : null;
  }

  /** Whether the subscription's newest invoice is paid: both payment events ask this instead of comparing timestamps. */
  async function newestInvoicePaid(subscriptionId: string): Promise<boolean | null> {
    const list = await call('invoices.list', () =>
      stripe.invoices.list({ subscription: subscriptionId, limit: 1 }),
    );
    const newest = list.data[0];
    return newest ? newest.status === 'paid' : null;
  }

  async function readTruth(
    customerId: string,
    fallbackSubscriptionId: string | null,
  ): Promise<SubscriptionTruth> {
    const truth = await readSubscriptionTruth(stripeSync, customerId);
    if (truth.subscriptionId !== null || !fallbackSubscriptionId) return truth;
    // The customer lists no subscription at all (e.g. deleted): fall back to the event's own one.
    const sub = await readSubscription(fallbackSubscriptionId);
    return { kind: 'none', subscriptionId: fallbackSubscriptionId, status: sub?.status ?? 'canceled' };
  }

  return {
    async readFacts(events, customerId, state) {
      if (events.some(({ rule }) => rule.refreshesAttachedFeatures))
        await stripeSync.invalidateAttachedFeatures?.();
      const invoicePaid = new Map<string, boolean | null>();
      const subscriptions = new Map<string, SubscriptionFact | null>();
      for (const read of factReads(events)) {
        if ('invoiceOf' in read) invoicePaid.set(read.invoiceOf, await newestInvoicePaid(read.invoiceOf));
        else subscriptions.set(read.subscription, await readSubscription(read.subscription));
      }
      const needed = truthRead(events, state, invoicePaid);
      const truth = needed ? await readTruth(customerId, needed.fallbackSubscriptionId) : null;
      return { truth, invoicePaid, subscriptions };
    },

    async customerTenantHint(customerId) {
      const customer = await unlessMissing('customers.retrieve', () => stripe.customers.retrieve(customerId));
      if (!customer || (customer as Stripe.DeletedCustomer).deleted) return null;
      const value = (customer as Stripe.Customer).metadata?.tenantId?.trim();
      return value ? value : null;
    },
  };
}
