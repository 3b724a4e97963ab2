import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { StripeCall, SubscriptionState } from '../../io/stripe-sync/index.js';
import type { PlanDefaults } from '../../core/types.js';

/** What the handler needs from the stripe-sync service (structural, so tests can wrap it). */
export interface WebhookStripeSync {
  getSubscriptionState(customerId: string): Promise<SubscriptionState>;
  getPlanDefaultsFromStripe(planId: string): Promise<PlanDefaults>;
  invalidatePlan(id?: string): void | Promise<void>;
  /** Forget cached attached Stripe Features (only services whose plan source reads them have any). */
  invalidateAttachedFeatures?(): void | Promise<void>;
  call: StripeCall;
}

/** What the handler needs from the feature-sync service. */
export interface WebhookFeatureSync {
  stripeSync: WebhookStripeSync;
  reader: Pick<FeatureReader, 'publish'>;
}

export interface TrialWillEndInfo {
  tenantId: string;
  subscriptionId: string;
  trialEnd: Date | null;
}

export type WebhookLog = (line: string, fields: Record<string, unknown>) => void;
