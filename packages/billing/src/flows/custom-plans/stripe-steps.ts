import type Stripe from 'stripe';
import { buildPriceMetadata, buildProductMetadata } from '../../io/metadata/index.js';
import type { FeatureMap, PlanDefaults } from '../../core/types.js';
import type { ParsedInput } from './input.js';
import type { CheckoutUrls, StripeCall } from './types.js';

/**
 * The Stripe writes of a custom plan. Each carries an idempotency key derived from the attempt's
 * `stripeKey`, so a resumed or concurrent attempt gets Stripe's stored object instead of a second one.
 */
export interface CustomPlanStripeSteps {
  createProduct(
    input: ParsedInput,
    metadata: Record<string, string>,
    stripeKey: string,
  ): Promise<Stripe.Product>;
  createPrice(
    input: ParsedInput,
    productId: string,
    metadata: Record<string, string>,
    stripeKey: string,
  ): Promise<Stripe.Price>;
  createCheckout(
    row: { id: string; tenantId: string },
    customerId: string,
    priceId: string,
    urls: CheckoutUrls,
    stripeKey: string,
    /** The expired session this one replaces: part of the key, so concurrent replays share one new session. */
    replacing?: string,
  ): Promise<Stripe.Checkout.Session>;
  /**
   * A Billing Portal session in which the customer confirms moving their subscription's plan item
   * onto `priceId`: the link for a customer who already pays (a Checkout would bill them twice).
   * No key: a portal session bills nothing, and each one is short-lived.
   */
  createPortalUpdate(
    customerId: string,
    subscriptionId: string,
    itemId: string,
    priceId: string,
    urls: CheckoutUrls,
  ): Promise<Stripe.BillingPortal.Session>;
  /** The Stripe customer whose metadata.tenantId is this tenant, or a new one (keyed per tenant). */
  findOrCreateCustomer(tenantId: string, name: string): Promise<Stripe.Customer>;
  retrieveCheckout(sessionId: string): Promise<Stripe.Checkout.Session>;
  expireCheckout(sessionId: string): Promise<Stripe.Checkout.Session>;
}

export function createStripeSteps(stripe: Stripe, call: StripeCall): CustomPlanStripeSteps {
  return {
    createProduct(input, metadata, stripeKey) {
      return call('products.create', () =>
        stripe.products.create(
          { name: input.planName, metadata },
          { idempotencyKey: `${stripeKey}:product` },
        ),
      );
    },

    createPrice(input, productId, metadata, stripeKey) {
      return call('prices.create', () =>
        stripe.prices.create(
          {
            product: productId,
            unit_amount: input.priceCents,
            currency: input.currency,
            recurring: { interval: input.recurringInterval },
            nickname: input.planName.slice(0, 250),
            metadata,
          },
          { idempotencyKey: `${stripeKey}:price` },
        ),
      );
    },

    createCheckout(row, customerId, priceId, urls, stripeKey, replacing) {
      return call('checkout.sessions.create', () =>
        stripe.checkout.sessions.create(
          {
            mode: 'subscription',
            customer: customerId,
            line_items: [{ price: priceId, quantity: 1 }],
            success_url: urls.successUrl,
            cancel_url: urls.cancelUrl,
            client_reference_id: row.tenantId,
            metadata: { tenantId: row.tenantId, customPlanId: row.id },
          },
          {
            idempotencyKey: replacing ? `${stripeKey}:checkout:after:${replacing}` : `${stripeKey}:checkout`,
          },
        ),
      );
    },

    createPortalUpdate(customerId, subscriptionId, itemId, priceId, urls) {
      return call('billing_portal.sessions.create', () =>
        stripe.billingPortal.sessions.create({
          customer: customerId,
          return_url: urls.cancelUrl,
          flow_data: {
            type: 'subscription_update_confirm',
            subscription_update_confirm: {
              subscription: subscriptionId,
              items: [{ id: itemId, price: priceId, quantity: 1 }],
            },
            after_completion: { type: 'redirect', redirect: { return_url: urls.successUrl } },
          },
        }),
      );
    },

    async findOrCreateCustomer(tenantId, name) {
      // Search cannot quote every character; such a tenant just gets a new customer.
      if (/^[A-Za-z0-9_.:@-]+$/.test(tenantId)) {
        const found = await call('customers.search', () =>
          stripe.customers.search({ query: `metadata['tenantId']:'${tenantId}'`, limit: 1 }),
        );
        if (found.data[0]) return found.data[0];
      }
      return call('customers.create', () =>
        stripe.customers.create(
          { name, metadata: { tenantId } },
          // Concurrent requests for one tenant get one customer.
          { idempotencyKey: `tenant-customer:${tenantId}` },
        ),
      );
    },

    retrieveCheckout(sessionId) {
      return call('checkout.sessions.retrieve', () => stripe.checkout.sessions.retrieve(sessionId));
    },

    expireCheckout(sessionId) {
      return call('checkout.sessions.expire', () => stripe.checkout.sessions.expire(sessionId));
    },
  };
}

/** Product and price metadata of a custom plan, in the format every reader (sync, webhooks) parses. */
export function customPlanMetadata(
  input: ParsedInput,
  base: PlanDefaults,
  planFeatures: FeatureMap,
  customPlanId: string,
): { product: Record<string, string>; price: Record<string, string> } {
  return {
    product: {
      ...buildProductMetadata({
        bundle: base.bundle,
        features: planFeatures,
        scrapeIntervalHours: base.scrapeIntervalHours,
        custom: true,
        tenantId: input.tenantId,
        basePlanId: input.basePlanId,
      }),
      // Lets anyone looking at the product in Stripe find its row (and so its tenant and status).
      customPlanId,
    },
    price: buildPriceMetadata({ tenantId: input.tenantId, custom: true, features: input.overrides }),
  };
}
