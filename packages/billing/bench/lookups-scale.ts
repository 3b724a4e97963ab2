import { randomUUID } from 'node:crypto';
import { createIsolatedDatabase } from '@packages/db';
import {
  createMemoryCache,
  createRedisCache,
  DEFAULT_CACHE_MEMORY_MB,
  type KeyValueCache,
} from '../src/io/cache/index.js';
import { createFeatureReader, type FeatureReader } from '../src/io/feature-cache/index.js';
import { noopMetrics } from '../src/io/metrics/index.js';
import { seedConfiguredTenants } from './cache.js';
import { percentile, runConcurrently, verdict, type BenchRow } from './stats.js';

/**
 * What a deployment of `tenants` tenants sets FEATURE_CACHE_MEMORY_MB to so that every one fits:
 * 1 KiB a tenant (a typical tenant is estimated at about 800 B without Redis, 380 B in the tier in
 * front of Redis), never below the default.
 */
export function cacheBudgetFor(tenants: number): number {
  return Math.max(DEFAULT_CACHE_MEMORY_MB * 2 ** 20, tenants * 1024);
}

/**
 * Lookups at scale (issue 26): `tenants` configured tenants read in random order, one lookup at a
 * time, after one warm-up read of each, with the memory budget sized for them (`cacheBudgetFor`,
 * printed). Two setups: the in-process tier in front of Redis (when REDIS_URL is set) and the
 * memory-only cache (no Redis). Reports p50/p99, the share answered without leaving the process,
 * and the heap the cached tenants take against what the budget counts for them.
 */
export async function benchLookupsAtScale({
  tenantCounts = [1_000, 50_000, 200_000],
  lookups = 200_000,
} = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const tenants of tenantCounts) {
    const db = await createIsolatedDatabase();
    try {
      const ids = await seedConfiguredTenants(db, tenants, 'scale');
      const setups: Array<[string, () => KeyValueCache]> = [
        ['memory-only cache (no Redis)', () => createMemoryCache({ maxBytes: cacheBudgetFor(tenants) })],
      ];
      const redisUrl = process.env.REDIS_URL;
      if (redisUrl)
        setups.unshift([
          'in-process tier in front of Redis',
          () => createRedisCache(redisUrl, { keyPrefix: `bench-scale-${randomUUID()}:` }),
        ]);
      for (const [label, make] of setups) {
        const cache = make();
        try {
          rows.push(await measure(db.readPrisma, cache, label, ids, lookups));
        } finally {
          await cache.close();
        }
      }
    } finally {
      await db.close();
    }
  }
  return rows;
}

async function measure(
  prisma: Parameters<typeof createFeatureReader>[0],
  cache: KeyValueCache,
  label: string,
  ids: string[],
  lookups: number,
): Promise<BenchRow> {
  const budget = cacheBudgetFor(ids.length);
  let held: (() => { entries: number; bytes: number }) | undefined;
  let evictions = 0;
  const reader: FeatureReader = createFeatureReader(prisma, cache, {
    namespace: 'scale',
    localMaxBytes: budget,
    metrics: {
      ...noopMetrics,
      observeCacheSize: (_tier, read) => void (held = read),
      cacheEviction: () => void (evictions += 1),
    },
  });
  // Subscribed to the change channel before the warm-up, so the in-process tier is filled by it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const warming = performance.now();
  await runConcurrently(ids.length, 32, (i) => reader.getTenantFeatures(ids[i]!));
  const warmMs = performance.now() - warming;
  global.gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  const counted = held?.() ?? { entries: 0, bytes: 0 };
  const local = label.startsWith('in-process');
  const before = { hits: reader.stats.hits, localHits: reader.stats.localHits };
  const latencies: number[] = new Array(lookups);
  const started = performance.now();
  for (let i = 0; i < lookups; i += 1) {
    const id = ids[Math.floor(Math.random() * ids.length)]!;
    const t0 = performance.now();
    await reader.isFeatureEnabled(id, 'sso');
    latencies[i] = performance.now() - t0;
  }
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const p99 = percentile(latencies, 99);
  const inProcess = local ? reader.stats.localHits - before.localHits : reader.stats.hits - before.hits;
  const hitShare = inProcess / lookups;
  return {
    benchmark: `lookup at scale, ${ids.length} tenants, random order: ${label}`,
    'ops/s': Math.round((lookups / wallMs) * 1000),
    'p50 ms': Number(percentile(latencies, 50).toFixed(4)),
    'p99 ms': Number(p99.toFixed(4)),
    detail:
      `${lookups} sequential isFeatureEnabled; answered in process ${(hitShare * 100).toFixed(1)} %` +
      `; warm-up (every tenant read once, c32) ${(warmMs / 1000).toFixed(1)} s, then the lookups ${(wallMs / 1000).toFixed(1)} s` +
      `; heap after warming ${heapMiB.toFixed(1)} MiB (${Math.round((heapMiB * 2 ** 20) / ids.length)} B/tenant)` +
      `; budget ${(budget / 2 ** 20).toFixed(1)} MiB (FEATURE_CACHE_MEMORY_MB for ${ids.length} tenants)` +
      ` holds ${counted.entries} entries, ${(counted.bytes / 2 ** 20).toFixed(1)} MiB estimated` +
      ` (${counted.entries ? Math.round(counted.bytes / counted.entries) : 0} B/tenant); evicted ${evictions}`,
    target: verdict(p99 <= 0.05 && hitShare >= 0.99, 'p99 ≤ 0.05 ms, in-process hits ≥ 99 %'),
  };
}
