import type { HttpErrorCode } from '../error-codes.js';
import { isDatabaseUnavailable } from '../database-errors.js';
import {
  BillingError,
  ConcurrencyError,
  CustomerAlreadyLinkedError,
  CustomPlanError,
  FeatureAlreadyExistsError,
  FeatureNotFoundError,
  IdempotencyConflictError,
  ReservationExpiredError,
  ReservationNotFoundError,
  UsageAlertNotFoundError,
  TenantAlreadyExistsError,
  MetadataError,
  EntitlementFeatureError,
  PlanNotFoundError,
  StripeApiError,
  StripeRateLimitError,
  TenantNotFoundError,
  UnknownFeatureError,
  ValidationError,
  WebhookEventNotFoundError,
} from '../errors.js';

// The one error shape of every HTTP surface (admin API, console, host adapters, the server's own
// errors): domain errors map to a status here, once. No HTTP framework is imported, so the
// adapters and the console can use it without loading the server.

/** The parts of a framework's own request error (Fastify's FST_ERR_*, a body parser's 4xx) we read. */
interface FrameworkError {
  statusCode?: unknown;
  code?: unknown;
  message?: string;
}

export interface ApiErrorBody {
  error: {
    code: HttpErrorCode;
    message: string;
    issues?: { path: string; message: string }[];
    step?: string;
  };
}

/** An HTTP error with our `{ error: { code, message } }` body, thrown from handlers and hooks. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Typed library errors → HTTP status; anything unexpected is a 500 whose details stay in the log. */
export function errorResponse(error: unknown): {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
} {
  const body = (
    code: HttpErrorCode,
    message: string,
    issues?: { path: string; message: string }[],
  ): ApiErrorBody => ({
    error: { code, message, ...(issues ? { issues } : {}) },
  });
  if (error instanceof HttpError)
    return { status: error.statusCode, body: body(error.code, error.message), headers: error.headers };
  if (error instanceof ValidationError)
    return { status: 400, body: body(error.code, error.message, error.issues), headers: {} };
  if (error instanceof UnknownFeatureError) {
    return {
      status: 400,
      body: body(error.code, error.message, [{ path: error.context, message: error.message }]),
      headers: {},
    };
  }
  if (
    error instanceof TenantAlreadyExistsError ||
    error instanceof CustomerAlreadyLinkedError ||
    error instanceof FeatureAlreadyExistsError ||
    error instanceof IdempotencyConflictError ||
    error instanceof ReservationExpiredError
  ) {
    return { status: 409, body: body(error.code, error.message), headers: {} };
  }
  if (
    error instanceof TenantNotFoundError ||
    error instanceof PlanNotFoundError ||
    error instanceof FeatureNotFoundError ||
    error instanceof WebhookEventNotFoundError ||
    error instanceof ReservationNotFoundError ||
    error instanceof UsageAlertNotFoundError
  ) {
    return { status: 404, body: body(error.code, error.message), headers: {} };
  }
  if (error instanceof CustomPlanError) {
    // Stripe refused or failed: our gateway problem (502).
    const stripeSide = error.code.startsWith('stripe_') || error.cause instanceof StripeApiError;
    if (stripeSide)
      return {
        status: 502,
        body: { error: { code: error.code, message: error.message, step: error.step } },
        headers: {},
      };
    // Our own failure (database, unexpected error): not a conflict the caller could resolve, and its
    // message carries internals, which stay in the log like every other 500.
    if (error.code === 'custom_plan_failed') {
      const message = `Custom plan creation failed at step "${error.step}"; whatever it created in Stripe was undone where that was safe. Details are in the server log.`;
      return { status: 500, body: { error: { code: error.code, message, step: error.step } }, headers: {} };
    }
    // A conflict the caller resolves (another attempt, an idempotency key reused for another plan):
    // the code and message say what to do; the internal step adds nothing to that.
    return { status: 409, body: body(error.code, error.message), headers: {} };
  }
  if (error instanceof StripeRateLimitError)
    return { status: 503, body: body(error.code, error.message), headers: { 'retry-after': '5' } };
  if (error instanceof StripeApiError)
    return { status: 502, body: body(error.code, error.message), headers: {} };
  if (error instanceof MetadataError || error instanceof EntitlementFeatureError)
    return { status: 502, body: body(error.code, error.message), headers: {} };
  if (error instanceof ConcurrencyError)
    return { status: 409, body: body(error.code, error.message), headers: {} };
  if (error instanceof BillingError)
    return { status: 400, body: body(error.code, error.message), headers: {} };
  const fastifyError = (error ?? {}) as FrameworkError;
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    const code =
      fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'invalid_json'
        : fastifyError.statusCode === 413
          ? 'payload_too_large'
          : fastifyError.statusCode === 415
            ? 'unsupported_media_type'
            : 'bad_request';
    return {
      status: fastifyError.statusCode,
      body: body(code, fastifyError.message ?? 'Bad request'),
      headers: {},
    };
  }
  if (isDatabaseUnavailable(error)) {
    // The request was fine; PostgreSQL did not answer in time (or at all). Retry later, elsewhere.
    return {
      status: 503,
      body: body('database_unavailable', 'The database did not answer in time; retry shortly'),
      headers: { 'retry-after': '5' },
    };
  }
  return { status: 500, body: body('internal_error', 'Internal server error'), headers: {} };
}
