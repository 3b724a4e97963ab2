import { LRUCache } from 'lru-cache';

export interface TtlCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** Clock in milliseconds (tests move it by hand). */
  now?: () => number;
}

/** The in-process cache every part of the library uses: lru-cache, bounded by entries and expiring by age. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- lru-cache's own bound on values (non-nullish)
export type TtlCache<V extends {}> = LRUCache<string, V>;

/**
 * Bounded LRU whose entries also expire: plan metadata edited in the Stripe dashboard must show up
 * without a restart even if nobody invalidates it, and memory must stay flat however many keys exist.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- lru-cache's own bound on values (non-nullish)
export function createTtlCache<V extends {}>(options: TtlCacheOptions): TtlCache<V> {
  return new LRUCache<string, V>({
    max: Math.max(1, options.maxEntries),
    ttl: Math.max(1, options.ttlMs),
    // A hand-moved clock must be read on every check, not cached for ttlResolution.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
}
