import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';
import {
  createCacheFromEnv,
  createMemoryCache,
  createRedisCache,
  type KeyValueCache,
} from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createPrometheusMetrics } from '../src/io/metrics/index.js';
import { inTransaction, updateTenantFeatures } from '../src/io/tenant-store/index.js';

const redisUrl = process.env.REDIS_URL;

describe('memory cache', () => {
  it('expires entries after their TTL', async () => {
    let now = 1_000;
    const cache = createMemoryCache({ now: () => now });
    await cache.set('a', '1', 10);
    expect(await cache.get('a')).toBe('1');
    now += 10_001;
    expect(await cache.get('a')).toBeNull();
  });

  it('evicts the least recently used entry beyond its bound', async () => {
    const cache = createMemoryCache({ maxEntries: 2 });
    await cache.set('a', '1', 60);
    await cache.set('b', '2', 60);
    await cache.get('a');
    await cache.set('c', '3', 60);
    expect(await cache.get('b')).toBeNull();
    expect(await cache.get('a')).toBe('1');
    expect(await cache.get('c')).toBe('3');
  });
});

describe('memory cache sized by memory', () => {
  it('evicts least recently used entries to stay within its byte budget, telling its listeners', async () => {
    const cache = createMemoryCache({ maxBytes: 20_000 });
    const evicted: number[] = [];
    cache.onEvict!((n) => evicted.push(n));
    const value = 'x'.repeat(1_000);
    for (let i = 0; i < 20; i += 1) await cache.set(`k${i}`, value, 60);
    const { entries, bytes } = cache.size!();
    expect(bytes).toBeLessThanOrEqual(20_000);
    // About 3 kB an entry (the one-byte string and the parsed value kept beside it): six fit.
    expect(entries).toBe(6);
    expect(evicted.reduce((a, b) => a + b, 0)).toBe(14);
    expect(await cache.get('k19')).toBe(value);
    expect(await cache.get('k0')).toBeNull();
    // A string with a character beyond Latin-1 takes two bytes a character: three fit.
    const wide = `${'x'.repeat(999)}€`;
    for (let i = 0; i < 20; i += 1) await cache.set(`w${i}`, wide, 60);
    expect(cache.size!().entries).toBe(3);
    expect(await cache.get('w19')).toBe(wide);
  });

  it('getDecoded parses a stored value once; a new value is parsed again', async () => {
    const cache = createMemoryCache();
    let parses = 0;
    const decode = (raw: string) => {
      parses += 1;
      return { n: Number(raw) };
    };
    expect(await cache.getDecoded!('k', decode)).toBeNull();
    await cache.set('k', '1', 60);
    const first = await cache.getDecoded!('k', decode);
    expect(await cache.getDecoded!('k', decode)).toBe(first);
    expect(parses).toBe(1);
    await cache.set('k', '2', 60);
    expect(await cache.getDecoded!('k', decode)).toEqual({ n: 2 });
    expect(parses).toBe(2);
  });
});

const caches: Array<[string, () => KeyValueCache]> = [['memory', () => createMemoryCache()]];
if (redisUrl)
  caches.push(['redis', () => createRedisCache(redisUrl, { keyPrefix: `test:${randomUUID()}:` })]);

describe.each(caches)('%s cache: setIfNewer', (_name, make) => {
  let cache: KeyValueCache;
  beforeAll(() => {
    cache = make();
  });
  afterAll(async () => {
    await cache.close();
  });

  it('keeps the newest version when an older write arrives late', async () => {
    expect(await cache.setIfNewer('k', 2, 'two', 60)).toBe(true);
    expect(await cache.setIfNewer('k', 1, 'one', 60)).toBe(false);
    expect(await cache.get('k')).toBe('2|two');
    expect(await cache.setIfNewer('k', 3, 'three', 60)).toBe(true);
    expect(await cache.get('k')).toBe('3|three');
    await cache.del('k');
    expect(await cache.get('k')).toBeNull();
  });

  it('setManyIfNewer: one call for many keys, each keeps its newest version, in order within the call', async () => {
    expect(await cache.setIfNewer('m:a', 5, 'a5', 60)).toBe(true);
    const stored = await cache.setManyIfNewer!(
      [
        { key: 'm:a', version: 4, value: 'a4' },
        { key: 'm:b', version: 1, value: 'b1' },
        { key: 'm:b', version: 3, value: 'b3' },
        { key: 'm:b', version: 2, value: 'b2' },
        { key: 'm:a', version: 5, value: 'a5 again' },
      ],
      60,
    );
    expect(stored).toEqual([false, true, true, false, true]);
    expect(await cache.get('m:a')).toBe('5|a5 again');
    expect(await cache.get('m:b')).toBe('3|b3');
    const entry = await cache.getWithTtl?.('m:b');
    if (entry) expect(entry.ttlMs).toBeGreaterThan(50_000);
    if (entry) expect(entry.ttlMs).toBeLessThanOrEqual(60_000);
    expect(await cache.setManyIfNewer!([], 60)).toEqual([]);
    await cache.del('m:a', 'm:b');
  });
});

describe('feature reader', () => {
  let db: Database;
  let cache: KeyValueCache;
  beforeAll(async () => {
    db = await createIsolatedDatabase();
    cache = createCacheFromEnv(process.env, { keyPrefix: `test:${randomUUID()}:` });
    await db.prisma.tenant.create({ data: { id: 'acme', name: 'Acme' } });
  });
  afterAll(async () => {
    await cache.close();
    await db.close();
  });

  async function setFeatures(features: Record<string, boolean | number>) {
    const outcome = await inTransaction(db.prisma, (tx) =>
      updateTenantFeatures(
        tx,
        'acme',
        () => ({ patch: { features, planFeatures: features }, action: 'test' }),
        {
          actor: 'test',
          source: 'admin',
        },
      ),
    );
    if (outcome.status !== 'updated') throw new Error(`unexpected ${outcome.status}`);
    return outcome.after;
  }

  it('serves reads from the cache and sees a committed write immediately', async () => {
    const reader = createFeatureReader(db.prisma, cache, { namespace: 'r1' });
    const first = await setFeatures({ sso: true, max_users: 5 });
    await reader.publish([first]);
    expect(await reader.isFeatureEnabled('acme', 'sso')).toBe(true);
    expect(reader.stats.hits).toBe(1);

    const second = await setFeatures({ sso: false, max_users: 5 });
    await reader.publish([second]);
    expect(await reader.isFeatureEnabled('acme', 'sso')).toBe(false);
    expect(await reader.isFeatureEnabled('acme', 'max_users')).toBe(true);
    expect(await reader.isFeatureEnabled('acme', 'unknown_key')).toBe(false);
    expect(await reader.isFeatureEnabled('nobody', 'sso')).toBe(false);
  });

  it('never lets a stale publish overwrite a newer committed version', async () => {
    const reader = createFeatureReader(db.prisma, cache, { namespace: 'r2' });
    const older = await setFeatures({ api_access: false });
    const newer = await setFeatures({ api_access: true });
    await reader.publish([newer]);
    await reader.publish([older]);
    const read = await reader.getTenantFeatures('acme');
    expect(read?.version).toBe(newer.version);
    expect(read?.features).toEqual({ api_access: true });
  });

  it('a publish of several tenants stores each one newer-wins, in one batch', async () => {
    const writer = createFeatureReader(db.prisma, cache, { namespace: 'r5' });
    const older = await setFeatures({ api_access: false });
    const newer = await setFeatures({ api_access: true });
    await writer.publish([newer]);
    // A stale state of acme beside the first state of a tenant the cache has never held.
    await writer.publish([older, { ...older, tenantId: 'beta', version: 1 }]);
    // A reader of its own: what it finds is the shared cache's, not the writer's in-process copy.
    const reader = createFeatureReader(db.prisma, cache, { namespace: 'r5' });
    expect((await reader.getTenantFeatures('acme'))?.version).toBe(newer.version);
    expect((await reader.getTenantFeatures('acme'))?.features).toEqual({ api_access: true });
    // beta exists only in the cache: a miss would read the database, which has no such tenant.
    expect((await reader.getTenantFeatures('beta'))?.version).toBe(1);
    expect(reader.stats.misses).toBe(0);
  });

  it('without Redis, hits share one parsed, frozen value; evictions, hit ratio and bytes are in /metrics', async () => {
    const prometheus = createPrometheusMetrics();
    // A budget of a few entries: the three tenants read in turn do not all fit.
    const memory = createMemoryCache({ maxBytes: 2_000 });
    const reader = createFeatureReader(db.prisma, memory, { namespace: 'r4', metrics: prometheus.metrics });
    await setFeatures({ sso: true, max_users: 3 });
    const first = await reader.getTenantFeatures('acme');
    const second = await reader.getTenantFeatures('acme');
    const third = await reader.getTenantFeatures('acme');
    expect(second).toEqual(first);
    expect(third).toBe(second);
    expect(Object.isFrozen(third) && Object.isFrozen(third!.features)).toBe(true);
    for (let i = 0; i < 12; i += 1) await memory.set(`r4:filler${i}`, `1|${'{}'.padEnd(200)}`, 60);
    const text = await prometheus.render();
    expect(text).toMatch(/billing_feature_cache_evictions_total\{tier="redis"\} [1-9]/);
    expect(text).toMatch(/billing_feature_cache_hit_ratio\{tier="redis"\} 0\.66/);
    const bytes = Number(/billing_feature_cache_bytes\{tier="redis"\} (\d+)/.exec(text)?.[1]);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(2_000);
  });

  it('falls back to the database when the cache is unreachable', async () => {
    // A port nothing listens on: every cache command fails fast.
    const deadCache = createRedisCache('redis://127.0.0.1:1', { commandTimeoutMs: 200 });
    try {
      const reader = createFeatureReader(db.prisma, deadCache, { namespace: 'r3' });
      const state = await setFeatures({ webhooks: true });
      await reader.publish([state]);
      expect(await reader.getTenantFeatures('acme')).toMatchObject({
        features: { webhooks: true },
        version: state.version,
      });
      // Either the command failed or the dead connection sent the call straight past the cache.
      expect(reader.stats.cacheErrors + reader.stats.bypassed).toBeGreaterThanOrEqual(2);
    } finally {
      await deadCache.close();
    }
  });
});
