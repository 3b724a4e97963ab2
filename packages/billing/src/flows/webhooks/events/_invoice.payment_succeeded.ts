import { decidePaymentSucceeded, type TenantEventRule } from '../../../core/index.js';

/**
 * invoice.payment_succeeded: ends the failure streak if the subscription's newest invoice is paid.
 * A tenant whose access was cut also needs the subscription truth, to restore it by the same rules
 * as a subscription event.
 */
export const paymentSucceeded: TenantEventRule = {
  subscriptionEvent: false,
  invoiceOf: (event) => event.subscriptionId,
  needsTruth: (event, state, invoicePaid) =>
    event.subscriptionId !== null &&
    state !== null &&
    !state.accessActive &&
    invoicePaid.get(event.subscriptionId) !== false,
  decide(event, state, facts, f) {
    const sub = event.subscriptionId;
    if (!sub) return { skip: 'not_subscription_invoice' };
    const paid = facts.invoicePaid.get(sub) ?? true;
    const truth = state !== null && !state.accessActive && paid ? facts.truth : null;
    return decidePaymentSucceeded(state, { newestInvoicePaid: paid, truth }, f);
  },
};
