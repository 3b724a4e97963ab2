import type { HttpErrorCode } from '../../core/error-codes.js';
import { isDatabaseUnavailable } from '../database-errors.js';
import { BillingError, CustomPlanError, type ErrorKind } from '../../core/errors.js';

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

/** The one status of each kind of library error. */
const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid_request: 400,
  not_found: 404,
  conflict: 409,
  upstream: 502,
  rate_limited: 503,
  internal: 500,
};

/** Typed library errors → HTTP status by their kind; anything unexpected is a 500 whose details stay in the log. */
export function errorResponse(error: unknown): {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
} {
  if (error instanceof HttpError)
    return { status: error.statusCode, body: body(error.code, error.message), headers: error.headers };
  if (error instanceof BillingError) return billingErrorResponse(error);
  const frameworkError = (error ?? {}) as FrameworkError;
  if (
    typeof frameworkError.statusCode === 'number' &&
    frameworkError.statusCode >= 400 &&
    frameworkError.statusCode < 500
  ) {
    const code =
      frameworkError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      frameworkError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'invalid_json'
        : frameworkError.statusCode === 413
          ? 'payload_too_large'
          : frameworkError.statusCode === 415
            ? 'unsupported_media_type'
            : 'bad_request';
    return {
      status: frameworkError.statusCode,
      body: body(code, frameworkError.message ?? 'Bad request'),
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

function billingErrorResponse(error: BillingError) {
  const status = STATUS_OF_KIND[error.kind];
  const headers: Record<string, string> = error.kind === 'rate_limited' ? { 'retry-after': '5' } : {};
  if (error instanceof CustomPlanError && error.kind !== 'conflict') {
    // Which step failed helps the operator; for our own failure the message carries internals,
    // which stay in the log like every other 500. (A conflict's code and message say what to do.)
    const message =
      error.kind === 'internal'
        ? `Custom plan creation failed at step "${error.step}"; whatever it created in Stripe was undone where that was safe. Details are in the server log.`
        : error.message;
    return { status, body: { error: { code: error.code, message, step: error.step } }, headers };
  }
  return { status, body: body(error.code, error.message, error.issues), headers };
}

function body(
  code: HttpErrorCode,
  message: string,
  issues?: { path: string; message: string }[],
): ApiErrorBody {
  return { error: { code, message, ...(issues ? { issues } : {}) } };
}

/** How a browser's part of the server (the console) answers its 404 and 405: as pages, not JSON. */
export interface ErrorPages {
  /** Paths under this prefix are a browser's (the console's): their 404 and 405 are pages, not JSON. */
  prefix: string;
  /** The whole answer: headers and an HTML document. */
  render(status: number, message: string): { headers: Record<string, string>; html: string };
}
