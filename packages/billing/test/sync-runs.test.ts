import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { buildServer } from '../src/entry/server/app.js';
import { createSyncRuns, type SyncResult, type SyncRunsOptions } from '../src/flows/feature-sync/index.js';
import { createSyncRunWriter } from '../src/flows/feature-sync/sync-run-writer.js';
import { claimSyncRun, readSyncRunResults } from '../src/io/sync-runs/store.js';
import { sqlThroughPool } from '../src/io/sql-runner.js';
import { ADMIN_TOKEN, bearer, testAuthConfig } from './admin-helpers.js';
import { createTenant, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { closeAfterAll, useAdminTestEnv } from './helpers/use-env.js';

/**
 * POST /api/admin/sync as a run any instance answers for: "instances" are servers built apart over
 * the same database, each with its own SyncRuns (as two processes would have), against the emulator
 * through the stripe SDK. A run held in its Stripe walk (the emulator holds the list request) stays
 * running for as long as a test needs.
 */
const env = await useAdminTestEnv({ clearFaultsEachTest: true });
const plans = await seedPlans(env.stripe);
const seeded = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 12, { plans, prefix: 'run' });
// A customer naming no tenant of ours: a skip (no_tenant), so a result that needs a look on every run.
const stray = await env.stripe.customers.create({ name: 'Stray' });
await env.stripe.subscriptions.create({ customer: stray.id, items: [{ price: plans.pro.price.id }] });
const admin = bearer(ADMIN_TOKEN);

/** One instance: a server with its own SyncRuns over the shared database. */
async function instance(options: Partial<SyncRunsOptions> = {}, syncWaitMs?: number) {
  const syncRuns = createSyncRuns(env.featureSync, { sql: sqlThroughPool(env.db.pool), ...options });
  const app = await buildServer({
    prisma: env.prisma,
    stripe: env.stripe,
    featureSync: env.featureSync,
    syncRuns,
    auth: testAuthConfig(env, 'a', 'b'),
    ...(syncWaitMs !== undefined ? { syncWaitMs } : {}),
  } as Parameters<typeof buildServer>[0]);
  closeAfterAll({ close: async () => (await syncRuns.close(), await app.close()) });
  return { app, syncRuns };
}

const a = await instance({ heartbeatMs: 50 });
const b = await instance({ heartbeatMs: 50 });

async function startSync(app: FastifyInstance, body: Record<string, unknown> = {}, query = '') {
  return app.inject({ method: 'POST', url: `/api/admin/sync${query}`, headers: admin, payload: body });
}

async function getRun(app: FastifyInstance, runId: string) {
  const res = await app.inject({ method: 'GET', url: `/api/admin/sync/runs/${runId}`, headers: admin });
  expect(res.statusCode).toBe(200);
  return res.json();
}

/** Polls until the run is no longer running. */
async function ended(app: FastifyInstance, runId: string) {
  return vi.waitFor(
    async () => {
      const run = await getRun(app, runId);
      if (run.status === 'running') throw new Error('still running');
      return run;
    },
    { timeout: 20_000, interval: 50 },
  );
}

async function page(app: FastifyInstance, runId: string, query: string) {
  const res = await app.inject({
    method: 'GET',
    url: `/api/admin/sync/runs/${runId}/results${query}`,
    headers: admin,
  });
  expect(res.statusCode).toBe(200);
  return res.json();
}

/** Every result of a run, `limit` at a time, following nextCursor to its end. */
async function allResults(app: FastifyInstance, runId: string, limit: number) {
  const out: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages += 1) {
    const body = await page(app, runId, `?limit=${limit}${cursor !== null ? `&cursor=${cursor}` : ''}`);
    out.push(...body.results);
    cursor = body.nextCursor;
    if (cursor === null) return out;
  }
  throw new Error('no end of pages');
}

/** Holds the walk's subscription list requests until released. */
const holdWalk = () => env.emu.holdRequests({ method: 'GET', path: '/v1/subscriptions' });

describe('sync runs over HTTP', () => {
  it('POST answers 202 with the run id; polling shows it end; paging through its results gives the tenants that need a look', async () => {
    const res = await startSync(a.app);
    expect(res.statusCode).toBe(202);
    const { runId } = res.json();
    expect(res.headers.location).toBe(`/api/admin/sync/runs/${runId}`);
    const run = await ended(a.app, runId);
    expect(run).toMatchObject({
      id: runId,
      status: 'succeeded',
      exclusive: true,
      actor: 'admin:ops',
      options: { dryRun: false, tenantId: null, includeUpToDate: false, source: 'admin' },
      progress: { done: 13, total: 13 },
      summary: { processed: 13, updated: 12, unchanged: 0, skipped: { no_tenant: 1 }, aborted: false },
      error: null,
    });
    const results = await allResults(a.app, runId, 5);
    expect(results).toHaveLength(13);
    expect(results.map((r) => r.seq)).toEqual([...results.map((r) => r.seq as number)].sort((x, y) => x - y));
    const changed = results.filter((r) => r.changed === true);
    expect(new Set(changed.map((r) => r.tenantId))).toEqual(new Set(seeded.map((t) => t.tenantId)));
    expect(changed[0]).toMatchObject({ success: true, before: null, after: expect.any(Object) });
    expect(results.filter((r) => !r.changed)).toMatchObject([
      { customerId: stray.id, tenantId: null, reason: 'no_tenant' },
    ]);
  });

  it('a second run lists only what needs a look; includeUpToDate lists every tenant', async () => {
    const quiet = (await startSync(a.app)).json().runId as string;
    expect((await ended(a.app, quiet)).summary).toMatchObject({ processed: 13, unchanged: 12 });
    expect(await allResults(a.app, quiet, 100)).toMatchObject([
      { customerId: stray.id, reason: 'no_tenant' },
    ]);

    const all = (await startSync(a.app, { includeUpToDate: true })).json().runId as string;
    await ended(a.app, all);
    const results = await allResults(a.app, all, 4);
    expect(results).toHaveLength(13);
    expect(results.filter((r) => r.reason === 'up_to_date')).toHaveLength(12);
  });

  it('the cursor is stable: a page asked for again is the same, and pages of any size add up to the same list', async () => {
    const runId = (await startSync(a.app, { includeUpToDate: true })).json().runId as string;
    await ended(a.app, runId);
    const first = await page(a.app, runId, '?limit=3');
    expect(first.results).toHaveLength(3);
    const second = await page(a.app, runId, `?limit=3&cursor=${first.nextCursor}`);
    const again = await page(a.app, runId, `?limit=3&cursor=${first.nextCursor}`);
    expect(again).toEqual(second);
    expect(second.results[0].seq).toBeGreaterThan(first.results[2].seq);
    const whole = await page(a.app, runId, '?limit=1000');
    expect(whole.nextCursor).toBeNull();
    expect(await allResults(a.app, runId, 3)).toEqual(whole.results);
    expect(await allResults(b.app, runId, 7)).toEqual(whole.results);
  });

  it('two instances: the other sees the same run, and a second full sync there is a 409 naming it', async () => {
    const hold = holdWalk();
    try {
      const runId = (await startSync(a.app)).json().runId as string;
      await vi.waitFor(() => expect(hold.held).toBeGreaterThan(0), { timeout: 10_000 });
      expect(await getRun(b.app, runId)).toMatchObject({ id: runId, status: 'running', actor: 'admin:ops' });
      const second = await startSync(b.app, { dryRun: true });
      expect(second.statusCode).toBe(409);
      expect(second.json().error).toMatchObject({
        code: 'sync_in_progress',
        message: expect.stringContaining(runId),
      });
      // On the instance running it too.
      expect((await startSync(a.app)).statusCode).toBe(409);
      // One tenant's sync is not a full sync: it runs beside it (a tenant without a customer asks
      // Stripe nothing, so the held walk does not hold it).
      await createTenant(env.prisma, 'run_beside');
      const one = await startSync(b.app, { tenantId: 'run_beside' }, '?wait=true');
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({
        status: 'succeeded',
        results: [{ tenantId: 'run_beside', reason: 'no_customer' }],
      });
      const listed = await b.app.inject({
        method: 'GET',
        url: '/api/admin/sync/runs?limit=2',
        headers: admin,
      });
      expect(listed.json().runs.map((r: { id: string }) => r.id)).toEqual([one.json().runId, runId]);
      hold.release();
      expect((await ended(b.app, runId)).status).toBe('succeeded');
    } finally {
      hold.release();
    }
  });

  it('abort from another instance: the running one sees it at its next heartbeat and stops', async () => {
    const hold = holdWalk();
    try {
      const runId = (await startSync(a.app)).json().runId as string;
      await vi.waitFor(() => expect(hold.held).toBeGreaterThan(0), { timeout: 10_000 });
      const abort = await b.app.inject({
        method: 'POST',
        url: `/api/admin/sync/runs/${runId}/abort`,
        headers: admin,
      });
      expect(abort.statusCode).toBe(202);
      expect(abort.json()).toMatchObject({ id: runId, status: 'running', abortRequested: true });
      // A heartbeat after the request has read it (the walk still waits on Stripe meanwhile).
      const askedAt = Date.parse(abort.json().heartbeatAt);
      await vi.waitFor(
        async () => expect(Date.parse((await getRun(b.app, runId)).heartbeatAt)).toBeGreaterThan(askedAt),
        {
          timeout: 10_000,
        },
      );
      hold.release();
      const run = await ended(b.app, runId);
      expect(run).toMatchObject({ status: 'aborted', summary: { aborted: true } });
      // Nothing left to abort.
      const late = await b.app.inject({
        method: 'POST',
        url: `/api/admin/sync/runs/${runId}/abort`,
        headers: admin,
      });
      expect(late.statusCode).toBe(200);
      expect(late.json().status).toBe('aborted');
    } finally {
      hold.release();
    }
  });

  it('a run whose instance died reads abandoned, and does not block the next full sync', async () => {
    const ghost = randomUUID();
    await env.prisma.$executeRawUnsafe(
      `INSERT INTO sync_runs (id, status, exclusive, options, actor, started_at, heartbeat_at)
       VALUES ($1::uuid, 'running', true, '{}', 'admin:ghost', now() - interval '1 hour', now() - interval '1 hour')`,
      ghost,
    );
    expect(await getRun(b.app, ghost)).toMatchObject({ status: 'abandoned', finishedAt: null });
    const res = await startSync(b.app, {}, '?wait=true');
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('succeeded');
    // The start stored it as abandoned, ended at its last heartbeat.
    const stored = await getRun(a.app, ghost);
    expect(stored).toMatchObject({ status: 'abandoned', finishedAt: stored.heartbeatAt });
  });

  it('a run whose heartbeat went stale and was taken over stops, and stays abandoned', async () => {
    // Its heartbeat is due only after the test: nothing revives the row once it is made stale.
    const frozen = await instance({ heartbeatMs: 600_000 });
    const hold = holdWalk();
    try {
      const { runId, finished } = await frozen.syncRuns.start({ actor: 'admin:ops', source: 'admin' });
      await vi.waitFor(() => expect(hold.held).toBeGreaterThan(0), { timeout: 10_000 });
      // As if this instance had frozen past the stale bound: another instance takes the slot.
      await env.prisma.$executeRawUnsafe(
        `UPDATE sync_runs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1::uuid`,
        runId,
      );
      const next = await startSync(b.app);
      expect(next.statusCode).toBe(202);
      hold.release();
      expect((await ended(b.app, next.json().runId)).status).toBe('succeeded');
      // Its last write found the row no longer running: it recorded no end of its own.
      expect(await finished).toMatchObject({ runId, status: 'abandoned' });
      expect(await getRun(a.app, runId)).toMatchObject({ status: 'abandoned', summary: null });
    } finally {
      hold.release();
    }
  });

  it('?wait=true answers the summary and the first results when the run ends in time, else 202', async () => {
    const slow = await instance({}, 100);
    const hold = holdWalk();
    try {
      const res = await startSync(slow.app, { dryRun: true }, '?wait=true');
      expect(res.statusCode).toBe(202);
      const runId = res.json().runId as string;
      hold.release();
      expect((await ended(slow.app, runId)).status).toBe('succeeded');
    } finally {
      hold.release();
    }
    const done = await startSync(a.app, { dryRun: true }, '?wait=true');
    expect(done.statusCode).toBe(200);
    expect(done.json()).toMatchObject({
      status: 'succeeded',
      summary: { processed: 13 },
      results: [{ customerId: stray.id, reason: 'no_tenant' }],
      nextCursor: null,
    });
  });

  it('a failing run: ?wait=true answers as the failure did (502), the run reads failed with its code', async () => {
    const badSync = (await import('../src/flows/feature-sync/index.js')).createFeatureSyncService(
      env.prisma,
      (await import('../src/io/stripe-sync/index.js')).createStripeSyncService(
        env.newStripeClient({ apiKey: 'sk_test_wrong', maxNetworkRetries: 0 }),
        { maxRetries: 0 },
      ),
    );
    const bad = createSyncRuns(badSync, { sql: sqlThroughPool(env.db.pool) });
    const app = await buildServer({
      prisma: env.prisma,
      stripe: env.stripe,
      featureSync: badSync,
      syncRuns: bad,
      auth: testAuthConfig(env, 'a', 'b'),
    } as Parameters<typeof buildServer>[0]);
    try {
      const waited = await startSync(app, {}, '?wait=true');
      expect(waited.statusCode).toBe(502);
      expect(waited.json().error.code).toBe('stripe_authentication_failed');
      const runId = (await startSync(app)).json().runId as string;
      expect(await ended(app, runId)).toMatchObject({
        status: 'failed',
        summary: null,
        error: { code: 'stripe_authentication_failed' },
      });
    } finally {
      await bad.close();
      await app.close();
    }
  });

  it('unknown run → 404 sync_run_not_found; a malformed id or cursor → 400', async () => {
    for (const url of [
      `/api/admin/sync/runs/${randomUUID()}`,
      `/api/admin/sync/runs/${randomUUID()}/results`,
    ]) {
      const res = await a.app.inject({ method: 'GET', url, headers: admin });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('sync_run_not_found');
    }
    const abort = await a.app.inject({
      method: 'POST',
      url: `/api/admin/sync/runs/${randomUUID()}/abort`,
      headers: admin,
    });
    expect(abort.statusCode).toBe(404);
    for (const url of [
      '/api/admin/sync/runs/not-a-uuid',
      `/api/admin/sync/runs/${randomUUID()}/results?cursor=abc`,
      `/api/admin/sync/runs/${randomUUID()}/results?limit=1001`,
    ]) {
      expect((await a.app.inject({ method: 'GET', url, headers: admin })).statusCode, url).toBe(400);
    }
    const tenantToken = await a.app.inject({
      method: 'GET',
      url: '/api/admin/sync/runs',
      headers: bearer('tenant-a-token-0123456789abcdef'),
    });
    expect(tenantToken.statusCode).toBe(403);
  });

  it('runs past the retention are deleted with their results when a run starts', async () => {
    const old = randomUUID();
    await env.prisma.$executeRawUnsafe(
      `INSERT INTO sync_runs (id, status, exclusive, options, actor, started_at, heartbeat_at, finished_at)
       VALUES ($1::uuid, 'succeeded', true, '{}', 'admin:ops', now() - interval '20 days', now() - interval '20 days', now() - interval '20 days')`,
      old,
    );
    await env.prisma.$executeRawUnsafe(
      `INSERT INTO sync_run_results (run_id, seq, customer_id, result) VALUES ($1::uuid, 0, 'cus_old', '{}')`,
      old,
    );
    await createTenant(env.prisma, 'run_retention_probe');
    const res = await startSync(a.app, { tenantId: 'run_retention_probe' }, '?wait=true');
    expect(res.json().results).toMatchObject([{ tenantId: 'run_retention_probe', reason: 'no_customer' }]);
    expect(
      (await a.app.inject({ method: 'GET', url: `/api/admin/sync/runs/${old}`, headers: admin })).statusCode,
    ).toBe(404);
    const left = await env.prisma.$queryRawUnsafe<{ n: bigint }[]>(
      `SELECT count(*) AS n FROM sync_run_results WHERE run_id = $1::uuid`,
      old,
    );
    expect(Number(left[0]!.n)).toBe(0);
  });
});

describe("a run's results writer", () => {
  it("a customer's later result replaces its row (same seq), or removes it when up to date; the buffer holds each customer once", async () => {
    const sql = sqlThroughPool(env.db.pool);
    const runId = randomUUID();
    const claim = await claimSyncRun(
      sql,
      { id: runId, exclusive: false, options: {}, actor: 'test' },
      { staleAfterMs: 60_000, retentionDays: 14 },
    );
    expect(claim.claimed).toBe(true);
    const writer = createSyncRunWriter({
      runId,
      sql,
      batchSize: 100,
      includeUpToDate: false,
      staleAfterMs: 60_000,
      stop: () => {
        throw new Error('not expected to stop');
      },
    });
    const result = (customerId: string, extra: Partial<SyncResult>): SyncResult => ({
      tenantId: `t_${customerId}`,
      customerId,
      planId: null,
      success: true,
      changed: true,
      ...extra,
    });
    writer.add(result('cus_a', {}), false);
    writer.add(result('cus_b', {}), false);
    writer.add(result('cus_c', { success: false, changed: false, reason: 'no_tenant' }), false);
    await writer.beat();
    // Later pages: cus_a turns out up to date, cus_b is decided again with a failure; cus_d comes
    // twice before a beat (both in the buffer).
    writer.add(result('cus_a', { changed: false, reason: 'up_to_date' }), true);
    writer.add(result('cus_b', { success: false, changed: false, reason: 'write_failed', error: 'x' }), true);
    writer.add(result('cus_d', {}), false);
    writer.add(result('cus_d', { changed: false, reason: 'stale_read', success: false }), true);
    // Up to date and not a replacement: not stored, nothing removed.
    writer.add(result('cus_e', { changed: false, reason: 'up_to_date' }), false);
    writer.onProgress({ done: 5, total: 5 });
    await writer.drain();
    const page = await readSyncRunResults(sql, runId, { afterSeq: -1, limit: 100 }, { staleAfterMs: 60_000 });
    expect(page?.run.progress).toEqual({ done: 5, total: 5 });
    expect(page?.results.map((r) => [r.seq, r.customerId, r.reason])).toEqual([
      [1, 'cus_b', 'write_failed'],
      [2, 'cus_c', 'no_tenant'],
      // (cus_b's replacement was numbered 3 in the buffer; the row kept its 1: seqs may have gaps.)
      [4, 'cus_d', 'stale_read'],
    ]);
  });
});
