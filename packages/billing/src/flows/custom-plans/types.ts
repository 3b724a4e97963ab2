import type { CatalogSource } from '../../io/catalog/registry.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { GrantingSubscription } from '../../io/stripe-sync/index.js';
import type { FeatureCatalog, FeatureMap, PlanDefaults } from '../../core/types.js';

/** Stripe's ceiling for `unit_amount` in most currencies. */
export const MAX_PRICE_CENTS = 99_999_999;
export const RECURRING_INTERVALS = ['day', 'week', 'month', 'year'] as const;
export type RecurringInterval = (typeof RECURRING_INTERVALS)[number];
export type CustomPlanStatus = 'pending' | 'active' | 'failed';
/** Where a custom plan creation stopped; `CustomPlanError.step` is one of these. */
export type CustomPlanStep = 'pending' | 'product' | 'price' | 'checkout' | 'subscription' | 'tenant_update';

export interface CreateCustomPlanInput {
  tenantId: string;
  /** Product id, price id or price lookup_key of the plan whose features the custom plan starts from. */
  basePlanId: string;
  priceCents: number;
  currency: string;
  recurringInterval: RecurringInterval;
  /** Feature values that differ from the base plan. */
  overrides?: FeatureMap;
  planName: string;
  /**
   * Unset (the default, with `switchSubscription` unset too): the result carries `checkoutUrl`, a
   * link fitting the customer: a Checkout Session for one without an access-granting subscription
   * (a tenant without a linked customer gets the one whose metadata.tenantId names it, or a new one,
   * linked), a Billing Portal session confirming the move onto the custom price for one who pays
   * (it cannot bill twice). Needs URLs (below, `checkoutBaseUrls`, or CHECKOUT_SUCCESS_URL /
   * CHECKOUT_CANCEL_URL), else CheckoutNotConfiguredError.
   * `true`: a Checkout link only; refused (409 `customer_already_subscribed`) for a customer who already
   * pays, since checkout would start a second subscription. `false`: no link.
   */
  createCheckoutSession?: boolean;
  /** Moves the customer's access-granting subscription onto the custom price (Stripe prorates). */
  switchSubscription?: boolean;
  successUrl?: string;
  cancelUrl?: string;
  idempotencyKey?: string;
  /** Who asked (lands in the audit row). */
  actor?: string;
}

export interface CustomPlanResult {
  customPlanId: string;
  productId: string;
  priceId: string;
  checkoutUrl?: string;
  /** With `switchSubscription`: the subscription now on the custom price. */
  subscriptionId?: string;
  /** Everything the plan grants: base plan features with the overrides applied. */
  features: FeatureMap;
}

/** What the service needs from the Stripe sync service; structural so tests can pass a stub. */
export interface CustomPlanStripeSync {
  getPlanDefaultsFromStripe(planId: string): Promise<PlanDefaults>;
  /** The customer's access-granting subscription (the one sync and webhooks pick) and its plan item. */
  getGrantingSubscription(customerId: string): Promise<GrantingSubscription | null>;
  /**
   * The customer's subscriptions combined (plan item, add-ons, other subscriptions): after a switch
   * the tenant gets what a webhook would write. Without it the tenant gets the custom plan alone
   * until the switch's webhook arrives.
   */
  getSubscriptionState?(customerId: string): Promise<{
    active: { priceId: string; plan: { features: FeatureMap } } | null;
  }>;
  /** Rate-limited, error-mapping wrapper for Stripe calls. */
  call?<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

export interface CustomPlanServiceOptions {
  /** Reads the base plan and rate-limits our Stripe calls; one is created (with `catalog`) when omitted. */
  stripeSync?: CustomPlanStripeSync;
  /**
   * Gets the committed tenant state after a plan is applied, so cached reads see it at once.
   * Pass the one every service of the deployment reads through (createBillingContext does); without
   * it, nothing is cached to update (uncachedFeatureReader: every reader built apart reads the row).
   */
  featureReader?: FeatureReader;
  /** Defaults to the `feature_catalog` table (`databaseCatalog(prisma)`, shared per database). */
  catalog?: FeatureCatalog | CatalogSource;
  /**
   * Used when a link is made without explicit URLs. Unset: CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL
   * of this process; null: none (a link then needs URLs of its own).
   */
  checkoutBaseUrls?: { successUrl: string; cancelUrl: string } | null;
  /**
   * A pending row younger than this is assumed to belong to a call still running (409); an older one
   * is a crashed attempt and is resumed. Default 3 minutes (`DEFAULT_IN_PROGRESS_WINDOW_MS`).
   */
  inProgressWindowMs?: number;
  now?: () => Date;
}

export interface CustomPlanService {
  createCustomEnterprisePlan(input: CreateCustomPlanInput): Promise<CustomPlanResult>;
  /** The derived idempotency key for an input (what is used when the caller passes none). */
  idempotencyKeyFor(input: CreateCustomPlanInput): string;
}

export interface CheckoutUrls {
  successUrl: string;
  cancelUrl: string;
}

/** What has been created in Stripe so far for one attempt; what compensation has to undo. */
export interface CreatedObjects {
  productId?: string;
  priceId?: string;
  checkoutSessionId?: string;
  /** A subscription this attempt moved onto the custom price, and the price it was on before. */
  switchedSubscription?: SwitchedSubscription;
}

export interface SwitchedSubscription {
  subscriptionId: string;
  itemId: string;
  previousPriceId: string;
}

/** A Stripe call through the rate limiter and error mapping. */
export type StripeCall = <T>(label: string, fn: () => Promise<T>) => Promise<T>;
