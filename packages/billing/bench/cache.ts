import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { createRedisCache, type KeyValueCache } from '../src/io/cache/index.js';
import { createFeatureReader, type FeatureReader } from '../src/io/feature-cache/index.js';
import { setFeatureOverride } from '../src/flows/management/index.js';
import { buildServer } from '../src/entry/server/app.js';
import { noCache } from '../test/helpers/no-cache.js';
import { startOwnRedis } from '../test/helpers/redis-server.js';
import { percentile, printTable, runConcurrently, verdict, type BenchRow } from './stats.js';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/** `n` tenants with a config row each (sso on for even ones), in one database. */
export async function seedConfiguredTenants(db: Database, n: number, prefix = 'bench'): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  for (let i = 0; i < n; i += 1000) {
    const part = ids.slice(i, i + 1000);
    await db.prisma.tenant.createMany({ data: part.map((id) => ({ id, name: id })) });
    await db.prisma.tenantFeatureConfig.createMany({
      data: part.map((tenantId, k) => ({
        tenantId,
        features: { sso: (i + k) % 2 === 0, max_users: 10 },
        version: 1,
      })),
    });
  }
  return ids;
}

/** An admin-API server on the database (read pool for GETs), listening on a free port. */
export async function adminServer(
  db: Database,
  stripe: Stripe,
): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildServer({
    prisma: db.prisma,
    readPrisma: db.readPrisma,
    stripe,
    webhookHandler: {
      handleWebhook: () => Promise.reject(new Error('not used by this benchmark')),
    },
    auth: { tokens: [{ name: 'bench', role: 'admin', token: ADMIN_TOKEN }] },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no TCP address');
  return { app, url: `http://127.0.0.1:${address.port}` };
}

/**
 * The two reads that must never starve, probed one at a time: a feature lookup that misses every
 * cache (the read pool) and the admin features read over HTTP. Used idle here and under webhook load.
 */
export async function probeReads(
  db: Database,
  adminUrl: string,
  ids: string[],
  { probes = 1000, until }: { probes?: number; until?: () => boolean } = {},
): Promise<{ lookup: number[]; admin: number[] }> {
  const reader = createFeatureReader(db.readPrisma, noCache(), { namespace: `bench-miss-${randomUUID()}` });
  const lookup: number[] = [];
  const admin: number[] = [];
  for (let i = 0; until ? !until() : i < probes; i += 1) {
    const id = ids[i % ids.length]!;
    let t0 = performance.now();
    await reader.getTenantFeatures(id);
    lookup.push(performance.now() - t0);
    t0 = performance.now();
    const response = await fetch(`${adminUrl}/api/admin/tenants/${id}/features`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`admin read answered ${response.status}`);
    admin.push(performance.now() - t0);
  }
  lookup.sort((a, b) => a - b);
  admin.sort((a, b) => a - b);
  return { lookup, admin };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function warm(reader: FeatureReader, ids: string[]) {
  for (const id of ids) await reader.getTenantFeatures(id);
}

/**
 * The cache figures of issue 10: the in-process tier's latency, how fast a write on one instance
 * reaches another through Redis pub/sub, lookups while Redis is down (a private redis-server is
 * killed; the shared one is never touched), and the idle latency of a cache-miss lookup and an
 * admin read. Needs DATABASE_URL and REDIS_URL (rows are skipped otherwise).
 */
export async function benchCache({ tenants = 1000 } = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    rows.push({ benchmark: 'cache tiers', detail: 'skipped: REDIS_URL is not set' });
    return rows;
  }
  const db = await createIsolatedDatabase();
  const namespace = `bench-cache-${randomUUID()}`;
  const caches: KeyValueCache[] = [];
  const redisCache = (url: string) => {
    const cache = createRedisCache(url, { keyPrefix: `${namespace}:` });
    caches.push(cache);
    return cache;
  };
  try {
    const ids = await seedConfiguredTenants(db, tenants);
    const readerA = createFeatureReader(db.readPrisma, redisCache(redisUrl), { namespace });
    const readerB = createFeatureReader(db.readPrisma, redisCache(redisUrl), { namespace });
    // Let both subscribe to the change channel before anything is measured.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await warm(readerA, ids);
    await warm(readerB, ids);

    // 1. In-process tier: one lookup at a time, so each latency is the lookup's own.
    {
      const total = 100_000;
      const latencies: number[] = [];
      const started = performance.now();
      for (let i = 0; i < total; i += 1) {
        const t0 = performance.now();
        await readerA.isFeatureEnabled(ids[i % ids.length]!, 'sso');
        latencies.push(performance.now() - t0);
      }
      const wallMs = performance.now() - started;
      latencies.sort((a, b) => a - b);
      const p99 = percentile(latencies, 99);
      rows.push({
        benchmark: 'cached lookup, in-process tier (in front of Redis)',
        'ops/s': Math.round((total / wallMs) * 1000),
        'p50 ms': percentile(latencies, 50),
        'p99 ms': Number(p99.toFixed(4)),
        detail: `${total} sequential isFeatureEnabled on ${tenants} tenants; local hits ${readerA.stats.localHits}`,
        target: verdict(p99 <= 0.05, 'p99 ≤ 0.05 ms'),
      });
    }

    // 2. A write through instance A (the audited write path, then publish) seen by instance B.
    {
      const writes = 300;
      const latencies: number[] = [];
      for (let i = 0; i < writes; i += 1) {
        const id = ids[i % ids.length]!;
        const before = (await readerB.getTenantFeatures(id))!.version;
        const t0 = performance.now();
        let seenAt = 0;
        const watch = (async () => {
          while ((await readerB.getTenantFeatures(id))!.version <= before) await nextTurn();
          seenAt = performance.now();
        })();
        await setFeatureOverride(db.prisma, id, 'sso', i % 2 === 0, { featureReader: readerA });
        await watch;
        latencies.push(seenAt - t0);
      }
      latencies.sort((a, b) => a - b);
      const p99 = percentile(latencies, 99);
      rows.push({
        benchmark: 'write on instance A visible on instance B (Redis pub/sub)',
        'p50 ms': percentile(latencies, 50),
        'p99 ms': p99,
        detail: `${writes} setFeatureOverride through A; from the write call's start until B's lookup returns the new version (includes the write's own commit)`,
        target: verdict(p99 <= 100, 'p99 ≤ 100 ms'),
      });
    }

    // 3. Redis down: an instance on a private redis-server that is killed mid-run.
    {
      const own = await startOwnRedis();
      try {
        const readerC = createFeatureReader(db.readPrisma, redisCache(own.url), {
          namespace: `${namespace}-own`,
        });
        await new Promise((resolve) => setTimeout(resolve, 200));
        await warm(readerC, ids);
        const expected = new Map<string, boolean>();
        for (const [i, id] of ids.entries()) expected.set(id, i % 2 === 0);
        // Killed with every tenant in both tiers; overrides written during the outage must show at once.
        await own.stop();
        const latencies: number[] = [];
        let wrong = 0;
        const check = async (i: number) => {
          const id = ids[i % ids.length]!;
          const t0 = performance.now();
          const value = await readerC.isFeatureEnabled(id, 'sso');
          latencies.push(performance.now() - t0);
          if (value !== expected.get(id)) wrong += 1;
        };
        const first = await runConcurrently(2_000, 16, check);
        for (let i = 0; i < 100; i += 1) {
          const id = ids[i * 7]!;
          const value = !expected.get(id);
          await setFeatureOverride(db.prisma, id, 'sso', value, { featureReader: readerC });
          expected.set(id, value);
        }
        const second = await runConcurrently(10_000, 16, check);
        latencies.sort((a, b) => a - b);
        const p99 = percentile(latencies, 99);
        rows.push({
          benchmark: 'feature lookup during a Redis outage (breaker → read pool)',
          'ops/s': Math.round((12_000 / (first.wallMs + second.wallMs)) * 1000),
          'p50 ms': percentile(latencies, 50),
          'p99 ms': p99,
          detail: `12,000 lookups at concurrency 16 from the moment redis-server was killed, 100 overrides written during the outage; wrong values ${wrong}; breaker ${readerC.cacheState ?? 'n/a'}`,
          target: verdict(p99 <= 10 && wrong === 0, 'p99 ≤ 10 ms, no wrong value'),
        });
      } finally {
        await own.close();
      }
    }

    // 4. Idle latency of the reads that must never starve.
    {
      const stripe = new Stripe('sk_test_unused', { host: '127.0.0.1', port: 9, protocol: 'http' });
      const server = await adminServer(db, stripe);
      try {
        const { lookup, admin } = await probeReads(db, server.url, ids, { probes: 2000 });
        rows.push({
          benchmark: 'cache-miss lookup, idle (read pool)',
          'p50 ms': percentile(lookup, 50),
          'p99 ms': percentile(lookup, 99),
          detail: '2,000 probes one at a time',
        });
        rows.push({
          benchmark: 'admin GET /api/admin/tenants/:id/features, idle',
          'p50 ms': percentile(admin, 50),
          'p99 ms': percentile(admin, 99),
          detail: '2,000 probes one at a time over HTTP (keep-alive)',
        });
      } finally {
        await server.app.close();
      }
    }
  } finally {
    for (const cache of caches) await cache.close().catch(() => {});
    await db.close();
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchCache());
}
