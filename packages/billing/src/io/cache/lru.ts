import { LRUCache } from 'lru-cache';

export interface TtlCacheOptions<V> {
  ttlMs: number;
  /** Bound on the number of entries; required unless `maxBytes` bounds the cache. */
  maxEntries?: number;
  /** Memory budget: the sum of `sizeOf` over the entries held. */
  maxBytes?: number;
  /** Estimated bytes of one entry (with `maxBytes`). */
  sizeOf?: (value: V, key: string) => number;
  /** Called for every entry evicted to stay within the bounds (not for expiry, delete or replace). */
  onEvict?: () => void;
  /** Clock in milliseconds (tests move it by hand). */
  now?: () => number;
}

/** The in-process cache every part of the library uses: lru-cache, bounded by entries and/or bytes and expiring by age. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- lru-cache's own bound on values (non-nullish)
export type TtlCache<V extends {}> = LRUCache<string, V>;

/**
 * Bounded LRU whose entries also expire: plan metadata edited in the Stripe dashboard must show up
 * without a restart even if nobody invalidates it, and memory must stay flat however many keys exist.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- lru-cache's own bound on values (non-nullish)
export function createTtlCache<V extends {}>(options: TtlCacheOptions<V>): TtlCache<V> {
  const { maxBytes, sizeOf, onEvict } = options;
  if (options.maxEntries === undefined && maxBytes === undefined)
    throw new RangeError('createTtlCache needs maxEntries or maxBytes');
  const lru: LRUCache.OptionsBase<string, V, unknown> = {
    ttl: Math.max(1, options.ttlMs),
    // A hand-moved clock must be read on every check, not cached for ttlResolution.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  };
  if (options.maxEntries !== undefined) lru.max = Math.max(1, options.maxEntries);
  if (maxBytes !== undefined) {
    lru.maxSize = Math.max(1024, maxBytes);
    lru.sizeCalculation = sizeOf ?? (() => 1);
  }
  if (onEvict) lru.dispose = (_value, _key, reason) => reason === 'evict' && onEvict();
  // max or maxSize is set (checked above), which is what the union type asks for.
  return new LRUCache<string, V>(lru as LRUCache.Options<string, V, unknown>);
}
