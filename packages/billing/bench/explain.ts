import { createIsolatedDatabase } from '@packages/db';
import { createTenant, explainFeature, setFeatureOverride } from '../src/index.js';
import { percentile, ratio, runConcurrently, type BenchRow } from './stats.js';

/**
 * Issue 22's explain figure (BENCH_ONLY=explain): explainFeature for a tenant with 1,000 audit rows,
 * the key last changed by the OLDEST of them (the lateral walks of the (tenant_id, created_at)
 * index read every row before they match: the worst case), now and at a past instant. Baseline in
 * the same run on the same database: the tenant's config row read by primary key, one statement.
 */
export async function benchExplain({ auditRows = 1000, calls = 500 } = {}): Promise<BenchRow[]> {
  const db = await createIsolatedDatabase({ poolMax: 4 });
  const database = db.embedded ? 'pglite' : 'postgres';
  try {
    await createTenant(db.prisma, { id: 'ex-bench', name: 'bench' });
    await setFeatureOverride(db.prisma, 'ex-bench', 'max_users', 10);
    // 999 more changes of another key, each with the whole snapshot as the write path records it.
    await db.pool.query(
      `INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after, created_at)
       SELECT 'ex-bench', 'bench', 'admin', 'override_set',
              jsonb_build_object('features', jsonb_build_object('max_users', 10, 'max_projects', n - 1),
                                 'overrides', jsonb_build_object('max_users', 10, 'max_projects', n - 1)),
              jsonb_build_object('features', jsonb_build_object('max_users', 10, 'max_projects', n),
                                 'overrides', jsonb_build_object('max_users', 10, 'max_projects', n)),
              now() + n * interval '1 millisecond'
         FROM generate_series(1, $1::int) n`,
      [auditRows - 1],
    );
    const middle = new Date(Date.now() + auditRows / 2);
    const rows: BenchRow[] = [];
    const one = (fn: () => Promise<unknown>) => runConcurrently(calls, 1, fn);
    const base = await one(() =>
      db.pool.query(`SELECT * FROM tenant_feature_configs WHERE tenant_id = $1`, ['ex-bench']),
    );
    const baseP99 = percentile(base.latencies, 99);
    rows.push({
      benchmark: 'explain: config row by primary key, one caller (baseline)',
      'p50 ms': percentile(base.latencies, 50),
      'p99 ms': baseP99,
      database,
    });
    for (const [label, at] of [
      ['now', undefined],
      ['at a past instant', middle],
    ] as const) {
      const run = await one(() => explainFeature(db.prisma, 'ex-bench', 'max_users', at ? { at } : {}));
      rows.push({
        benchmark: `explain: explainFeature ${label}, ${auditRows} audit rows, one caller`,
        'p50 ms': percentile(run.latencies, 50),
        'p99 ms': percentile(run.latencies, 99),
        database,
        vsBaseline: ratio(percentile(run.latencies, 99), baseP99),
      });
    }
    return rows;
  } finally {
    await db.close();
  }
}
