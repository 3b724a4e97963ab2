import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createPrismaClient } from '@packages/db';
import { createMemoryCache, createRedisCache, type KeyValueCache } from '../src/io/cache/index.js';
import { StripeRateLimitError } from '../src/core/errors.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import { reconcileTenants } from '../src/flows/reconcile/index.js';
import { buildServer } from '../src/entry/server/app.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import { createStripeWebhookHandler } from '../src/flows/webhooks/index.js';
import { PLAN_FIXTURES, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useWebhookTestEnv } from './helpers/use-env.js';

// Waits on connections and breakers are bounded generously: on a loaded 2-core machine a Redis
// connect or a heartbeat can take well over vi.waitFor's 1 s default.
const WAIT = { timeout: 20_000, interval: 20 };

/**
 * Faults are real wherever the setup allows it: Stripe errors come from the emulator over HTTP,
 * database failures from inside Postgres (a trigger that raises, or that terminates the backends
 * of our pool), Redis outages from an unreachable port. Nothing is mocked inside the library.
 */

const REAL_POSTGRES = Boolean(process.env.DATABASE_URL);
const REAL_REDIS = Boolean(process.env.REDIS_URL);
const TENANTS = 110; // > 100: the subscription walk needs two pages.
const POOL = 4;

const env = await useWebhookTestEnv({ poolMax: POOL });
const tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, TENANTS, {
  plans: env.plans,
  prefix: 'rf',
  concurrency: 32,
});
beforeEach(async () => {
  env.emu.clearFaults();
  await env.db.pool.query('DROP TRIGGER IF EXISTS reliability_fault ON feature_audit_logs');
  await env.prisma.featureAuditLog.deleteMany();
  await env.prisma.tenantFeatureConfig.deleteMany();
});

const PLAN_BY_INDEX = ['starter', 'pro', 'enterprise'] as const;

/** A sync service with our retry loop on and its backoff shrunk so storms cost milliseconds. */
function retryingServices(options: { cache?: KeyValueCache } = {}) {
  const stripeSync = createStripeSyncService(env.stripe, {
    requestsPerSecond: 100_000,
    burst: 100_000,
    maxRetries: 3,
    retryBaseDelayMs: 1,
    maxRetryDelayMs: 5,
  });
  const reader = createFeatureReader(env.prisma, options.cache ?? env.cache, { namespace: env.namespace });
  const featureSync = createFeatureSyncService(env.prisma, stripeSync, { featureReader: reader });
  return { stripeSync, featureSync, reader };
}

/** Every tenant either has its config and exactly one audit row, or neither. */
async function assertNoPartialRows(): Promise<{ configured: Set<string>; bare: Set<string> }> {
  const configs = new Set(
    (await env.prisma.tenantFeatureConfig.findMany({ select: { tenantId: true } })).map((c) => c.tenantId),
  );
  const audits = await env.prisma.featureAuditLog.groupBy({ by: ['tenantId'], _count: { _all: true } });
  const auditCount = new Map(audits.map((a) => [a.tenantId, a._count._all]));
  const configured = new Set<string>();
  const bare = new Set<string>();
  for (const t of tenants) {
    const pair = {
      tenantId: t.tenantId,
      config: configs.has(t.tenantId),
      audits: auditCount.get(t.tenantId) ?? 0,
    };
    expect(pair.config ? pair.audits === 1 : pair.audits === 0, JSON.stringify(pair)).toBe(true);
    (pair.config ? configured : bare).add(t.tenantId);
  }
  return { configured, bare };
}

async function assertAllSynced() {
  const rows = await env.prisma.tenantFeatureConfig.findMany();
  expect(rows).toHaveLength(TENANTS);
  const byId = new Map(rows.map((r) => [r.tenantId, r]));
  tenants.forEach((t, i) => {
    expect(byId.get(t.tenantId)).toMatchObject({
      features: PLAN_FIXTURES[PLAN_BY_INDEX[i % 3]!].features,
      stripePriceId: t.priceId,
      accessActive: true,
    });
  });
}

/**
 * Makes the next audit insert that matches fail inside Postgres, once (a sequence is not rolled
 * back with the transaction, so the retry passes). 'raise' fails the statement; 'terminate' kills
 * the backend that runs it plus every backend in reliability_fault_pids: a database outage seen
 * from inside a transaction that has already written the config row.
 */
async function failNextAuditInsert(
  column: 'tenant_id' | 'stripe_event_id',
  value: string,
  mode: 'raise' | 'terminate',
  killPids: number[] = [],
  times: 'once' | 'always' = 'once',
) {
  if (!/^[\w-]+$/.test(value)) throw new Error(`unsafe literal ${value}`);
  const action =
    mode === 'raise'
      ? `RAISE EXCEPTION 'reliability test: injected failure for %', NEW.${column};`
      : `PERFORM pg_terminate_backend(pid) FROM reliability_fault_pids WHERE pid <> pg_backend_pid();
         PERFORM pg_terminate_backend(pg_backend_pid());`;
  const q = (sql: string) => env.db.pool.query(sql);
  await q('DROP SEQUENCE IF EXISTS reliability_fault_seq');
  await q('CREATE SEQUENCE reliability_fault_seq');
  await q('CREATE TABLE IF NOT EXISTS reliability_fault_pids (pid int)');
  await q('DELETE FROM reliability_fault_pids');
  for (const pid of killPids) await q(`INSERT INTO reliability_fault_pids VALUES (${Number(pid)})`);
  await q(`CREATE OR REPLACE FUNCTION reliability_fault_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.${column} = '${value}' AND (${times === 'always'} OR nextval('reliability_fault_seq') = 1) THEN
        ${action}
      END IF;
      RETURN NEW;
    END $fn$`);
  await q('DROP TRIGGER IF EXISTS reliability_fault ON feature_audit_logs');
  await q(
    'CREATE TRIGGER reliability_fault BEFORE INSERT ON feature_audit_logs FOR EACH ROW EXECUTE FUNCTION reliability_fault_fn()',
  );
}

/** Opens every connection the pool may hold and returns their backend pids. */
async function poolBackendPids(): Promise<number[]> {
  const rows = await Promise.all(
    Array.from({ length: POOL }, () =>
      env.db.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_sleep(0.05)'),
    ),
  );
  return [...new Set(rows.map((r) => r.rows[0]!.pid))];
}

describe('Stripe faults during a full sync', () => {
  it('every request of the walk fails with a 429 and then a 500 first: the sync finishes, results are right, retries are counted', async () => {
    const { stripeSync, featureSync } = retryingServices();
    // Each request (its first attempt, then its retry) meets a 429 and then a 500, whichever of the
    // walk's requests are in flight together (the walk asks for its next page while the products of
    // the page it just read are fetched, and created ranges are walked side by side). The SDK's own
    // retries are off (maxNetworkRetries 0), so every retry is ours and counted.
    let succeeded = 0;
    const onResponse = (event: { status: number }) => {
      if (event.status === 200) succeeded += 1;
    };
    env.stripe.on('response', onResponse);
    env.emu.resetRequestCounts();
    env.emu.injectFault({ status: 429, eachRequest: true, path: /^\/v1\// });
    env.emu.injectFault({ status: 500, eachRequest: true, path: /^\/v1\// });
    try {
      const { summary } = await featureSync.syncAllTenantsFromStripe();
      expect(summary).toMatchObject({ processed: TENANTS, updated: TENANTS, failed: [] });
    } finally {
      env.stripe.off('response', onResponse);
      env.emu.clearFaults();
    }
    // Two pages of subscriptions plus one products.list.
    expect(succeeded).toBe(3);
    expect(stripeSync.stats).toMatchObject({ stripeRequests: 9, retries: 6, rateLimited: 3 });
    expect(env.emu.requestCounts().total).toBe(9);
    await assertAllSynced();
    await assertNoPartialRows();
  });

  it('a storm longer than the retry budget fails the sync as a whole with a typed error, before any write', async () => {
    const { stripeSync, featureSync } = retryingServices();
    env.emu.injectFault({ status: 429, count: 1_000, path: /^\/v1\// });
    await expect(featureSync.syncAllTenantsFromStripe()).rejects.toBeInstanceOf(StripeRateLimitError);
    expect(stripeSync.stats).toMatchObject({ stripeRequests: 4, retries: 3, rateLimited: 4 });
    expect(await env.prisma.tenantFeatureConfig.count()).toBe(0);
    // Reconcile reads the same walk: no verdict at all rather than "every tenant lost its subscription".
    await expect(reconcileTenants({ prisma: env.prisma, featureSync }, { fix: true })).rejects.toBeInstanceOf(
      StripeRateLimitError,
    );
    expect(await env.prisma.featureAuditLog.count()).toBe(0);
  });
});

describe('Postgres failures during a full sync', () => {
  it('a tenant whose write always fails (after its config row, inside the batch statement): the batch is split until that tenant fails alone, no partial rows, a re-run heals it', async () => {
    const { featureSync } = retryingServices();
    const victim = tenants[17]!.tenantId;
    await failNextAuditInsert('tenant_id', victim, 'raise', [], 'always');
    const first = await featureSync.syncAllTenantsFromStripe();
    expect(first.summary.failed).toEqual([
      {
        tenantId: victim,
        customerId: tenants[17]!.customerId,
        error: expect.stringContaining('injected failure'),
      },
    ]);
    expect(first.summary.updated).toBe(TENANTS - 1);
    const { bare } = await assertNoPartialRows();
    expect([...bare]).toEqual([victim]);

    await env.db.pool.query('DROP TRIGGER IF EXISTS reliability_fault ON feature_audit_logs');
    const second = await featureSync.syncAllTenantsFromStripe();
    expect(second.summary).toMatchObject({ updated: 1, unchanged: TENANTS - 1, failed: [] });
    await assertAllSynced();
    await assertNoPartialRows();
  });

  it('a batch statement that fails once (a transient error after its config rows) is all-or-nothing, and the retry of its halves heals it in the same run', async () => {
    const { featureSync } = retryingServices();
    const victim = tenants[17]!.tenantId;
    await failNextAuditInsert('tenant_id', victim, 'raise');
    const first = await featureSync.syncAllTenantsFromStripe();
    expect(first.summary).toMatchObject({ updated: TENANTS, failed: [] });
    // Had the failed attempt left anything behind, some tenant would now hold two audit rows.
    const { bare } = await assertNoPartialRows();
    expect(bare.size).toBe(0);
    await assertAllSynced();
  });

  it.skipIf(!REAL_POSTGRES)(
    'the pool’s backends are terminated mid-sync: a tenant whose retry also fails is reported, nothing is half written, the pool reconnects, a re-run heals (real Postgres only: PGlite is a single in-process session that cannot be terminated without ending the test database)',
    async () => {
      const { featureSync } = retryingServices();
      const victim = tenants[40]!.tenantId;
      await failNextAuditInsert('tenant_id', victim, 'terminate', await poolBackendPids());
      const first = await featureSync.syncAllTenantsFromStripe();
      const failed = new Set(first.summary.failed.map((f) => f.tenantId));
      // The failed batch is retried in halves on fresh connections, so most (often all) tenants heal in this run.
      expect(first.summary.updated + first.summary.failed.length).toBe(TENANTS);
      for (const f of first.summary.failed) expect(f.error).not.toBe('');
      const { bare } = await assertNoPartialRows();
      expect(bare).toEqual(failed);

      const second = await featureSync.syncAllTenantsFromStripe();
      expect(second.summary).toMatchObject({ updated: failed.size, failed: [] });
      await assertAllSynced();
      await assertNoPartialRows();
    },
  );

  it('Postgres unreachable from the start: the sync rejects after the Stripe walk and writes nothing', async () => {
    const dead = createPrismaClient({
      connectionString: 'postgresql://postgres@127.0.0.1:1/none',
      poolMax: 1,
    });
    try {
      const stripeSync = createStripeSyncService(env.stripe, { requestsPerSecond: 100_000, burst: 100_000 });
      const featureSync = createFeatureSyncService(dead.prisma, stripeSync, { cache: createMemoryCache() });
      await expect(featureSync.syncAllTenantsFromStripe()).rejects.toThrow();
      await expect(reconcileTenants({ prisma: dead.prisma, featureSync }, { fix: true })).rejects.toThrow();
    } finally {
      await dead.close().catch(() => {});
    }
  });
});

describe('Postgres failures during a webhook', () => {
  it('failure in the write: 500 (503 when the backend is gone), the event kept pending with its reason, no config, and the retried delivery applies exactly once', async () => {
    const customerId = await env.createCustomer('rf_webhook');
    const sub = await env.subscribe(customerId, 'pro');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    // On real Postgres the backend dies mid-transaction; PGlite (one session) gets a failing statement instead.
    await failNextAuditInsert('stripe_event_id', event.id, REAL_POSTGRES ? 'terminate' : 'raise');

    const failed = await env.deliver(event);
    // A terminated backend is the database going away (503 database_unavailable); a raised error is ours.
    expect(failed.status).toBe(REAL_POSTGRES ? 503 : 500);
    expect(failed.json).toEqual({
      error: { code: REAL_POSTGRES ? 'database_unavailable' : 'internal_error', message: expect.any(String) },
    });
    expect(await env.ledger(event.id)).toMatchObject({ status: 'pending', lastError: expect.any(String) });
    expect(await env.state('rf_webhook')).toBeNull();

    const retried = await env.deliver(event);
    expect(retried).toMatchObject({ status: 200, json: { status: 'processed', action: 'plan_applied' } });
    const again = await env.deliver(event);
    expect(again).toMatchObject({ status: 200, json: { status: 'duplicate' } });
    expect(await env.ledger(event.id)).toMatchObject({ status: 'processed', attempts: 3, lastError: null });
    expect(await env.prisma.featureAuditLog.count({ where: { stripeEventId: event.id } })).toBe(1);
    expect(await env.state('rf_webhook')).toMatchObject({
      features: PLAN_FIXTURES.pro.features,
      accessActive: true,
      version: 1,
    });
  });

  it('database unreachable: 503 database_unavailable (Stripe retries) and the delivery to a healthy server applies once', async () => {
    const customerId = await env.createCustomer('rf_webhook_down');
    const sub = await env.subscribe(customerId, 'starter');
    const event = env.lastEvent('customer.subscription.created', sub.id);
    const dead = createPrismaClient({
      connectionString: 'postgresql://postgres@127.0.0.1:1/none',
      poolMax: 1,
    });
    const handler = createStripeWebhookHandler(
      env.stripe,
      dead.prisma,
      env.featureSync,
      env.emu.webhookSecret,
      { log: () => {} },
    );
    const app = await buildServer({ prisma: dead.prisma, stripe: env.stripe, webhookHandler: handler });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('no address');
      const down = await env.deliver(event, { url: `http://127.0.0.1:${address.port}/api/stripe/webhook` });
      expect(down.status).toBe(503);
      expect(down.json).toMatchObject({ error: { code: 'database_unavailable' } });
    } finally {
      await app.close();
      await dead.close().catch(() => {});
    }
    expect(await env.deliver(event)).toMatchObject({ status: 200, json: { status: 'processed' } });
    expect(await env.prisma.featureAuditLog.count({ where: { stripeEventId: event.id } })).toBe(1);
  });
});

describe('Redis outages', () => {
  it('Redis unreachable (dead port): sync, webhooks and feature reads work from the database, no error reaches a caller', async () => {
    const dead = createRedisCache('redis://127.0.0.1:1', {
      keyPrefix: `${env.namespace}:dead:`,
      commandTimeoutMs: 200,
    });
    try {
      const { featureSync, reader } = retryingServices({ cache: dead });
      const { summary } = await featureSync.syncAllTenantsFromStripe();
      // The seeded tenants plus those the webhook cases above subscribed.
      expect(summary).toMatchObject({ updated: await env.prisma.tenant.count(), failed: [] });
      const sample = tenants.slice(0, 12);
      const started = performance.now();
      const reads = await Promise.all(sample.map((t) => featureSync.getTenantFeatures(t.tenantId)));
      // Bounded by the command timeout, not by ioredis' reconnect loop.
      expect(performance.now() - started).toBeLessThan(3_000);
      reads.forEach((r, i) =>
        expect(r).toMatchObject({
          tenantId: sample[i]!.tenantId,
          features: PLAN_FIXTURES[PLAN_BY_INDEX[i % 3]!].features,
        }),
      );
      expect(await featureSync.isFeatureEnabled(tenants[2]!.tenantId, 'sso')).toBe(true);
      expect(reader.stats.cacheErrors + reader.stats.bypassed).toBeGreaterThan(0);
      expect(reader.stats.hits).toBe(0);

      const handler = createStripeWebhookHandler(env.stripe, env.prisma, featureSync, env.emu.webhookSecret, {
        log: () => {},
      });
      const customerId = await env.createCustomer('rf_redis_down');
      const sub = await env.subscribe(customerId, 'enterprise');
      const event = env.lastEvent('customer.subscription.created', sub.id);
      const payload = JSON.stringify(event);
      await expect(handler.handleWebhook(payload, env.emu.signPayload(payload))).resolves.toMatchObject({
        status: 'processed',
      });
      expect(await featureSync.isFeatureEnabled('rf_redis_down', 'sso')).toBe(true);
    } finally {
      await dead.close();
    }
  });

  it.skipIf(!REAL_REDIS)(
    'Redis disconnects while serving: later reads fall back to the database (REDIS_URL only; the in-memory cache cannot go down)',
    async () => {
      const redis = createRedisCache(process.env.REDIS_URL!, {
        keyPrefix: `${env.namespace}:live:`,
        commandTimeoutMs: 200,
      });
      const { featureSync, reader } = retryingServices({ cache: redis });
      // Until its connection is up the reader goes to the database; wait so the hit below is a cache hit.
      await vi.waitFor(() => expect(reader.cacheState).toBe('closed'), WAIT);
      await featureSync.syncAllTenantsFromStripe({ limit: 3 });
      const tenantId = (await env.prisma.tenantFeatureConfig.findFirstOrThrow()).tenantId;
      await featureSync.getTenantFeatures(tenantId);
      expect(reader.stats.hits).toBe(1);
      await redis.close();
      await vi.waitFor(() => expect(reader.cacheState).toBe('open'), WAIT);
      const after = await featureSync.getTenantFeatures(tenantId);
      expect(after?.tenantId).toBe(tenantId);
      expect(reader.stats.cacheErrors + reader.stats.bypassed).toBeGreaterThan(0);
    },
  );

  it('a write during a cache partition is never hidden: reads go to the database meanwhile, and the missed publish is repaired when the cache returns', async () => {
    const memory = createMemoryCache();
    let down = false;
    const guard = <T>(op: () => Promise<T>) =>
      down ? Promise.reject(new Error('ECONNRESET (simulated partition)')) : op();
    const flaky: KeyValueCache = {
      kind: 'memory',
      get: (k) => guard(() => memory.get(k)),
      set: (k, v, t) => guard(() => memory.set(k, v, t)),
      setIfNewer: (k, ver, v, t) => guard(() => memory.setIfNewer(k, ver, v, t)),
      del: (...k) => guard(() => memory.del(...k)),
      close: () => memory.close(),
    };
    const reader = createFeatureReader(env.prisma, flaky, {
      namespace: 'partition',
      ttlSeconds: 60,
      breakerRetryMs: 50,
    });
    const featureSync = createFeatureSyncService(env.prisma, retryingServices().stripeSync, {
      featureReader: reader,
    });
    const t = tenants[0]!; // starter
    await featureSync.syncAllTenantsFromStripe({ tenantId: t.tenantId });
    expect(await featureSync.isFeatureEnabled(t.tenantId, 'sso')).toBe(false);
    expect(await memory.get(`partition:${t.tenantId}`)).not.toBeNull();

    down = true;
    const item = (await env.stripe.subscriptions.retrieve(t.subscriptionId)).items.data[0]!;
    await env.stripe.subscriptions.update(t.subscriptionId, {
      items: [{ id: item.id, price: env.plans.enterprise.price.id }],
    });
    const { summary } = await featureSync.syncAllTenantsFromStripe({ tenantId: t.tenantId });
    expect(summary).toMatchObject({ updated: 1, failed: [] });
    // The publish failed and opened the breaker: lookups skip the cache holding the older entry.
    expect(reader.cacheState).toBe('open');
    expect(await featureSync.isFeatureEnabled(t.tenantId, 'sso')).toBe(true);
    down = false;

    // After the breaker's wait a lookup probes the cache and closes it; the repair evicts the stale entry.
    await vi.waitFor(async () => {
      expect(await featureSync.isFeatureEnabled(t.tenantId, 'sso')).toBe(true);
      expect(reader.cacheState).toBe('closed');
    }, WAIT);
    expect(await featureSync.isFeatureEnabled(t.tenantId, 'sso')).toBe(true);
    expect(await featureSync.isFeatureEnabled(t.tenantId, 'sso')).toBe(true);
    expect(reader.stats.hits).toBeGreaterThan(0);
    await env.stripe.subscriptions.update(t.subscriptionId, { items: [{ id: item.id, price: t.priceId }] });
  });
});
