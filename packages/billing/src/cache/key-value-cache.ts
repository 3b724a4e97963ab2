/**
 * The small key/value surface the library needs from a cache. Redis when REDIS_URL is set,
 * an in-process LRU otherwise; both expire entries so a missed invalidation heals itself.
 */
export interface KeyValueCache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Stores `value` unless the entry already holds a higher version. Writers publish each committed
   * version and readers fill misses with what they read; the version check keeps a slow reader's
   * older read from overwriting a newer write.
   */
  setIfNewer(key: string, version: number, value: string, ttlSeconds: number): Promise<boolean>;
  del(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Entries written by setIfNewer are stored as "<version>|<value>". */
export function decodeVersioned(raw: string | null): { version: number; value: string } | null {
  if (raw === null) return null;
  const bar = raw.indexOf('|');
  if (bar < 0) return null;
  const version = Number(raw.slice(0, bar));
  return Number.isFinite(version) ? { version, value: raw.slice(bar + 1) } : null;
}
