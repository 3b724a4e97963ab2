/*
 * The closed sets of codes the library hands out, as runtime lists with their types derived from
 * them: a caller can `switch` on a code exhaustively (the compiler rejects an unknown one), and the
 * docs' tables are tested against these lists (test/unit/closed-codes.test.ts).
 */

/** Every `code` a BillingError (or a subclass) can carry. */
export const BILLING_ERROR_CODES = [
  // validation and configuration
  'validation_error',
  'invalid_metadata',
  'invalid_entitlement_feature',
  'unknown_feature',
  'deprecated_feature',
  'checkout_not_configured',
  // lookups and conflicts
  'plan_not_found',
  'tenant_not_found',
  'tenant_exists',
  'feature_not_found',
  'event_not_found',
  'sync_run_not_found',
  'sync_in_progress',
  'feature_exists',
  'customer_already_linked',
  'concurrent_update',
  // webhooks
  'invalid_signature',
  'invalid_payload',
  // custom plans
  'custom_plan_in_progress',
  'custom_plan_state_changed',
  'custom_plan_failed',
  'customer_already_subscribed',
  'idempotency_conflict',
  'stripe_request_failed',
  'stripe_subscription_not_switched',
  // metered features (usage)
  'feature_not_metered',
  'reservation_not_found',
  'reservation_expired',
  'usage_alert_not_found',
  // Stripe refused or failed (StripeApiError and its subclasses)
  'stripe_authentication_failed',
  'stripe_permission_denied',
  'stripe_rate_limited',
  'stripe_connection_failed',
  'stripe_idempotency_key_in_use',
  'stripe_resource_missing',
  'stripe_invalid_request',
  'stripe_api_error',
] as const;

export type BillingErrorCode = (typeof BILLING_ERROR_CODES)[number];

/** The codes of StripeApiError and its subclasses. */
export type StripeErrorCode = Extract<BillingErrorCode, `stripe_${string}`>;

/**
 * Codes only the HTTP layer answers with (routing, parsing, authentication, readiness, the
 * adapters' guards); never carried by a BillingError.
 */
export const HTTP_ONLY_ERROR_CODES = [
  'bad_request',
  'bad_url',
  'invalid_json',
  'body_already_parsed',
  'body_already_read',
  'payload_too_large',
  'unsupported_media_type',
  'headers_too_large',
  'request_timeout',
  'uri_too_long',
  'not_found',
  'method_not_allowed',
  'unauthorized',
  'forbidden',
  'tenant_not_resolved',
  'feature_not_enabled',
  'not_configured',
  'not_ready',
  'database_unavailable',
  'internal_error',
] as const;

/** Every code of an error answer `{ "error": { "code", "message" } }`: a BillingError's, or the HTTP layer's. */
export type HttpErrorCode = BillingErrorCode | (typeof HTTP_ONLY_ERROR_CODES)[number];

export const HTTP_ERROR_CODES: readonly HttpErrorCode[] = [...BILLING_ERROR_CODES, ...HTTP_ONLY_ERROR_CODES];

/**
 * Why a bulk sync (`syncAllTenantsFromStripe`, so `npm run migrate-stripe-metadata-to-db`) left a
 * tenant alone: `SyncResult.reason` of a skip, the keys of `SyncSummary.skipped`.
 */
export const SYNC_SKIP_REASONS = [
  'no_tenant',
  'no_customer',
  'customer_mismatch',
  'duplicate_customer',
  'no_active_subscription',
  'custom_config',
  'plan_for_other_tenant',
  'tenant_not_found',
  'stale_read',
  'aborted',
] as const;

export type SyncSkipReason = (typeof SYNC_SKIP_REASONS)[number];

/**
 * `SyncResult.reason`: a skip, the no-op `up_to_date`, or a failure's code (a BillingError's, or
 * `write_failed` for anything else thrown while writing).
 */
export type SyncReason = SyncSkipReason | 'up_to_date' | BillingErrorCode | 'write_failed';

/** Why `reconcileTenants` did not check a tenant: `ReconcileSkip.reason`. */
export const RECONCILE_SKIP_REASONS = [
  'unlinked',
  'no_tenant',
  'customer_mismatch',
  'duplicate_customer',
  'plan_for_other_tenant',
] as const;

export type ReconcileSkipReason = (typeof RECONCILE_SKIP_REASONS)[number];

/** `ReconcileFailure.code`: a BillingError's code, or `internal_error` for anything else. */
export type ReconcileFailureCode = BillingErrorCode | 'internal_error';
