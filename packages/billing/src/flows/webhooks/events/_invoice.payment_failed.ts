import { decidePaymentFailed, type TenantEventRule } from '../../../core/index.js';

/** invoice.payment_failed: starts the grace period, unless the newest invoice is paid meanwhile. */
export const paymentFailed: TenantEventRule = {
  subscriptionEvent: false,
  invoiceOf: (event) => event.subscriptionId,
  needsTruth: () => false,
  decide(event, state, facts, f) {
    const sub = event.subscriptionId;
    if (!sub) return { skip: 'not_subscription_invoice' };
    return decidePaymentFailed(state, { newestInvoicePaid: facts.invoicePaid.get(sub) ?? false }, f);
  },
};
