import {
  createCircuitBreaker,
  type CircuitBreaker,
  type KeyValueCache,
  type TtlCache,
} from '../cache/index.js';
import type { ChangeMessage, TenantFeatures } from './tenant-features.js';

/** Tenants whose publish could not reach the shared cache are remembered up to this many. */
const MAX_UNPUBLISHED = 100_000;

/**
 * Whether the reader (feature-reader.ts, "Outages") may use the shared cache and its in-process
 * tier right now: the circuit breaker, the heartbeat that notices a frozen Redis, the writes made
 * while the cache was down and their repair when it returns, and the window after an outage in
 * which lookups read the database.
 */
export type CacheHealth = ReturnType<typeof createCacheHealth>;

export function createCacheHealth(
  cache: KeyValueCache,
  local: TtlCache<TenantFeatures> | undefined,
  shared: {
    keyOf: (tenantId: string) => string;
    channel: string;
    ttl: number;
    stats: { cacheErrors: number };
  },
  options: { breakerRetryMs?: number; heartbeatMs?: number },
) {
  const { keyOf, channel, ttl, stats } = shared;
  const breaker: CircuitBreaker = createCircuitBreaker({ retryAfterMs: options.breakerRetryMs });
  const bus = cache.bus;
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

  return {
    breaker,
    cacheUp,
    safely,
    remember,
    localTier,
    /** The change bus subscription is in place: the in-process tier may be used. */
    subscribed: () => {
      subscribed = true;
    },
    /** A write to this tenant has not reached the shared cache yet. */
    unpublished: (tenantId: string) => unpublished.has(tenantId),
    /** Shared entries may predate a write made during an outage: lookups read the database. */
    revalidating: () => Date.now() < revalidateUntil,
  };
}
