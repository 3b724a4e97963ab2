// '@packages/billing/openfeature': the OpenFeature server provider (in-process evaluation through
// the feature reader, change events, track() to usage). It loads the optional peer dependency
// @openfeature/server-sdk, which the host installs: OpenFeature's API is a process-wide singleton,
// so the provider must use the host's copy. The OFREP endpoints need no SDK and are in the core.
export { BillingProvider, type BillingProviderOptions } from './entry/openfeature/provider.js';
export { remainingFromUsage } from './entry/openfeature/usage.js';
export type { FeatureChange, FeatureChangeListener } from './io/feature-cache/index.js';
