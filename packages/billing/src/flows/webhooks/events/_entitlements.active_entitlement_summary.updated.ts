import type { TenantEventRule } from '../../../core/index.js';
import { subscriptionChanged } from './_customer.subscription.js';

/**
 * Stripe's Entitlements announcement: its payload lists at most 10 entitlements and it is not sent
 * on trial end or pause, so it is only a signal to re-read the customer, like a subscription event.
 * Stripe sends no event when a Feature is attached to or detached from a product, only this summary
 * per affected customer, so the cached attachments are read afresh too.
 */
export const entitlementSummaryUpdated: TenantEventRule = {
  ...subscriptionChanged,
  refreshesAttachedFeatures: true,
};
