import { ApiError } from './errors.js';

interface Saved {
  method: string;
  path: string;
  fingerprint: string;
  /** Undefined while the first request with this key is still being processed. */
  response?: { status: number; body: string };
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export type IdempotencyOutcome =
  | { kind: 'replay'; status: number; body: string }
  | { kind: 'proceed'; finish: (status: number, body: string) => void };

/**
 * Stripe's idempotency layer: keys are scoped to the API key; a completed
 * request is replayed verbatim; reuse with other parameters or another
 * endpoint is an `idempotency_error`. Only successful results are stored:
 * requests that failed validation or hit an injected fault may be retried
 * with the same key, which is exactly what the SDK's retries rely on.
 */
export class IdempotencyStore {
  private saved = new Map<string, Saved>();

  begin(apiKey: string, key: string, method: string, path: string, params: unknown): IdempotencyOutcome {
    const scoped = `${apiKey}\u0000${key}`;
    const fingerprint = JSON.stringify(canonical(params));
    const existing = this.saved.get(scoped);
    if (existing) {
      if (existing.method !== method || existing.path !== path) {
        throw new ApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${existing.method} ${existing.path}' vs '${method} ${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      }
      if (existing.fingerprint !== fingerprint) {
        throw new ApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      }
      if (!existing.response) {
        throw new ApiError(
          409,
          'idempotency_error',
          'There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ' +
            `${key}. Please try again later.`,
          'idempotency_key_in_use',
        );
      }
      return { kind: 'replay', ...existing.response };
    }
    const entry: Saved = { method, path, fingerprint };
    this.saved.set(scoped, entry);
    return {
      kind: 'proceed',
      finish: (status, body) => {
        if (status >= 200 && status < 300) entry.response = { status, body };
        else this.saved.delete(scoped);
      },
    };
  }

  reset(): void {
    this.saved.clear();
  }
}
