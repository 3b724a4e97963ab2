import type { PrismaClient } from '@packages/db';
import type { KeyValueCache } from '../cache/index.js';
import type { TenantFeatureState } from '../../core/index.js';
import { noopMetrics, type BillingMetrics } from '../metrics/index.js';
import { createCacheHealth } from './cache-health.js';
import { createFeatureLookup } from './feature-lookup.js';
import { createLocalTier } from './local-tier.js';
import {
  toTenantFeatures,
  type ChangeMessage,
  type FeatureChange,
  type FeatureChangeListener,
  type TenantFeatures,
} from './tenant-features.js';

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
  const bus = cache.bus;
  const metrics = options.metrics ?? noopMetrics;
  const localTier = createLocalTier(cache, ttl, metrics, options);
  const { local, putLocal } = localTier;
  const health = createCacheHealth(cache, local, { keyOf, channel, ttl, stats }, options);
  const { breaker, cacheUp, safely, remember } = health;
  if (bus && local) {
    bus
      .subscribe(channel, (raw) => applyMessage(raw))
      .then(() => health.subscribed())
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

  const getTenantFeatures = createFeatureLookup(prisma, cache, {
    keyOf,
    channel,
    ttl,
    stats,
    metrics,
    localTier,
    health,
    databaseReads: options.databaseReads,
  });

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
        // Each entry serialised once, for its cache value and for the change message, whose text
        // is what JSON.stringify({ put: entries }) would write.
        const values = entries.map((e) => JSON.stringify(e));
        if (cache.setManyIfNewer) {
          await cache.setManyIfNewer(
            entries.map((e, i) => ({ key: keyOf(e.tenantId), version: e.version, value: values[i]! })),
            ttl,
          );
        } else {
          await Promise.all(
            entries.map((e, i) => cache.setIfNewer(keyOf(e.tenantId), e.version, values[i]!, ttl)),
          );
        }
        await bus?.publish(channel, `{"put":[${values.join(',')}]}`);
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
