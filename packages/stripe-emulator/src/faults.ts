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
  /**
   * Every distinct request (method, path with its query, idempotency key) meets this fault once,
   * however many are in flight at once; `count` is ignored and the fault stays until cleared. Two
   * such faults in a row make each request fail twice and then pass, so a test's counts do not
   * depend on which of two concurrent requests reached the emulator first.
   */
  eachRequest?: boolean;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
  /** With `eachRequest`: the requests that met it. */
  met?: Set<string>;
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

/** Requests held by `holdRequests` until released. */
export interface RequestHold {
  /** Matching requests that arrived and are waiting (counted once each). */
  readonly held: number;
  /** Lets every waiting request go on, in arrival order, and stops holding new ones. */
  release(): void;
}

interface ActiveHold extends RequestMatch {
  waiting: Array<() => void>;
  arrived: number;
}

/** Scripted failures, delays and holds, consumed by the server before a request reaches a handler. */
export class Faults {
  private faults: ActiveFault[] = [];
  private latencies: Array<RequestMatch & { ms: number }> = [];
  private holds: ActiveHold[] = [];

  /**
   * Matching requests wait (after being counted, before latency and faults) until `release()`, so
   * a test can act at the exact moment a call is in flight instead of guessing it with a delay.
   */
  hold(match: RequestMatch = {}): RequestHold {
    const hold: ActiveHold = { ...match, waiting: [], arrived: 0 };
    this.holds.push(hold);
    return {
      get held() {
        return hold.arrived;
      },
      release: () => this.release(hold),
    };
  }

  /** Resolves at once unless a hold matches the request. */
  async waitIfHeld(method: string, path: string, pattern?: string): Promise<void> {
    const hold = this.holds.find((h) => matches(h, method, path, pattern));
    if (!hold) return;
    hold.arrived += 1;
    await new Promise<void>((resolve) => hold.waiting.push(resolve));
  }

  private release(hold: ActiveHold): void {
    this.holds = this.holds.filter((h) => h !== hold);
    for (const resolve of hold.waiting.splice(0)) resolve();
  }

  inject(fault: FaultSpec): void {
    this.faults.push({
      ...fault,
      remaining: fault.eachRequest ? Infinity : (fault.count ?? 1),
      ...(fault.eachRequest ? { met: new Set<string>() } : {}),
    });
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
    for (const hold of [...this.holds]) this.release(hold);
  }

  /**
   * Consumes one use of the first matching fault, oldest first. `requestKey` names the request for
   * `eachRequest` faults (one it already met is passed over).
   */
  take(
    method: string,
    path: string,
    pattern?: string,
    requestKey = `${method} ${path}`,
  ): FaultSpec | undefined {
    const fault = this.faults.find(
      (f) => f.remaining > 0 && matches(f, method, path, pattern) && !f.met?.has(requestKey),
    );
    if (!fault) return undefined;
    if (fault.met) {
      fault.met.add(requestKey);
      return fault;
    }
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault;
  }

  latencyFor(method: string, path: string, pattern?: string): number {
    return this.latencies.reduce((ms, l) => (matches(l, method, path, pattern) ? Math.max(ms, l.ms) : ms), 0);
  }

  pending(): Array<Omit<FaultSpec, 'path'> & { path?: string; remaining: number }> {
    return this.faults.map(({ met: _met, ...f }) => ({
      ...f,
      path: f.path instanceof RegExp ? String(f.path) : f.path,
    }));
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
