import type { PrismaClient } from '@packages/db';
import {
  createCircuitBreaker,
  decodeVersioned,
  createTtlCache,
  DEFAULT_CACHE_MEMORY_MB,
  type CircuitBreaker,
  type KeyValueCache,
} from '../cache/index.js';
import type { TenantFeatureState } from '../core/index.js';
import { toState } from '../tenant-store/index.js';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import { createRequestBatcher } from '../request-batcher.js';
import type { FeatureMap } from '../types.js';

/** What the application reads to decide what a tenant may do. */
export interface TenantFeatures {
  tenantId: string;
  features: FeatureMap;
  bundle: string | null;
  scrapeIntervalHours: number | null;
  accessActive: boolean;
  subscriptionStatus: string | null;
  source: TenantFeatureState['source'];
  version: number;
  /**
   * Keys whose value is a tenant override rather than the plan's (sorted); OpenFeature answers
   * carry it as the value's source. Absent on entries cached before it was added: read as none.
   */
  overridden?: string[];
}

export interface FeatureReaderStats {
  /** Lookups answered by a cache tier (in-process or shared). */
  hits: number;
  /** Of those, answered by the in-process tier without leaving the process. */
  localHits: number;
  misses: number;
  /** Cache operations that failed (e.g. Redis timed out); the read was served from the database. */
  cacheErrors: number;
  /** Lookups and publishes that skipped the cache because it was down or the breaker was open. */
  bypassed: number;
  /**
   * Lookups answered from the database after an outage instead of from a shared entry that may
   * predate a write made during it (see `createFeatureReader`, "Outages").
   */
  revalidated: number;
}

export interface FeatureReader {
  getTenantFeatures(tenantId: string): Promise<TenantFeatures | null>;
  /** True when the feature is on (boolean true, or a number above zero). Unknown tenant or key → false. */
  isFeatureEnabled(tenantId: string, key: string): Promise<boolean>;
  /** Called after a write commits: puts the committed version in every tier and tells the other instances. */
  publish(states: TenantFeatureState[]): Promise<void>;
  invalidate(...tenantIds: string[]): Promise<void>;
  /**
   * Calls `listener` for every change this reader learns of: a publish or invalidation made through
   * it, and (with Redis) every other instance's change message. The same change can be reported
   * twice (our own message comes back on the bus): compare versions. Returns the unsubscribe.
   */
  onChange?(listener: FeatureChangeListener): () => void;
  readonly stats: FeatureReaderStats;
  /** 'closed' while the shared cache is used; 'open' while lookups go straight to the database. */
  readonly cacheState?: 'closed' | 'open' | 'half-open';
}

export interface FeatureReaderOptions {
  ttlSeconds?: number;
  /** Prefix of this reader's cache keys and channel; tests use one per file so they never see each other's entries. */
  namespace?: string;
  /**
   * In-process tier in front of a shared (Redis) cache: memory budget, optional entry bound and
   * lifetime. Kept correct by the change messages every writer publishes; the lifetime only bounds
   * what a lost message could leave. The budget (default 128 MiB, FEATURE_CACHE_MEMORY_MB) is counted
   * in estimated bytes per tenant (`estimateFeaturesBytes`), so it holds every active tenant of a
   * deployment whose tenants fit, however many there are; least recently read go first beyond it.
   */
  localMaxBytes?: number;
  localMaxEntries?: number;
  /**
   * Longest life of an in-process copy (default `ttlSeconds`). A copy never outlives what it was
   * taken from: one read from Redis expires when that Redis entry does (its PTTL, read with it), one
   * read from the database or published `ttlSeconds` after that read, like the Redis entry written
   * with it. So the copies add nothing to the shared cache's bound on a lost change message.
   */
  localTtlSeconds?: number;
  /** Clock of the in-process tier's lifetimes, in milliseconds (tests move it by hand). */
  now?: () => number;
  /** How long the cache is skipped after a failed command before one lookup probes it again (default 1 s). */
  breakerRetryMs?: number;
  /**
   * How often the in-process tier checks that the shared cache still answers (default 1 s). A frozen
   * Redis keeps its connections open, so without this check nothing would notice that change
   * messages have stopped arriving, and in-process copies could outlive a write made elsewhere.
   * While the breaker is open the same PING is its probe, so it closes without waiting for a lookup.
   */
  heartbeatMs?: number;
  /**
   * Hits and misses per tier: `local` (in-process, only in front of Redis), `redis` (the shared
   * cache: Redis, or the in-process LRU without REDIS_URL) and `database` (the read pool; a miss
   * there is a tenant without features).
   */
  metrics?: BillingMetrics;
  /**
   * Database reads in flight at once (default 4). Lookups that miss every cache while all are busy
   * are answered together by the next one (one statement for all their tenants), so a burst of
   * misses, or every lookup during a cache outage, costs a few statements instead of one each.
   */
  databaseReads?: number;
}

export function toTenantFeatures(state: TenantFeatureState): TenantFeatures {
  return {
    tenantId: state.tenantId,
    features: state.features,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    accessActive: state.accessActive,
    subscriptionStatus: state.subscriptionStatus,
    source: state.source,
    version: state.version,
    overridden: Object.keys(state.overrides).sort(),
  };
}

/**
 * Estimated heap bytes of one cached TenantFeatures: the object and its fields, and per feature its
 * key (two bytes a character) and its slot. Measured against the heap in bench/lookups.ts; errs high.
 */
export function estimateFeaturesBytes(entry: TenantFeatures): number {
  let bytes = 240 + 2 * entry.tenantId.length + 2 * (entry.bundle?.length ?? 0);
  // Values are booleans and numbers, held inline.
  for (const key in entry.features) bytes += 48 + 2 * key.length;
  return bytes;
}

/** A cached entry as the in-process cache keeps it once parsed: frozen, since every hit shares it. */
function decodeEntry(raw: string): TenantFeatures | null {
  const versioned = decodeVersioned(raw);
  if (!versioned) return null;
  const features = JSON.parse(versioned.value) as TenantFeatures;
  Object.freeze(features.features);
  return Object.freeze(features);
}

/** A change as a reader reports it: committed versions (`put`), or tenants to read again (`drop`). */
export type FeatureChange = { put: TenantFeatures[] } | { drop: string[] };
export type FeatureChangeListener = (change: FeatureChange) => void;

/** What travels on the bus: committed versions to adopt, or tenants to forget. */
type ChangeMessage = { put: TenantFeatures[] } | { drop: string[] };

/** Tenants whose publish could not reach the shared cache are remembered up to this many. */
const MAX_UNPUBLISHED = 100_000;

/**
 * Cached feature resolution in up to three tiers: in-process (only in front of a shared cache),
 * the shared cache (Redis, or an in-process LRU without REDIS_URL), then the database's read pool.
 *
 * Order safety: every entry carries the committed `version` and each tier only ever moves forward,
 * so a reader that raced a writer can never leave an older value behind. Writers publish after
 * commit; with Redis the publish also goes out as a change message that every instance applies to
 * its in-process tier.
 *
 * Outages: while the cache connection is down or the breaker is open, lookups go straight to the
 * database (no timeout is waited per lookup) and skip the in-process tier, whose invalidations may
 * have been missed. When the cache returns (a reconnect, or the breaker closing):
 * - the in-process tier is dropped;
 * - the writer evicts every tenant it wrote meanwhile from the shared cache and announces them to
 *   the other instances, at once (the heartbeat notices the return; no lookup is needed);
 * - for one shared-cache lifetime (`ttlSeconds`), a lookup the in-process tier cannot answer reads
 *   the database instead of a shared entry and stores what it read there (replacing an older one),
 *   since a shared entry may predate a write made during the outage whose writer is gone or has not
 *   repaired yet. So an instance that saw the outage never serves a value older than a commit
 *   made during it; one started after it relies on the writer's repair.
 */
export function createFeatureReader(
  prisma: PrismaClient,
  cache: KeyValueCache,
  options: FeatureReaderOptions = {},
): FeatureReader {
  const ttl = options.ttlSeconds ?? 300;
  const namespace = options.namespace ?? 'features';
  const keyOf = (tenantId: string) => `${namespace}:${tenantId}`;
  const channel = `${namespace}:changes`;
  const stats: FeatureReaderStats = {
    hits: 0,
    localHits: 0,
    misses: 0,
    cacheErrors: 0,
    bypassed: 0,
    revalidated: 0,
  };
  const breaker: CircuitBreaker = createCircuitBreaker({ retryAfterMs: options.breakerRetryMs });
  const bus = cache.bus;
  const metrics = options.metrics ?? noopMetrics;
  const localTtlMs = Math.min(options.localTtlSeconds ?? ttl, ttl) * 1000;
  const local = bus
    ? createTtlCache<TenantFeatures>({
        maxBytes: options.localMaxBytes ?? DEFAULT_CACHE_MEMORY_MB * 1024 * 1024,
        sizeOf: estimateFeaturesBytes,
        maxEntries: options.localMaxEntries,
        onEvict: () => metrics.cacheEviction?.('local'),
        ttlMs: localTtlMs,
        now: options.now,
      })
    : undefined;
  if (local) {
    metrics.observeCacheSize?.('local', () => ({ entries: local.size, bytes: local.calculatedSize }));
  } else {
    cache.onEvict?.((count) => {
      for (let i = 0; i < count; i++) metrics.cacheEviction?.('redis');
    });
    const size = cache.size?.bind(cache);
    if (size) metrics.observeCacheSize?.('redis', size);
  }
  /** The in-process tier is usable only once subscribed, and only for the connection generation it was filled in. */
  let subscribed = false;
  let localEpoch = { generation: -1, recoveries: 0 };
  const unpublished = new Set<string>();
  let lostTrack = false;
  let repairing: Promise<void> | undefined;
  /** The bus generation the cache was last seen answering in (undefined before the first time). */
  let healthyGeneration: number | undefined;
  let recoveriesSeen = breaker.recoveries;
  /** Until this instant (ms), shared entries may predate a write made during an outage. */
  let revalidateUntil = 0;

  if (bus && local && cache.ping) {
    const ping = cache.ping.bind(cache);
    // While closed, the PING notices a frozen Redis; while open, it is the breaker's probe once the
    // wait has passed, so the breaker closes when Redis is back even if no lookup comes to probe it.
    // A PING that finds the cache back also notes the recovery and repairs what this instance wrote
    // meanwhile, so the repair does not wait for this instance's next lookup or write.
    const heartbeat = setInterval(() => {
      if ((!cache.available || cache.available()) && breaker.allow())
        void safely(ping).then(() => {
          if (breaker.state === 'closed') cacheUp();
        });
    }, options.heartbeatMs ?? 1_000);
    // The heartbeat must never keep a process alive that has nothing else to do.
    heartbeat.unref();
  }
  if (bus && local) {
    bus
      .subscribe(channel, (raw) => applyMessage(raw))
      .then(() => {
        subscribed = true;
      })
      .catch(() => {
        // Without the subscription the in-process tier stays off; lookups use the shared cache.
      });
  }

  const listeners = new Set<FeatureChangeListener>();
  function notify(change: FeatureChange) {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own; the cache and the other listeners carry on.
      }
    }
  }

  function applyMessage(raw: string) {
    if (!local) return;
    let message: ChangeMessage;
    try {
      message = JSON.parse(raw) as ChangeMessage;
    } catch {
      return;
    }
    if (listeners.size > 0) notify(message);
    if ('put' in message) for (const entry of message.put) putLocal(entry);
    else for (const tenantId of message.drop) local.delete(tenantId);
  }

  /**
   * Keeps a committed version in process, for `ttlMs` at most (what the entry it was copied from has
   * left; by default a full lifetime, for a value just read from the database or published).
   */
  function putLocal(entry: TenantFeatures, ttlMs = localTtlMs) {
    if (!local || ttlMs <= 0) return;
    const current = local.get(entry.tenantId);
    if (current && current.version > entry.version) return;
    local.set(entry.tenantId, Object.freeze(entry), { ttl: Math.min(ttlMs, localTtlMs) });
  }

  /** True when the shared cache may be used now; false sends the caller to the database. */
  function cacheUp(): boolean {
    if (cache.available && !cache.available()) return false;
    if (!breaker.allow()) return false;
    noteRecovery();
    if (unpublished.size > 0 || lostTrack) void repair();
    return true;
  }

  /** The cache answers: a reconnect or a closed breaker since the last time means an outage ended. */
  function noteRecovery() {
    const generation = bus?.generation;
    const reconnected = healthyGeneration !== undefined && generation !== healthyGeneration;
    healthyGeneration = generation;
    const recovered = breaker.recoveries !== recoveriesSeen;
    recoveriesSeen = breaker.recoveries;
    if (reconnected || recovered) revalidateUntil = Date.now() + ttl * 1000;
  }

  /** The in-process tier, or undefined when it cannot be trusted right now. */
  function localTier() {
    if (!local || !bus || !subscribed) return undefined;
    const epoch = { generation: bus.generation, recoveries: breaker.recoveries };
    if (epoch.generation !== localEpoch.generation || epoch.recoveries !== localEpoch.recoveries) {
      // A connection dropped or the breaker was open: change messages may have been missed.
      local.clear();
      localEpoch = epoch;
    }
    return local;
  }

  async function safely<T>(op: () => Promise<T>): Promise<T | undefined> {
    const startedIn = breaker.recoveries;
    try {
      const result = await op();
      breaker.success();
      return result;
    } catch {
      stats.cacheErrors += 1;
      // A command that was sent before the cache recovered (and timed out during the outage) is old
      // news; only failures of commands sent since the last recovery reopen the breaker.
      if (breaker.recoveries === startedIn) breaker.failure();
      return undefined;
    }
  }

  function remember(tenantIds: string[]) {
    for (const id of tenantIds) {
      if (unpublished.size >= MAX_UNPUBLISHED) lostTrack = true;
      else unpublished.add(id);
    }
  }

  /** After an outage: evict what was written meanwhile from the shared cache and tell every instance. */
  function repair(): Promise<void> {
    repairing ??= (async () => {
      const ids = [...unpublished];
      const lost = lostTrack;
      if (ids.length > 0) {
        const ok = await safely(async () => {
          await cache.del(...ids.map(keyOf));
          await bus?.publish(channel, JSON.stringify({ drop: ids } satisfies ChangeMessage));
          return true;
        });
        if (ok) for (const id of ids) unpublished.delete(id);
      }
      // Too many writes to list: nothing better than letting the shared entries expire.
      if (lost) lostTrack = false;
    })().finally(() => {
      repairing = undefined;
    });
    return repairing;
  }

  const configs = createRequestBatcher({
    maxInFlight: options.databaseReads ?? 4,
    run: async (tenantIds: string[]) => {
      const rows = await prisma.tenantFeatureConfig.findMany({
        where: { tenantId: { in: [...new Set(tenantIds)] } },
      });
      const byTenant = new Map(rows.map((row) => [row.tenantId, row]));
      return tenantIds.map((id) => byTenant.get(id) ?? null);
    },
  });

  async function fromDatabase(tenantId: string): Promise<TenantFeatures | null> {
    const row = await configs.request(tenantId);
    if (row) metrics.cacheHit('database');
    else metrics.cacheMiss('database');
    return row ? toTenantFeatures(toState(row)) : null;
  }

  /** The shared cache's entry for a tenant (undefined when it did not answer). */
  async function sharedEntry(tenantId: string): Promise<TenantFeatures | null | undefined> {
    if (cache.getDecoded) return safely(() => cache.getDecoded!(keyOf(tenantId), decodeEntry));
    const raw = await safely(() => cache.get(keyOf(tenantId)));
    return raw === undefined ? undefined : decodeEntry(raw ?? '');
  }

  /**
   * A lookup after an outage: the database's value. A shared entry older than it (or one for a
   * tenant the database no longer has) is replaced and announced, so in-process copies that other
   * instances took from it are replaced too. The shared cache is read either way, so a half-open
   * breaker's probe still reaches it.
   */
  async function revalidate(
    tenantId: string,
    tier: ReturnType<typeof localTier>,
  ): Promise<TenantFeatures | null> {
    stats.misses += 1;
    stats.revalidated += 1;
    const [shared, read] = await Promise.all([sharedEntry(tenantId), fromDatabase(tenantId)]);
    const stale = read ? !shared || shared.version < read.version : Boolean(shared);
    if (stale && shared !== undefined && breaker.state === 'closed') {
      await safely(async () => {
        if (read) await cache.setIfNewer(keyOf(tenantId), read.version, JSON.stringify(read), ttl);
        else await cache.del(keyOf(tenantId));
        // Only a replaced entry is news; a missing one was never copied by anyone.
        if (shared) {
          const message: ChangeMessage = read ? { put: [read] } : { drop: [tenantId] };
          await bus?.publish(channel, JSON.stringify(message));
        }
        return true;
      });
    }
    if (read && tier && breaker.state === 'closed') putLocal(read);
    return read;
  }

  async function getTenantFeatures(tenantId: string): Promise<TenantFeatures | null> {
    if (!cacheUp() || unpublished.has(tenantId)) {
      stats.bypassed += 1;
      stats.misses += 1;
      return fromDatabase(tenantId);
    }
    // The probe of a half-open breaker must reach the shared cache: its outcome closes or reopens it.
    const tier = breaker.state === 'half-open' ? undefined : localTier();
    const hit = tier?.get(tenantId);
    if (hit) {
      stats.hits += 1;
      stats.localHits += 1;
      metrics.cacheHit('local');
      return hit;
    }
    if (tier) metrics.cacheMiss('local');
    if (breaker.state === 'half-open' || Date.now() < revalidateUntil) return revalidate(tenantId, tier);
    // The in-process cache keeps what it parsed; Redis answers text, parsed once here, with the
    // entry's remaining lifetime when an in-process copy is taken, so the copy expires with it.
    let features: TenantFeatures | null | undefined;
    let ttlLeftMs: number | null = null;
    if (cache.getDecoded) features = await safely(() => cache.getDecoded!(keyOf(tenantId), decodeEntry));
    else if (tier && cache.getWithTtl) {
      const found = await safely(() => cache.getWithTtl!(keyOf(tenantId)));
      features = found ? decodeEntry(found.raw) : null;
      ttlLeftMs = found?.ttlMs ?? null;
    } else features = decodeEntry((await safely(() => cache.get(keyOf(tenantId)))) ?? '');
    if (features) {
      stats.hits += 1;
      metrics.cacheHit('redis');
      // A cache that cannot tell an entry's remaining life gets the default 60 s of old (at most).
      if (tier)
        putLocal(features, ttlLeftMs ?? (cache.getWithTtl ? localTtlMs : Math.min(localTtlMs, 60_000)));
      return features;
    }
    stats.misses += 1;
    metrics.cacheMiss('redis');
    const read = await fromDatabase(tenantId);
    if (!read) return null;
    if (breaker.state === 'closed') {
      await safely(() => cache.setIfNewer(keyOf(tenantId), read.version, JSON.stringify(read), ttl));
      if (tier) putLocal(read);
    }
    return read;
  }

  return {
    stats,
    get cacheState() {
      return cache.available && !cache.available() ? 'open' : breaker.state;
    },
    getTenantFeatures,
    async isFeatureEnabled(tenantId, key) {
      const resolved = await getTenantFeatures(tenantId);
      if (!resolved || !Object.hasOwn(resolved.features, key)) return false;
      const value = resolved.features[key];
      return value === true || (typeof value === 'number' && value > 0);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async publish(states) {
      if (states.length === 0) return;
      const entries = states.map(toTenantFeatures);
      for (const entry of entries) putLocal(entry);
      if (listeners.size > 0) notify({ put: entries });
      if (!cacheUp()) {
        stats.bypassed += 1;
        remember(entries.map((e) => e.tenantId));
        return;
      }
      const ok = await safely(async () => {
        await Promise.all(
          entries.map((e) => cache.setIfNewer(keyOf(e.tenantId), e.version, JSON.stringify(e), ttl)),
        );
        await bus?.publish(channel, JSON.stringify({ put: entries } satisfies ChangeMessage));
        return true;
      });
      if (!ok) remember(entries.map((e) => e.tenantId));
    },
    async invalidate(...tenantIds) {
      for (const id of tenantIds) local?.delete(id);
      if (listeners.size > 0) notify({ drop: tenantIds });
      if (!cacheUp()) {
        remember(tenantIds);
        return;
      }
      const ok = await safely(async () => {
        await cache.del(...tenantIds.map(keyOf));
        await bus?.publish(channel, JSON.stringify({ drop: tenantIds } satisfies ChangeMessage));
        return true;
      });
      if (!ok) remember(tenantIds);
    },
  };
}
