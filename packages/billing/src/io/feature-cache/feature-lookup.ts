import type { PrismaClient } from '@packages/db';
import type { KeyValueCache } from '../cache/index.js';
import type { BillingMetrics } from '../metrics/index.js';
import { createRequestBatcher } from '../request-batcher.js';
import { toState } from '../tenant-store/index.js';
import type { CacheHealth } from './cache-health.js';
import type { LocalTier } from './local-tier.js';
import { decodeEntry, toTenantFeatures, type ChangeMessage, type TenantFeatures } from './tenant-features.js';

/**
 * One lookup through the reader's tiers (feature-reader.ts): in-process, shared, then the database's
 * read pool, whose misses are batched; after an outage, the database's value first (revalidate).
 */
export function createFeatureLookup(
  prisma: PrismaClient,
  cache: KeyValueCache,
  parts: {
    keyOf: (tenantId: string) => string;
    channel: string;
    ttl: number;
    stats: Record<'hits' | 'localHits' | 'misses' | 'bypassed' | 'revalidated', number>;
    metrics: BillingMetrics;
    localTier: LocalTier;
    health: CacheHealth;
    databaseReads?: number;
  },
): (tenantId: string) => Promise<TenantFeatures | null> {
  const { keyOf, channel, ttl, stats, metrics } = parts;
  const { localTtlMs, putLocal } = parts.localTier;
  const { breaker, cacheUp, safely, localTier } = parts.health;
  const bus = cache.bus;

  const configs = createRequestBatcher({
    maxInFlight: parts.databaseReads ?? 4,
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
    if (!cacheUp() || parts.health.unpublished(tenantId)) {
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
    if (breaker.state === 'half-open' || parts.health.revalidating()) return revalidate(tenantId, tier);
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

  return getTenantFeatures;
}
