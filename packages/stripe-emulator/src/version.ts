/**
 * The API version pinned by stripe-node v23. Objects are shaped for this version
 * (e.g. billing periods live on subscription items, invoices point at their
 * subscription through `parent.subscription_details`). Kept as a literal rather
 * than read from the SDK at runtime because `stripe` is only a dev dependency.
 */
export const API_VERSION = '2026-10-28.endive';
