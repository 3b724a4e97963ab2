export interface TtlCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export interface TtlCache<V> {
  /** The live value, or undefined when absent or expired. Counts as a use for LRU order. */
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  clear(): void;
  keys(): IterableIterator<string>;
  readonly size: number;
}

/**
 * Bounded LRU whose entries also expire: plan metadata edited in the Stripe dashboard must show
 * up without a restart even if nobody calls invalidatePlan, and memory must stay flat however
 * many prices exist.
 */
export function createTtlCache<V>(options: TtlCacheOptions): TtlCache<V> {
  const now = options.now ?? Date.now;
  const max = Math.max(1, options.maxEntries);
  const entries = new Map<string, { value: V; expiresAt: number }>();
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        entries.delete(key);
        return undefined;
      }
      // Map iteration order is insertion order, so re-inserting marks the entry most recently used.
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, { value, expiresAt: now() + options.ttlMs });
      while (entries.size > max) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
    },
    delete(key) {
      entries.delete(key);
    },
    clear() {
      entries.clear();
    },
    keys() {
      return entries.keys();
    },
    get size() {
      return entries.size;
    },
  };
}

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
