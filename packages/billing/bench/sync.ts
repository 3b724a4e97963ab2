import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import {
  createStripeSyncService,
  createTokenBucket,
  listByCreatedRanges,
} from '../src/io/stripe-sync/index.js';
import { seedPlans } from '../test/helpers/fixtures.js';
import { startEmulatorProcess } from './emulator-process.js';
import { seedTenantsInBulk } from './seed-tenants.js';
import { insertTenants, rawBatchedUpsert, rawPool, readSyncedRows } from './sql-baselines.js';
import { printTable, ratio, verdict, withPeakMemory, type BenchRow } from './stats.js';
import { createOwnDatabase } from './own-database.js';
import { runSyncProcess, timePool, type SyncProcessReport } from './sync-process.js';

function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([key]) => key !== 'total')
    .map(([key, n]) => `${key}=${n}`)
    .join(', ');
}

export interface SyncBenchOptions {
  tenantCounts?: number[];
  /** Latency the emulator adds to every Stripe request during the syncs (default 150 ms, as real Stripe). */
  stripeLatencyMs?: number;
  /** The client-side Stripe budget (default 25 requests/second, the library's default). */
  requestsPerSecond?: number;
  /**
   * Items per subscription, one run each (default [1]): 2 adds an add-on item (`addon=true`,
   * `max_projects` 5 per unit, quantity 3) to every subscription, so every plan is a combination.
   */
  itemCounts?: number[];
}

/**
 * Full Stripe → tenant sync at several sizes, with the emulator (a process of its own, as Stripe is
 * remote) answering every request after `stripeLatencyMs`: a first sync that writes every tenant, then a second one where nothing changed.
 * Beside them, in the same run, the raw-SQL baseline: the same rows written by bare `pg` with one
 * `INSERT … SELECT FROM unnest … ON CONFLICT` (+ audit rows) per 500 tenants.
 */
export async function benchSync({
  tenantCounts = [1000, 10000],
  stripeLatencyMs = 150,
  requestsPerSecond = 25,
  itemCounts = [1],
}: SyncBenchOptions = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [await benchWalkSimulated({ latencyMs: stripeLatencyMs, requestsPerSecond })];
  for (const items of itemCounts)
    for (const tenants of tenantCounts)
      rows.push(...(await benchSyncOf(tenants, items, { stripeLatencyMs, requestsPerSecond })));
  return rows;
}

/** One size of the full sync (see benchSync); rows are named `sync N` or `sync N (K items)`. */
async function benchSyncOf(
  tenants: number,
  items: number,
  { stripeLatencyMs, requestsPerSecond }: { stripeLatencyMs: number; requestsPerSecond: number },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // Each row on stderr as it is measured too: a long run (100k tenants) loses nothing if stopped.
  const push = (row: BenchRow) => {
    console.error(`[bench] ${JSON.stringify(row)}`);
    rows.push(row);
  };
  const label = items === 1 ? `sync ${tenants}` : `sync ${tenants} (${items} items)`;
  const emu = await startEmulatorProcess();
  // A database of its own on PostgreSQL: the server then counts the time its statements take.
  const own = process.env.DATABASE_URL ? await createOwnDatabase() : null;
  const db = own ?? (await createIsolatedDatabase());
  try {
    const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
    const seedStart = performance.now();
    const plans = await seedPlans(stripe);
    const addon = items > 1 ? await seedAddon(stripe) : null;
    const seeded = await seedTenantsInBulk(emu, db.prisma, tenants, {
      plans,
      prefix: 'bench',
      ...(addon ? { extraItemsFor: () => [{ price: addon, quantity: 3 }] } : {}),
    });
    push({
      benchmark: `${label}: seed (emulator bulk endpoint, 5,000 per request; plans through the SDK)`,
      wallMs: Math.round(performance.now() - seedStart),
      stripeRequests: (await emu.requestCounts()).total ?? 0,
    });

    await emu.injectLatency(stripeLatencyMs);
    // On PostgreSQL each sync runs in a process of its own, built from the environment as the CLI
    // builds it, so its peak RSS is the sync's; on the embedded database (one process) in this one.
    const processConfig = {
      databaseUrl: db.connectionString,
      schema: db.schema,
      stripeApiBase: emu.url,
      stripeSecretKey: emu.apiKey,
      requestsPerSecond,
      ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    };
    // BENCH_SYNC_HEAP=<dir>: each sync's process writes a heap snapshot at 90 % of the tenants.
    const heapDir = process.env.BENCH_SYNC_HEAP;
    const heapSnapshot = heapDir ? { heapSnapshot: { dir: heapDir, atDone: Math.floor(tenants * 0.9) } } : {};
    const runSync = db.embedded
      ? inProcessSync(db, emu, requestsPerSecond, tenants)
      : () => runSyncProcess({ ...processConfig, ...heapSnapshot });
    // What a process's start (migrations check, catalog) costs the database, taken off each sync's.
    let startupDbMs = 0;
    if (own) {
      const before = await settledActiveMs(own);
      await runSyncProcess({ ...processConfig, startOnly: true });
      startupDbMs = (await settledActiveMs(own)) - before;
    }
    let firstDbMs = 0;
    let firstWriteMs = 0;
    for (const phase of ['first sync', 'second sync (no changes)'] as const) {
      await emu.resetRequestCounts();
      const activeBefore = own ? await settledActiveMs(own) : 0;
      const emuCpuBefore = (await emu.stats()).cpuMs;
      const run = await runSync();
      const emuCpuMs = (await emu.stats()).cpuMs - emuCpuBefore;
      // The server's count when it has one (the sync's process has exited, so its backends reported).
      const dbBusyMs = own
        ? Math.max(0, Math.round((await settledActiveMs(own)) - activeBefore - startupDbMs))
        : run.dbBusyMs;
      const counts = await emu.requestCounts();
      const { summary, wallMs } = run;
      const { stripeMs } = summary;
      const writeMs = Math.max(0, wallMs - stripeMs);
      const pages = counts.total ?? 0;
      // The Stripe budget alone needs pages ÷ budget; the target allows 1.3× that plus the writes left after the walk.
      const budgetMs = (pages / requestsPerSecond) * 1000;
      const limitMs = 1.3 * budgetMs + writeMs;
      const first = phase === 'first sync';
      if (first) {
        firstWriteMs = writeMs;
        firstDbMs = dbBusyMs;
      }
      const rssTarget = verdict(run.peakRssMiB <= 400, 'peak RSS ≤ 400 MiB');
      push({
        benchmark: `${label}: ${phase}, ${stripeLatencyMs} ms Stripe latency, ${requestsPerSecond} req/s`,
        wallMs: Math.round(wallMs),
        stripeRequests: pages,
        byEndpoint: formatCounts(counts),
        dbRoundTrips: run.statements,
        peakRssMiB: run.peakRssMiB,
        updated: summary.updated,
        unchanged: summary.unchanged,
        failed: summary.failed.length,
        detail:
          `Stripe walk ${stripeMs} ms = ${ratio(stripeMs, budgetMs)} of pages ÷ budget (${Math.round(budgetMs)} ms)` +
          `; write phase after the walk ${Math.round(writeMs)} ms; database time ${dbBusyMs} ms${own ? ` (server, the process's statements less its start-up's ${Math.round(startupDbMs)} ms; client-side ${run.dbBusyMs} ms)` : ''}` +
          (first ? '' : ` = ${ratio(dbBusyMs, firstDbMs)} of the first sync's`) +
          `; RSS ${run.rssStartMiB} MiB before the sync, V8 heap peak ${run.peakHeapMiB} MiB` +
          `; CPU: the sync's process ${run.cpuMs} ms, the emulator's ${Math.round(emuCpuMs)} ms = ${(emuCpuMs / Math.max(1, pages)).toFixed(1)} ms a page`,
        target: first
          ? `${verdict(wallMs <= limitMs, `whole ≤ 1.3 × pages ÷ budget + write phase = ${Math.round(limitMs)} ms`)}; ${rssTarget}`
          : `${verdict(dbBusyMs <= 0.25 * firstDbMs, "database time ≤ 25 % of the first sync's")}; ${rssTarget}`,
      });
    }

    // The baseline: the very rows the first sync wrote, replayed by bare pg into a fresh schema.
    const written = await readSyncedRows(db);
    const baseOwn = process.env.DATABASE_URL ? await createOwnDatabase({ poolMax: 1, readPoolMax: 1 }) : null;
    const baseDb = baseOwn ?? (await createIsolatedDatabase({ poolMax: 1, readPoolMax: 1 }));
    const setup = rawPool(baseDb, 1);
    await insertTenants(
      setup,
      seeded.map((t) => t.tenantId),
    );
    await setup.end();
    const pool = rawPool(baseDb, 3);
    try {
      const baseActive = baseOwn ? await settledActiveMs(baseOwn) : 0;
      const base = await rawBatchedUpsert(pool, written, { chunk: 500, concurrency: 3 });
      // Its connections exit so that the server reports their time.
      await pool.end();
      const baseDbMs = baseOwn ? (await settledActiveMs(baseOwn)) - baseActive : base.wallMs;
      push({
        benchmark: `${label}: raw-SQL baseline (pg, unnest upsert + audit, 500/statement, 3 in flight)`,
        wallMs: Math.round(base.wallMs),
        dbRoundTrips: base.statements,
        detail: `${written.length} rows; database time ${Math.round(baseDbMs)} ms`,
      });
      push({
        benchmark: `${label}: first sync's database time vs raw-SQL baseline's`,
        wallMs: firstDbMs,
        vsBaseline: ratio(firstDbMs, baseDbMs),
        detail: `loads, writes and stamps, overlapping the walk; the write phase left after the walk: ${Math.round(firstWriteMs)} ms = ${ratio(firstWriteMs, base.wallMs)} of the baseline's wall time`,
        target: verdict(firstDbMs <= 1.5 * baseDbMs, '≤ 1.5× baseline'),
      });
    } finally {
      await pool.end().catch(() => {});
      await baseDb.close();
    }
  } finally {
    await db.close();
    await emu.close();
  }
  return rows;
}

/**
 * The server's active time of a database of our own, once every idle connection has reported: a
 * backend reports when it exits, or when it goes idle at most once a second, else 10 s later
 * (PostgreSQL 15's PGSTAT_IDLE_INTERVAL); so the count is read after 11 s without statements.
 */
async function settledActiveMs(db: { activeMs(): Promise<number> }): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  return db.activeMs();
}

/**
 * The sync in this process (the embedded database cannot be shared with another): the same
 * figures as runSyncProcess, the peak RSS being this process's during the sync.
 */
function inProcessSync(
  db: Database,
  emu: Awaited<ReturnType<typeof startEmulatorProcess>>,
  requestsPerSecond: number,
  tenants: number,
): () => Promise<SyncProcessReport> {
  const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
  const stripeSync = createStripeSyncService(stripe, { requestsPerSecond });
  const timed = timePool(db.pool);
  const sync = createFeatureSyncService(db.prisma, stripeSync, {
    pool: timed.pool,
    cache: createMemoryCache({ maxEntries: tenants * 2 }),
  });
  return async () => {
    const before = timed.figures();
    const rssStartMiB = Math.round(process.memoryUsage().rss / 1024 / 1024);
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const { result, peakRssMiB } = await withPeakMemory(() =>
      sync.syncAllTenantsFromStripe({ keepResults: false }),
    );
    const after = timed.figures();
    const cpu = process.cpuUsage(cpuBefore);
    return {
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      peakHeapMiB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
      summary: result.summary,
      wallMs: Math.round(performance.now() - started),
      dbBusyMs: Math.round(after.busyMs - before.busyMs),
      statements: after.statements - before.statements,
      rssStartMiB,
      peakRssMiB,
    };
  };
}

/** An add-on every bench subscription can carry: 5 projects per unit. */
async function seedAddon(stripe: Stripe): Promise<string> {
  const product = await stripe.products.create({
    name: 'Five projects',
    metadata: { addon: 'true', featuresJson: '{"max_projects":5}' },
  });
  const price = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 500,
    recurring: { interval: 'month' },
  });
  return price.id;
}

/**
 * The concurrent walk alone, free of CPU contention: an in-memory list of `objects` (created at
 * `perSecond`) whose every page answers after `latencyMs`, read through the library's token bucket
 * at `requestsPerSecond` with listByCreatedRanges' default 8 pages in flight.
 */
export async function benchWalkSimulated({
  objects = 10_000,
  perSecond = 300,
  latencyMs = 150,
  requestsPerSecond = 25,
} = {}): Promise<BenchRow> {
  let t = 1_700_000_000;
  const all = Array.from({ length: objects }, (_, i) => ({
    id: `obj_${i}`,
    created: i % perSecond === 0 ? ++t : t,
  })).reverse();
  const position = new Map(all.map((o, i) => [o.id, i]));
  let requests = 0;
  const bucket = createTokenBucket({ ratePerSecond: requestsPerSecond });
  const started = performance.now();
  const got = await listByCreatedRanges(
    async (_label, fn) => {
      await bucket.take();
      return fn();
    },
    'simulated.list',
    async (params) => {
      requests += 1;
      await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const from = params.starting_after === undefined ? 0 : position.get(params.starting_after)! + 1;
      const { gte, lt } = params.created ?? {};
      const matching = all
        .slice(from)
        .filter((o) => (gte === undefined || o.created >= gte) && (lt === undefined || o.created < lt));
      return {
        object: 'list' as const,
        url: '/v1/simulated',
        has_more: matching.length > params.limit,
        data: matching.slice(0, params.limit),
      };
    },
    { concurrency: 8 },
  );
  const wallMs = performance.now() - started;
  const budgetMs = (requests / requestsPerSecond) * 1000;
  if (got.length !== objects) throw new Error(`simulated walk returned ${got.length} of ${objects}`);
  return {
    benchmark: `Stripe walk alone, simulated: ${objects} objects, ${latencyMs} ms latency, ${requestsPerSecond} req/s`,
    wallMs: Math.round(wallMs),
    stripeRequests: requests,
    detail: `${perSecond} objects per created second; pages ÷ budget = ${Math.round(budgetMs)} ms`,
    vsBaseline: ratio(wallMs, budgetMs),
    target: verdict(wallMs <= 1.5 * budgetMs, '≤ 1.5 × pages ÷ budget'),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  printTable(await benchSync(counts.length > 0 ? { tenantCounts: counts } : undefined));
}
