export interface CircuitBreakerOptions {
  /** How long the breaker stays open before one call may probe the dependency again (default 1 s). */
  retryAfterMs?: number;
  now?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker for the cache: after a failure, calls skip the dependency (the caller uses its
 * fallback at once) until `retryAfterMs` has passed; then exactly one call probes it, and its
 * success closes the breaker while its failure opens it again. So a dead or frozen Redis costs one
 * command timeout per `retryAfterMs`, not one per lookup.
 */
export interface CircuitBreaker {
  /** May the caller use the dependency now? True when closed, and for the single probe after the wait. */
  allow(): boolean;
  /** Report the outcome of a call that allow() let through. */
  success(): void;
  failure(): void;
  readonly state: BreakerState;
  /** Times the breaker closed again after being open (callers compare it to drop state kept meanwhile). */
  readonly recoveries: number;
}

export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const retryAfterMs = options.retryAfterMs ?? 1_000;
  const now = options.now ?? Date.now;
  let state: BreakerState = 'closed';
  let openedAt = 0;
  let recoveries = 0;
  return {
    allow() {
      if (state === 'closed') return true;
      if (state === 'open' && now() - openedAt >= retryAfterMs) {
        state = 'half-open';
        return true;
      }
      return false;
    },
    success() {
      // Only the probe closes it: a slow call that started before the failure proves nothing.
      if (state !== 'half-open') return;
      state = 'closed';
      recoveries += 1;
    },
    failure() {
      state = 'open';
      openedAt = now();
    },
    get state() {
      return state;
    },
    get recoveries() {
      return recoveries;
    },
  };
}
