import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureSyncService, createSyncRuns } from '../src/flows/feature-sync/index.js';
import { sqlThroughPool } from '../src/io/sql-runner.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import { seedPlans } from '../test/helpers/fixtures.js';
import { startEmulatorProcess } from './emulator-process.js';
import { seedTenantsInBulk } from './seed-tenants.js';
import { median, ratio, type BenchRow } from './stats.js';
import { timePool } from './sync-process.js';

/**
 * What recording a sync as a run costs (`BENCH_ONLY=sync-runs`, not in the default run): the same
 * sync bare (`syncAllTenantsFromStripe({ keepResults: false })`) and as a run (`createSyncRuns`:
 * claim, heartbeats carrying the results 500 per statement, finish), alternated `rounds` times,
 * medians. The first sync writes every tenant (each a result row: the most a run stores); the
 * no-change sync stores none. Stripe answers at once and the rate limit is lifted, so the
 * difference is the run's own work, not hidden behind the walk's waits.
 *   BENCH_RUN_TENANTS=10000  BENCH_RUN_ROUNDS=3
 */
export async function benchSyncRuns(
  options: { tenants?: number; rounds?: number } = {},
): Promise<BenchRow[]> {
  const tenants = options.tenants ?? Number(process.env.BENCH_RUN_TENANTS ?? 10_000);
  const rounds = options.rounds ?? Number(process.env.BENCH_RUN_ROUNDS ?? 3);
  const emu = await startEmulatorProcess();
  const db = await createIsolatedDatabase();
  try {
    const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
    const plans = await seedPlans(stripe);
    await seedTenantsInBulk(emu, db.prisma, tenants, { plans, prefix: 'runs' });
    const timed = timePool(db.pool);
    const featureSync = createFeatureSyncService(
      db.prisma,
      createStripeSyncService(stripe, { requestsPerSecond: 100_000, burst: 100_000 }),
      { pool: timed.pool, cache: createMemoryCache({ maxEntries: tenants * 2 }) },
    );
    const runs = createSyncRuns(featureSync, { sql: sqlThroughPool(timed.pool) });
    const bare = async () => (await featureSync.syncAllTenantsFromStripe({ keepResults: false })).summary;
    const asRun = async () => {
      const { finished } = await runs.start({ actor: 'bench', source: 'sync' });
      const outcome = await finished;
      if (outcome.status !== 'succeeded') throw new Error(`bench run ${outcome.status}`);
      return outcome.summary!;
    };
    const measure = async (fn: () => Promise<{ updated: number }>, fresh: boolean) => {
      if (fresh) await db.prisma.$executeRawUnsafe('DELETE FROM tenant_feature_configs');
      else await fn();
      const before = timed.figures();
      const started = performance.now();
      const summary = await fn();
      const after = timed.figures();
      return {
        wallMs: performance.now() - started,
        dbBusyMs: after.busyMs - before.busyMs,
        statements: after.statements - before.statements,
        updated: summary.updated,
      };
    };
    const rows: BenchRow[] = [];
    for (const fresh of [true, false]) {
      type Figures = Awaited<ReturnType<typeof measure>>;
      const figures: Record<'bare' | 'run', Figures[]> = { bare: [], run: [] };
      for (let round = 0; round < rounds; round += 1) {
        figures.bare.push(await measure(bare, fresh));
        figures.run.push(await measure(asRun, fresh));
      }
      const med = (side: 'bare' | 'run', key: 'wallMs' | 'dbBusyMs' | 'statements') =>
        Math.round(median(figures[side].map((f) => f[key])));
      const label = `sync run ${tenants} ${fresh ? 'first sync' : 'no-change sync'}`;
      rows.push({
        benchmark: `${label}: bare sync (baseline)`,
        wallMs: med('bare', 'wallMs'),
        dbRoundTrips: med('bare', 'statements'),
        detail: `updated ${figures.bare[0]!.updated}; database busy ${med('bare', 'dbBusyMs')} ms; medians of ${rounds}, alternated with the run`,
      });
      rows.push({
        benchmark: `${label}: as a run (results stored, heartbeats)`,
        wallMs: med('run', 'wallMs'),
        dbRoundTrips: med('run', 'statements'),
        vsBaseline: ratio(med('run', 'wallMs'), med('bare', 'wallMs')),
        detail: `database busy ${med('run', 'dbBusyMs')} ms = ${ratio(med('run', 'dbBusyMs'), med('bare', 'dbBusyMs'))} the baseline's`,
      });
    }
    await runs.close();
    return rows;
  } finally {
    await db.close();
    await emu.close();
  }
}
