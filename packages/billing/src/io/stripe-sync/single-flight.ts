/**
 * Concurrent callers asking for the same key share one in-flight load, so a burst of requests
 * for a cold plan (e.g. many webhooks after a price change) costs one Stripe call, not N.
 */
export function createSingleFlight<V>() {
  const inflight = new Map<string, Promise<V>>();
  return {
    run(key: string, load: () => Promise<V>): Promise<V> {
      const existing = inflight.get(key);
      if (existing) return existing;
      const promise = load().finally(() => inflight.delete(key));
      inflight.set(key, promise);
      return promise;
    },
    /** Forget in-flight loads so a later call after invalidation fetches again. */
    clear(key?: string) {
      if (key === undefined) inflight.clear();
      else inflight.delete(key);
    },
  };
}
