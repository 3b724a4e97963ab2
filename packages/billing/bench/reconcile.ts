import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { seedPlans } from '../test/helpers/fixtures.js';
import { startEmulatorProcess } from './emulator-process.js';
import { createOwnDatabase } from './own-database.js';
import { runReconcileProcess, type ReconcileProcessConfig } from './reconcile-process.js';
import { seedTenantsInBulk } from './seed-tenants.js';
import { printTable, ratio, verdict, type BenchRow } from './stats.js';

export interface ReconcileBenchOptions {
  tenantCounts?: number[];
  /** Latency the emulator adds to every Stripe request during the reconcile (default 150 ms). */
  stripeLatencyMs?: number;
  /** The client-side Stripe budget (default 25 requests/second, the library's default). */
  requestsPerSecond?: number;
  /** Another checkout's src/flows/reconcile/index.ts: the same check through that code, same run. */
  compareModule?: string;
}

/** Tenants whose stored features are tampered with before the check: one in a thousand drifts. */
const DRIFT_EVERY = 1000;

/**
 * The reconcile check over every tenant (`npm run reconcile` without `--fix`) at several sizes, each
 * in a process of its own built from the environment as the CLI builds it, so its peak RSS is the
 * run's: the tenants are seeded in bulk, configured by a full sync at an unlimited budget, one in a
 * thousand tampered with, then checked with the emulator answering after `stripeLatencyMs` and the
 * library's budget. With `compareModule`, the same check through another checkout's code follows.
 * Needs DATABASE_URL (a process of its own needs a database it can share).
 */
export async function benchReconcile({
  tenantCounts = [10_000, 100_000],
  stripeLatencyMs = 150,
  requestsPerSecond = 25,
  compareModule,
}: ReconcileBenchOptions = {}): Promise<BenchRow[]> {
  if (!process.env.DATABASE_URL)
    return [{ benchmark: 'reconcile: skipped (needs DATABASE_URL: the run has a process of its own)' }];
  const rows: BenchRow[] = [];
  for (const tenants of tenantCounts)
    rows.push(...(await benchReconcileOf(tenants, { stripeLatencyMs, requestsPerSecond, compareModule })));
  return rows;
}

async function benchReconcileOf(
  tenants: number,
  options: Required<Omit<ReconcileBenchOptions, 'tenantCounts' | 'compareModule'>> & {
    compareModule?: string;
  },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const push = (row: BenchRow) => {
    console.error(`[bench] ${JSON.stringify(row)}`);
    rows.push(row);
  };
  const emu = await startEmulatorProcess();
  const db = await createOwnDatabase();
  try {
    const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
    const plans = await seedPlans(stripe);
    const seeded = await seedTenantsInBulk(emu, db.prisma, tenants, { plans, prefix: 'bench' });
    const config: ReconcileProcessConfig = {
      databaseUrl: db.connectionString,
      schema: db.schema,
      stripeApiBase: emu.url,
      stripeSecretKey: emu.apiKey,
      requestsPerSecond: options.requestsPerSecond,
      ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
      mode: 'reconcile',
      tenants,
    };
    const configured = await runReconcileProcess({ ...config, mode: 'sync', requestsPerSecond: 10_000 });
    await db.prisma.$executeRawUnsafe(
      `UPDATE tenant_feature_configs SET features = features || '{"sso": true}'::jsonb
        WHERE tenant_id = ANY($1::text[])`,
      seeded.filter((_, i) => i % DRIFT_EVERY === 0).map((t) => t.tenantId),
    );
    await emu.injectLatency(options.stripeLatencyMs);
    const label = `reconcile ${tenants}: check, ${options.stripeLatencyMs} ms Stripe latency, ${options.requestsPerSecond} req/s`;
    const runs: Array<[string, string | undefined]> = [['', undefined]];
    if (options.compareModule) runs.push([` (compared: ${options.compareModule})`, options.compareModule]);
    let ownWallMs = 0;
    let ownRssMiB = 0;
    for (const [suffix, module] of runs) {
      await emu.resetRequestCounts();
      const run = await runReconcileProcess({ ...config, ...(module ? { reconcileModule: module } : {}) });
      const pages = (await emu.requestCounts()).total ?? 0;
      const budgetMs = (pages / options.requestsPerSecond) * 1000;
      const own = module === undefined;
      if (own) {
        ownWallMs = run.wallMs;
        ownRssMiB = run.peakRssMiB;
      }
      push({
        benchmark: `${label}${suffix}`,
        wallMs: run.wallMs,
        stripeRequests: pages,
        peakRssMiB: run.peakRssMiB,
        vsBaseline: own
          ? ratio(run.wallMs, budgetMs)
          : `wall ${ratio(run.wallMs, ownWallMs)}, RSS ${ratio(run.peakRssMiB, ownRssMiB)} of this checkout's`,
        detail:
          `checked ${run.checked}, drifting ${run.drifting} (listed ${run.listed}); pages ÷ budget ${Math.round(budgetMs)} ms` +
          (run.stripeMs !== undefined
            ? `; Stripe walk ${run.stripeMs} ms = ${ratio(run.stripeMs, budgetMs)} of it`
            : '') +
          `; RSS ${run.rssStartMiB} MiB before the run, live heap ${run.liveHeapMiB ?? '?'} MiB at 90 % checked; configuring sync ${configured.wallMs} ms (peak ${configured.peakRssMiB} MiB)`,
        ...(own
          ? {
              target: `${verdict(run.wallMs <= 1.3 * budgetMs, 'whole ≤ 1.3 × pages ÷ budget')}; ${verdict(run.peakRssMiB <= 400, 'peak RSS ≤ 400 MiB')}`,
            }
          : {}),
      });
    }
  } finally {
    await db.close();
    await emu.close();
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  printTable(await benchReconcile(counts.length > 0 ? { tenantCounts: counts } : undefined));
}
