import { createIsolatedDatabase } from '@packages/db';
import { addFeature, createTenant, createUsageService, setFeatureOverride } from '../src/index.js';
import { percentile, ratio, runConcurrently, verdict, type BenchRow } from './stats.js';

/**
 * Issue 21's figures (BENCH_ONLY=usage), baselines built in the same run on the same database:
 * - `track` in-process at c64 over 1,000 tenants vs a bare `pg` pool doing the same atomic
 *   conditional update per call (target ≥ 0.6×);
 * - the same with all 64 callers on one counter (exact: the final `used` equals the grants);
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

    // One caller at a time: the p99 of a check answered from the cache, not of 64 callers queueing
    // on one event loop (which the track rows above measure).
    await Promise.all(ids.map((id) => usage.check(id, 'api.calls')));
    const check = await runConcurrently(calls, 1, (i) => usage.check(ids[i % tenants]!, 'api.calls'));
    const checkP99 = percentile(check.latencies, 99);
    rows.push({
      benchmark: 'usage: check from the cache, c1',
      'ops/s': Math.round((calls / check.wallMs) * 1000),
      'p50 ms': percentile(check.latencies, 50),
      'p99 ms': checkP99,
      database,
      target: verdict(checkP99 <= 1, 'p99 ≤ 1 ms'),
    });
  } finally {
    usage.close();
    await db.close();
  }
  return rows;
}
