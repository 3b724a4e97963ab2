// '@packages/billing/testing': the Stripe emulator, for the host's own tests (driven by the real
// `stripe` SDK: point it at `emulator.url` with STRIPE_API_BASE or the SDK's host/port/protocol).
export * from '@packages/stripe-emulator';
