/**
 * The small key/value surface the library needs from a shared cache. Redis when REDIS_URL is set,
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
  /**
   * `setIfNewer` for many entries in one command (Redis: one script for the whole batch instead of
   * one per entry), applied in order, so of two entries for one key the higher version stays. One
   * result per entry: whether it was stored. Absent: callers fall back to `setIfNewer` per entry.
   */
  setManyIfNewer?(entries: readonly VersionedEntry[], ttlSeconds: number): Promise<boolean[]>;
  /**
   * `get`, then `decode` of the raw value, where the cache can keep what `decode` made of it (the
   * in-process cache does): a hit then costs no parse. `decode` must be pure and its result treated
   * as read-only, since later hits share it. Absent on Redis, whose values cross the network as text.
   */
  getDecoded?<T>(key: string, decode: (raw: string) => T): Promise<T | null>;
  /**
   * `get` plus how long the entry has left to live, read atomically (Redis: GET and PTTL in one
   * script), so a copy taken of it can expire with it. `ttlMs` is null for an entry without expiry.
   */
  getWithTtl?(key: string): Promise<{ raw: string; ttlMs: number | null } | null>;
  del(...keys: string[]): Promise<void>;
  /** Called with a count whenever entries are evicted to stay within the cache's memory budget (in-process cache). */
  onEvict?(listener: (count: number) => void): void;
  /** Entries held and their estimated bytes (in-process cache). */
  size?(): { entries: number; bytes: number };
  /**
   * A round trip that proves the cache answers (Redis PING, on the command connection and on the
   * bus's subscribed one, so a bus that stopped delivering is noticed too); absent where there is
   * nothing to prove.
   */
  ping?(): Promise<void>;
  /**
   * False while the cache is known to be unreachable (its connection is down). Checked before every
   * lookup, so an outage costs no timeout at all; a cache without a connection is always available.
   */
  available?(): boolean;
  /** Fan-out to every process sharing this cache; absent on the in-process cache, which has no peers. */
  readonly bus?: CacheBus;
  close(): Promise<void>;
}

/** Messages to every process on the same Redis (pub/sub): how in-process copies learn of writes elsewhere. */
export interface CacheBus {
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is live; `onMessage` then receives every later message on `channel`. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
  /**
   * Bumped whenever a connection (re)connects. Messages published while a connection was down are
   * lost, so an in-process copy made before the bump may be stale and must be dropped.
   */
  readonly generation: number;
}

/** One entry of `setManyIfNewer`. */
export interface VersionedEntry {
  key: string;
  version: number;
  value: string;
}

/** Entries written by setIfNewer are stored as "<version>|<value>". */
export function decodeVersioned(raw: string | null): { version: number; value: string } | null {
  if (raw === null) return null;
  const bar = raw.indexOf('|');
  if (bar < 0) return null;
  const version = Number(raw.slice(0, bar));
  return Number.isFinite(version) ? { version, value: raw.slice(bar + 1) } : null;
}
