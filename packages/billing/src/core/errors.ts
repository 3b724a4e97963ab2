import type { BillingErrorCode, StripeErrorCode } from './error-codes.js';

/**
 * What kind of failure an error is, for whoever reports it: the HTTP layer answers one status per
 * kind (http/error-response.ts), as stripe-node's errors carry their type.
 * - `invalid_request`: the caller's input (the default);
 * - `not_found`: the tenant, plan, feature, event or reservation named does not exist;
 * - `conflict`: the state the caller asked for clashes with what is there (retry or choose another);
 * - `upstream`: Stripe refused or failed, or its objects cannot be read as features;
 * - `rate_limited`: our share of Stripe's rate limit is spent; retry shortly;
 * - `internal`: our own failure; details stay in the log.
 */
export type ErrorKind =
  'invalid_request' | 'not_found' | 'conflict' | 'upstream' | 'rate_limited' | 'internal';

/**
 * Every error the library throws on purpose is a BillingError with a stable `code`, one of
 * BILLING_ERROR_CODES, so callers (and the HTTP layer) can branch on it without parsing messages,
 * and a `kind` that says which sort of failure it is.
 */
export class BillingError extends Error {
  readonly code: BillingErrorCode;
  readonly kind: ErrorKind = 'invalid_request';
  /** Which fields were wrong, where the error can say. */
  declare readonly issues?: { path: string; message: string }[];
  constructor(code: BillingErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad or inconsistent input from a caller (admin API body, CLI flag, service argument). */
export class ValidationError extends BillingError {
  declare readonly issues: { path: string; message: string }[];
  constructor(message: string, issues: { path: string; message: string }[] = []) {
    super('validation_error', message);
    this.issues = issues;
  }
}

/** Stripe product/price metadata that cannot be turned into features. Names the object and the field. */
export class MetadataError extends BillingError {
  override readonly kind = 'upstream';
  constructor(
    readonly objectType: 'product' | 'price',
    readonly objectId: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super('invalid_metadata', `Invalid ${objectType} metadata on ${objectId}: field "${field}" ${reason}`);
  }
}

/** A Stripe Feature attached to a product that cannot be turned into a feature. Names the product and the Feature. */
export class EntitlementFeatureError extends BillingError {
  override readonly kind = 'upstream';
  constructor(
    readonly productId: string,
    readonly featureId: string,
    readonly lookupKey: string,
    readonly reason: string,
  ) {
    super(
      'invalid_entitlement_feature',
      `Invalid Stripe Feature ${featureId} (lookup_key ${JSON.stringify(lookupKey)}) attached to product ${productId}: ${reason}`,
    );
  }
}

/** A feature key that is not in the feature catalog, or a value of the wrong type for its key. */
export class UnknownFeatureError extends BillingError {
  declare readonly issues: { path: string; message: string }[];
  constructor(
    readonly featureKey: string,
    readonly context: string,
  ) {
    super(
      'unknown_feature',
      `Unknown feature key "${featureKey}" (${context}); add it to the feature catalog first`,
    );
    this.issues = [{ path: context, message: this.message }];
  }
}

export class PlanNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly planId: string) {
    super('plan_not_found', `No Stripe product, price or price lookup_key matches plan "${planId}"`);
  }
}

export class TenantNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  /** `detail` adds what happened meanwhile (e.g. a custom plan's cleanup after its tenant was deleted). */
  constructor(
    readonly tenantId: string,
    detail?: string,
  ) {
    super('tenant_not_found', `Tenant "${tenantId}" does not exist${detail ? `; ${detail}` : ''}`);
  }
}

/** An optimistic-concurrency write lost too many times in a row. */
export class ConcurrencyError extends BillingError {
  override readonly kind = 'conflict';
  constructor(
    readonly tenantId: string,
    readonly attempts: number,
  ) {
    super(
      'concurrent_update',
      `Tenant "${tenantId}" feature config changed concurrently ${attempts} times; giving up`,
    );
  }
}

/** Base of errors that come from calling Stripe. Carries Stripe's request id for support tickets. */
export class StripeApiError extends BillingError {
  declare readonly code: StripeErrorCode;
  override readonly kind: ErrorKind = 'upstream';
  constructor(
    code: StripeErrorCode,
    message: string,
    readonly statusCode: number | undefined,
    readonly requestId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
export class StripeAuthenticationError extends StripeApiError {}
export class StripeRateLimitError extends StripeApiError {
  override readonly kind = 'rate_limited';
}
export class StripeNotFoundError extends StripeApiError {}
export class StripeConnectionError extends StripeApiError {}
export class StripeInvalidRequestError extends StripeApiError {}
export class StripeServerError extends StripeApiError {}

export class WebhookSignatureError extends BillingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_signature', message, options);
  }
}

export class WebhookPayloadError extends BillingError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_payload', message, options);
  }
}

/**
 * A custom plan that could not be made. Stripe refusing or failing is `upstream`; our own failure
 * (`custom_plan_failed`: database, unexpected error) `internal`; anything else a `conflict` the
 * caller resolves (another attempt running, an idempotency key reused for another plan).
 */
export class CustomPlanError extends BillingError {
  override readonly kind: ErrorKind;
  constructor(
    code: BillingErrorCode,
    message: string,
    readonly step: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.kind =
      code.startsWith('stripe_') || options?.cause instanceof StripeApiError
        ? 'upstream'
        : code === 'custom_plan_failed'
          ? 'internal'
          : 'conflict';
  }
}

/** A feature key that is in the catalog but deprecated: stored values stay readable, new overrides refuse it. */
export class DeprecatedFeatureError extends BillingError {
  constructor(
    readonly featureKey: string,
    readonly context: string,
  ) {
    super(
      'deprecated_feature',
      `Feature key "${featureKey}" is deprecated (${context}); existing values stay readable but it cannot be set anew`,
    );
  }
}

/** Catalog management: the key (or one differing only in case) is already registered. */
export class FeatureAlreadyExistsError extends BillingError {
  override readonly kind = 'conflict';
  constructor(
    readonly featureKey: string,
    readonly existingKey: string,
  ) {
    super(
      'feature_exists',
      existingKey === featureKey
        ? `Feature key "${featureKey}" is already in the catalog`
        : `Feature key "${featureKey}" differs only in case from "${existingKey}", which is already in the catalog`,
    );
  }
}

/** Catalog management: changing a key that is not in the catalog. */
export class FeatureNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly featureKey: string) {
    super('feature_not_found', `Feature key "${featureKey}" is not in the feature catalog`);
  }
}

/** Admin API: a webhook event id that was never received. */
export class WebhookEventNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly eventId: string) {
    super('event_not_found', `No webhook event "${eventId}" was received`);
  }
}

/** Admin API: a sync run id that no run has (never started, or pruned). */
export class SyncRunNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly runId: string) {
    super('sync_run_not_found', `No sync run "${runId}" (never started, or older than the retention)`);
  }
}

/** A full sync was asked for while another is running (on any instance): names that run. */
export class SyncInProgressError extends BillingError {
  override readonly kind = 'conflict';
  constructor(
    readonly runId: string,
    readonly startedAt: string,
    readonly heartbeatAt: string,
    staleAfterMs: number,
  ) {
    super(
      'sync_in_progress',
      `A full sync is already running: run ${runId}, started ${startedAt}, last heartbeat ${heartbeatAt} ` +
        `(a run silent for ${Math.round(staleAfterMs / 1000)} s counts as abandoned); follow it at GET /api/admin/sync/runs/${runId}`,
    );
  }
}

export class TenantAlreadyExistsError extends BillingError {
  override readonly kind = 'conflict';
  constructor(readonly tenantId: string) {
    super('tenant_exists', `Tenant "${tenantId}" already exists`);
  }
}

/** A Stripe customer can belong to one tenant only. */
export class CustomerAlreadyLinkedError extends BillingError {
  override readonly kind = 'conflict';
  constructor(
    readonly customerId: string,
    readonly linkedTenantId: string,
  ) {
    super(
      'customer_already_linked',
      `Stripe customer "${customerId}" is already linked to tenant "${linkedTenantId}"; unlink it there first`,
    );
  }
}

/** A custom plan should hand out a checkout link but no success/cancel URL was given or configured. */
export class CheckoutNotConfiguredError extends BillingError {
  constructor() {
    super(
      'checkout_not_configured',
      'No checkout URLs: pass successUrl and cancelUrl, set CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL, or pass createCheckoutSession: false',
    );
  }
}

/** Usage: the key is in the catalog but not metered (it has no `usage` rules). */
export class FeatureNotMeteredError extends BillingError {
  constructor(readonly featureKey: string) {
    super(
      'feature_not_metered',
      `Feature key "${featureKey}" is not metered; give it usage rules (reset, overage) in the catalog first`,
    );
  }
}

/** Usage: finalize or release of a reservation that does not exist (never made, or already settled). */
export class ReservationNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly reservationId: string) {
    super(
      'reservation_not_found',
      `No open usage reservation "${reservationId}" (finalized, released or never made)`,
    );
  }
}

/** Usage: finalize of a reservation past its ttl; its amount was returned, nothing was charged. */
export class ReservationExpiredError extends BillingError {
  override readonly kind = 'conflict';
  constructor(readonly reservationId: string) {
    super(
      'reservation_expired',
      `Usage reservation "${reservationId}" expired before it was finalized; its amount was returned and nothing was charged`,
    );
  }
}

/** Admin API: replay of a usage alert id that does not exist. */
export class UsageAlertNotFoundError extends BillingError {
  override readonly kind = 'not_found';
  constructor(readonly alertId: number) {
    super('usage_alert_not_found', `No usage alert ${alertId}`);
  }
}

/** An idempotency key reused for a different request (another key, amount or operation). */
export class IdempotencyConflictError extends BillingError {
  override readonly kind = 'conflict';
  constructor(readonly idempotencyKey: string) {
    super(
      'idempotency_conflict',
      `Idempotency key "${idempotencyKey}" was already used for a different request; use a new key`,
    );
  }
}

/** The message of anything thrown (an Error's message, else its string form). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
