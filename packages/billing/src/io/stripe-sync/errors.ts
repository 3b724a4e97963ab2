import {
  BillingError,
  StripeApiError,
  StripeAuthenticationError,
  StripeConnectionError,
  StripeInvalidRequestError,
  StripeNotFoundError,
  StripeRateLimitError,
  StripeServerError,
} from '../../core/errors.js';

/** The parts of a `stripe.errors.StripeError` we rely on; read structurally so two copies of the SDK still map. */
interface StripeSdkErrorLike {
  type: string;
  message: string;
  code?: string;
  statusCode?: number;
  requestId?: string;
  headers?: Record<string, string | string[] | undefined>;
}

function asSdkError(error: unknown): StripeSdkErrorLike | null {
  if (!(error instanceof Error)) return null;
  const type = (error as { type?: unknown }).type;
  return typeof type === 'string' && type.startsWith('Stripe')
    ? (error as unknown as StripeSdkErrorLike)
    : null;
}

/**
 * SDK error → our typed error, keeping Stripe's request id and HTTP status so a failure can be
 * quoted to Stripe support. Anything that is not a Stripe SDK error (a bug of ours) passes through.
 */
export function mapStripeError(error: unknown, label: string): unknown {
  if (error instanceof BillingError) return error;
  const e = asSdkError(error);
  if (!e) return error;
  const message = `Stripe ${label} failed: ${e.message || e.type}`;
  const args = [e.statusCode, e.requestId, { cause: error }] as const;
  switch (e.type) {
    case 'StripeAuthenticationError':
      return new StripeAuthenticationError('stripe_authentication_failed', message, ...args);
    case 'StripePermissionError':
      return new StripeAuthenticationError('stripe_permission_denied', message, ...args);
    case 'StripeRateLimitError':
      return new StripeRateLimitError('stripe_rate_limited', message, ...args);
    case 'StripeConnectionError':
      return new StripeConnectionError('stripe_connection_failed', message, ...args);
    case 'StripeInvalidRequestError':
    case 'StripeIdempotencyError':
      // Another request with the same key is still running at Stripe: worth retrying once it is done.
      if (e.code === 'idempotency_key_in_use')
        return new StripeServerError('stripe_idempotency_key_in_use', message, ...args);
    // falls through: any other invalid request is classified like a card error below
    case 'StripeCardError':
      if (e.code === 'resource_missing' || e.statusCode === 404) {
        return new StripeNotFoundError('stripe_resource_missing', message, ...args);
      }
      return new StripeInvalidRequestError('stripe_invalid_request', message, ...args);
    default:
      return new StripeServerError('stripe_api_error', message, ...args);
  }
}

/** Rate limits, Stripe-side failures and lost connections are worth another try; our own mistakes are not. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof StripeRateLimitError || error instanceof StripeConnectionError) return true;
  if (error instanceof StripeServerError) {
    return (
      error.code === 'stripe_idempotency_key_in_use' ||
      error.statusCode === undefined ||
      error.statusCode >= 500
    );
  }
  if (error instanceof StripeApiError) return error.statusCode !== undefined && error.statusCode >= 500;
  return false;
}

/** Retry-After in milliseconds (seconds or an HTTP date), or null when the response did not say. */
export function retryAfterMs(error: unknown, nowMs: number = Date.now()): number | null {
  const cause = error instanceof Error ? error.cause : undefined;
  const headers = asSdkError(cause)?.headers ?? asSdkError(error)?.headers;
  const raw = headers?.['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.trim() === '') return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
