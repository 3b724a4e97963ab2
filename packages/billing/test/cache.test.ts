import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';
import {
  createCacheFromEnv,
  createMemoryCache,
  createRedisCache,
  type KeyValueCache,
} from '../src/cache/index.js';
import { createFeatureReader } from '../src/feature-cache/index.js';
import { inTransaction, updateTenantFeatures } from '../src/tenant-store/index.js';

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
