import { decideFromTruth, type TenantEventRule } from '../../../core/index.js';

/**
 * customer.subscription.* (created, updated, deleted, paused, resumed, pending_update_applied,
 * pending_update_expired): the payload only says "something changed for this customer", since
 * events arrive out of order and late. The customer's subscriptions are read afresh and decided from.
 */
export const subscriptionChanged: TenantEventRule = {
  subscriptionEvent: true,
  needsTruth: () => true,
  decide: (_event, state, facts, f) => decideFromTruth(state, facts.truth!, f),
};
