/**
 * Everything OpenFeature: the OFREP endpoints and the evaluation they share (also exported by the
 * package root), and the server provider, which needs the peer `@openfeature/server-sdk` and so is
 * exported apart from the root, by '@packages/billing/openfeature'.
 */
export * from './http.js';
export { BillingProvider, type BillingProviderOptions } from './provider.js';
