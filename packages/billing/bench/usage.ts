import http from 'node:http';
import type Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { addFeature, createTenant, createUsageService, setFeatureOverride } from '../src/index.js';
import { buildServer } from '../src/server.js';
import { percentile, ratio, runConcurrently, verdict, type BenchRow } from './stats.js';

const ADMIN_TOKEN = 'bench-usage-admin-token-0123456789';

/**
 * Issue 21's figures (BENCH_ONLY=usage), baselines built in the same run on the same database:
 * - `track` in-process at c64 over 1,000 tenants vs a bare `pg` pool doing the same atomic
 *   conditional update per call (target ≥ 0.6×);
 * - the same with all 64 callers on one counter (exact: the final `used` equals the grants);
 * - `track` through the server's HTTP route (`POST /api/admin/tenants/:id/usage/track`, admin bearer
 *   token, keep-alive connections) at c64, the client in the same process as the server;
 * - `check` answered from the process's counter cache, one caller at a time: p99 (target ≤ 1 ms).
 */
export async function benchUsage({ calls = 20_000, concurrency = 64, tenants = 1000 } = {}): Promise<
  BenchRow[]
> {
  const db = await createIsolatedDatabase({ poolMax: 8 });
  const rows: BenchRow[] = [];
  const database = db.embedded ? 'pglite' : 'postgres';
  const usage = createUsageService(db.prisma, { pool: db.pool, sweepIntervalMs: 0 });
  try {
    await addFeature(db.prisma, {
      key: 'api.calls',
      type: 'number',
      description: 'API calls',
      usage: { reset: 'month', overage: 'reject' },
    });
    const ids = Array.from({ length: tenants }, (_, i) => `ub-${i}`);
    for (const id of ids) {
      await createTenant(db.prisma, { id, name: id });
      await setFeatureOverride(db.prisma, id, 'api.calls', 1_000_000_000);
    }
    for (const id of ids) await usage.track(id, 'api.calls', 0);

    // Baseline: the conditional update a hand-written meter would run, one statement per call.
    await db.pool.query(
      `CREATE TABLE bench_counters (tenant_id text, key text, used bigint, PRIMARY KEY (tenant_id, key))`,
      [],
    );
    await db.pool.query(`INSERT INTO bench_counters SELECT id, 'api.calls', 0 FROM unnest($1::text[]) id`, [
      ids,
    ]);
    const bare = await runConcurrently(calls, concurrency, (i) =>
      db.pool.query(
        `UPDATE bench_counters SET used = used + $3 WHERE tenant_id = $1 AND key = $2 AND used + $3 <= $4 RETURNING used`,
        [ids[i % tenants], 'api.calls', 1, 1_000_000_000],
      ),
    );
    const bareOps = (calls / bare.wallMs) * 1000;
    rows.push({
      benchmark: `usage: bare pg conditional UPDATE per call, c${concurrency} (baseline)`,
      'ops/s': Math.round(bareOps),
      'p50 ms': percentile(bare.latencies, 50),
      'p99 ms': percentile(bare.latencies, 99),
      database,
    });

    const spread = await runConcurrently(calls, concurrency, (i) =>
      usage.track(ids[i % tenants]!, 'api.calls'),
    );
    const spreadOps = (calls / spread.wallMs) * 1000;
    rows.push({
      benchmark: `usage: track in-process, c${concurrency}, ${tenants} tenants`,
      'ops/s': Math.round(spreadOps),
      'p50 ms': percentile(spread.latencies, 50),
      'p99 ms': percentile(spread.latencies, 99),
      database,
      vsBaseline: ratio(spreadOps, bareOps),
      target: verdict(spreadOps >= 0.6 * bareOps, '≥ 0.6× bare pg'),
    });

    await createTenant(db.prisma, { id: 'ub-hot', name: 'hot' });
    await setFeatureOverride(db.prisma, 'ub-hot', 'api.calls', calls / 2);
    let granted = 0;
    const hot = await runConcurrently(calls, concurrency, async () => {
      if ((await usage.track('ub-hot', 'api.calls')).allowed) granted += 1;
    });
    const hotUsed = (await usage.getUsage('ub-hot')).meters[0]!.used;
    rows.push({
      benchmark: `usage: track in-process, c${concurrency}, one hot counter (limit ${calls / 2})`,
      'ops/s': Math.round((calls / hot.wallMs) * 1000),
      'p50 ms': percentile(hot.latencies, 50),
      'p99 ms': percentile(hot.latencies, 99),
      database,
      detail: `granted ${granted}, used ${hotUsed}${granted === hotUsed && hotUsed === calls / 2 ? ' (exact)' : ' (NOT exact)'}`,
    });

    // Over HTTP: our server (Fastify, the admin route, bearer auth) on a port, 64 keep-alive connections.
    const app = await buildServer({
      prisma: db.prisma,
      stripe: {} as Stripe,
      webhookHandler: { handleWebhook: () => Promise.reject(new Error('not used by this benchmark')) },
      usage,
      auth: { tokens: [{ name: 'bench', role: 'admin', token: ADMIN_TOKEN }] },
    });
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      const body = JSON.stringify({ key: 'api.calls' });
      let failures = 0;
      const post = (tenantId: string) =>
        new Promise<void>((resolve) => {
          const req = http.request(
            {
              agent,
              host: '127.0.0.1',
              port,
              method: 'POST',
              path: `/api/admin/tenants/${tenantId}/usage/track`,
              headers: {
                authorization: `Bearer ${ADMIN_TOKEN}`,
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                const ok =
                  res.statusCode === 200 &&
                  (JSON.parse(Buffer.concat(chunks).toString()) as { allowed: boolean }).allowed;
                if (!ok) failures += 1;
                resolve();
              });
            },
          );
          req.on('error', () => {
            failures += 1;
            resolve();
          });
          req.end(body);
        });
      const overHttp = await runConcurrently(calls, concurrency, (i) => post(ids[i % tenants]!));
      agent.destroy();
      rows.push({
        benchmark: `usage: track over HTTP (server route), c${concurrency}, ${tenants} tenants`,
        'ops/s': Math.round((calls / overHttp.wallMs) * 1000),
        'p50 ms': percentile(overHttp.latencies, 50),
        'p99 ms': percentile(overHttp.latencies, 99),
        database,
        detail: `client in the server's process; not allowed or failed: ${failures}`,
      });
    } finally {
      await app.close();
    }

    // One caller at a time: the p99 of a check answered from the cache, not of 64 callers queueing
    // on one event loop (which the track rows above measure). The counter cache is kept for the whole
    // row (default 1 s): on a loaded machine 20,000 checks outlast a second, and the row would then
    // time the database reads of expired entries, not the cache.
    const cached = createUsageService(db.prisma, {
      pool: db.pool,
      sweepIntervalMs: 0,
      checkCacheMs: 600_000,
    });
    try {
      await Promise.all(ids.map((id) => cached.check(id, 'api.calls')));
      const check = await runConcurrently(calls, 1, (i) => cached.check(ids[i % tenants]!, 'api.calls'));
      const checkP99 = percentile(check.latencies, 99);
      rows.push({
        benchmark: 'usage: check from the cache, c1',
        'ops/s': Math.round((calls / check.wallMs) * 1000),
        'p50 ms': percentile(check.latencies, 50),
        'p99 ms': checkP99,
        database,
        target: verdict(checkP99 <= 1, 'p99 ≤ 1 ms'),
        detail: 'checkCacheMs 600000 for the row (default 1000)',
      });
    } finally {
      cached.close();
    }
  } finally {
    usage.close();
    await db.close();
  }
  return rows;
}
