export interface RequestMatch {
  method?: string;
  /** A string matches the exact path or its route pattern (`/v1/products/:id`); a RegExp is tested against the path. */
  path?: string | RegExp;
}

export interface FaultSpec extends RequestMatch {
  status: 429 | 500 | 503;
  count?: number;
  retryAfterSeconds?: number;
  /**
   * Value of the `Stripe-Should-Retry` header. stripe-node only retries a 429
   * when this is `true`, and never retries when it is `false`, so the default
   * (true for 429, absent for 5xx) lets the SDK's retry logic kick in.
   */
  shouldRetry?: boolean;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
}

function matches(match: RequestMatch, method: string, path: string, pattern: string | undefined): boolean {
  if (match.method && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  if (match.path instanceof RegExp) {
    match.path.lastIndex = 0; // a /g regex would otherwise alternate between match and miss
    return match.path.test(path);
  }
  return match.path === path || match.path === pattern;
}

/** Scripted failures and delays, consumed by the server before a request reaches a handler. */
export class Faults {
  private faults: ActiveFault[] = [];
  private latencies: Array<RequestMatch & { ms: number }> = [];

  inject(fault: FaultSpec): void {
    this.faults.push({ ...fault, remaining: fault.count ?? 1 });
  }

  /** `injectLatency(0)` without a match removes all latency rules. */
  injectLatency(ms: number, match: RequestMatch = {}): void {
    if (ms <= 0 && match.method === undefined && match.path === undefined) {
      this.latencies = [];
      return;
    }
    this.latencies.push({ ...match, ms });
  }

  clear(): void {
    this.faults = [];
    this.latencies = [];
  }

  /** Consumes one use of the first matching fault, oldest first. */
  take(method: string, path: string, pattern?: string): FaultSpec | undefined {
    const fault = this.faults.find((f) => f.remaining > 0 && matches(f, method, path, pattern));
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  latencyFor(method: string, path: string, pattern?: string): number {
    return this.latencies.reduce((ms, l) => (matches(l, method, path, pattern) ? Math.max(ms, l.ms) : ms), 0);
  }

  pending(): Array<Omit<FaultSpec, 'path'> & { path?: string; remaining: number }> {
    return this.faults.map((f) => ({ ...f, path: f.path instanceof RegExp ? String(f.path) : f.path }));
  }
}

/** Per-endpoint request counts, ids normalised away so tests can assert on call patterns. */
export class RequestCounter {
  private counts: Record<string, number> = {};
  increment(key: string): void {
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    this.counts.total = (this.counts.total ?? 0) + 1;
  }
  snapshot(): Record<string, number> {
    return { total: 0, ...this.counts };
  }
  reset(): void {
    this.counts = {};
  }
}
