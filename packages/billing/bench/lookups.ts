import { randomUUID } from 'node:crypto';
import { createIsolatedDatabase } from '@packages/db';
import { createMemoryCache, createRedisCache, type KeyValueCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { noCache } from '../test/helpers/no-cache.js';
import { runConcurrently, percentile, type BenchRow } from './stats.js';

/** Feature lookups per second and p99, uncached (database) and cached (memory, and Redis when REDIS_URL is set). */
export async function benchLookups({ tenants = 1000, lookups = 20_000, concurrency = 16 } = {}): Promise<
  BenchRow[]
> {
  const db = await createIsolatedDatabase();
  const rows: BenchRow[] = [];
  try {
    const ids = Array.from({ length: tenants }, (_, i) => `bench-${i}`);
    await db.prisma.tenant.createMany({ data: ids.map((id) => ({ id, name: id })) });
    await db.prisma.tenantFeatureConfig.createMany({
      data: ids.map((tenantId, i) => ({
        tenantId,
        features: { sso: i % 2 === 0, max_users: 10 },
        version: 1,
      })),
    });
    const variants: Array<[string, KeyValueCache]> = [
      ['uncached (database)', noCache()],
      ['cached (memory)', createMemoryCache()],
    ];
    if (process.env.REDIS_URL)
      variants.push([
        'cached (redis)',
        createRedisCache(process.env.REDIS_URL, { keyPrefix: `bench:${randomUUID()}:` }),
      ]);
    for (const [label, cache] of variants) {
      const reader = createFeatureReader(db.prisma, cache, { namespace: 'bench' });
      // Warm the cache (and the connection pool) so the cached rows measure steady state.
      for (const id of ids) await reader.getTenantFeatures(id);
      const { latencies, wallMs } = await runConcurrently(lookups, concurrency, (i) =>
        reader.isFeatureEnabled(ids[i % ids.length]!, 'sso'),
      );
      rows.push({
        benchmark: `feature lookup, ${label}`,
        'ops/s': Math.round((lookups / wallMs) * 1000),
        'p50 ms': percentile(latencies, 50),
        'p99 ms': percentile(latencies, 99),
        database: db.embedded ? 'pglite' : 'postgres',
      });
      await cache.close();
    }
  } finally {
    await db.close();
  }
  return rows;
}
