import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { createMemoryCache } from '../src/cache/index.js';
import { createFeatureSyncService } from '../src/feature-sync/index.js';
import { createStripeSyncService, createTokenBucket, listByCreatedRanges } from '../src/stripe-sync/index.js';
import { seedPlans, seedTenantsWithSubscriptions } from '../test/helpers/fixtures.js';
import { startEmulatorProcess } from './emulator-process.js';
import { insertTenants, rawBatchedUpsert, rawPool, readSyncedRows } from './sql-baselines.js';
import { printTable, ratio, verdict, withPeakMemory, type BenchRow } from './stats.js';

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
  const label = items === 1 ? `sync ${tenants}` : `sync ${tenants} (${items} items)`;
  const emu = await startEmulatorProcess();
  const db = await createIsolatedDatabase();
  try {
    const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
    const seedStart = performance.now();
    const plans = await seedPlans(stripe);
    const addon = items > 1 ? await seedAddon(stripe) : null;
    const seeded = await seedTenantsWithSubscriptions(stripe, db.prisma, tenants, {
      plans,
      prefix: 'bench',
      concurrency: 16,
      ...(addon ? { extraItemsFor: () => [{ price: addon, quantity: 3 }] } : {}),
    });
    rows.push({
      benchmark: `${label}: seed (SDK, 16 parallel, no latency)`,
      wallMs: Math.round(performance.now() - seedStart),
      stripeRequests: (await emu.requestCounts()).total ?? 0,
    });

    await emu.injectLatency(stripeLatencyMs);
    const stripeSync = createStripeSyncService(stripe, { requestsPerSecond });
    // As the context builds it: the batch statements through the pg pool behind Prisma.
    const sync = createFeatureSyncService(db.prisma, stripeSync, {
      pool: db.pool,
      cache: createMemoryCache({ maxEntries: tenants * 2 }),
    });
    let firstWriteMs = 0;
    for (const phase of ['first sync', 'second sync (no changes)'] as const) {
      await emu.resetRequestCounts();
      const queriesBefore = db.stats.queries;
      const started = performance.now();
      const { result, peakRssMiB } = await withPeakMemory(() =>
        sync.syncAllTenantsFromStripe({ keepResults: false }),
      );
      const wallMs = performance.now() - started;
      const counts = await emu.requestCounts();
      const { stripeMs } = result.summary;
      const writeMs = wallMs - stripeMs;
      const pages = counts.total ?? 0;
      // The Stripe budget alone needs pages ÷ budget; the target allows 1.5× that plus the writes.
      const budgetMs = (pages / requestsPerSecond) * 1000;
      const limitMs = 1.5 * budgetMs + writeMs;
      if (phase === 'first sync') firstWriteMs = writeMs;
      rows.push({
        benchmark: `${label}: ${phase}, ${stripeLatencyMs} ms Stripe latency, ${requestsPerSecond} req/s`,
        wallMs: Math.round(wallMs),
        stripeRequests: pages,
        byEndpoint: formatCounts(counts),
        dbRoundTrips: db.stats.queries - queriesBefore,
        peakRssMiB,
        updated: result.summary.updated,
        unchanged: result.summary.unchanged,
        failed: result.summary.failed.length,
        detail:
          `Stripe walk ${stripeMs} ms (pages ÷ budget = ${Math.round(budgetMs)} ms), write phase ${Math.round(writeMs)} ms` +
          `; whole sync ${ratio(wallMs - writeMs, budgetMs)} of pages ÷ budget`,
        target: verdict(
          wallMs <= limitMs,
          `whole ≤ 1.5 × pages ÷ budget + writes = ${Math.round(limitMs)} ms`,
        ),
      });
    }

    // The baseline: the very rows the first sync wrote, replayed by bare pg into a fresh schema.
    const written = await readSyncedRows(db);
    const baseDb = await createIsolatedDatabase({ poolMax: 1, readPoolMax: 1 });
    const pool = rawPool(baseDb, 3);
    try {
      await insertTenants(
        pool,
        seeded.map((t) => t.tenantId),
      );
      const base = await rawBatchedUpsert(pool, written, { chunk: 500, concurrency: 3 });
      rows.push({
        benchmark: `${label}: raw-SQL baseline (pg, unnest upsert + audit, 500/statement, 3 in flight)`,
        wallMs: Math.round(base.wallMs),
        dbRoundTrips: base.statements,
        detail: `${written.length} rows`,
      });
      rows.push({
        benchmark: `${label}: first sync's write phase vs raw-SQL baseline`,
        wallMs: Math.round(firstWriteMs),
        vsBaseline: ratio(firstWriteMs, base.wallMs),
        target: verdict(firstWriteMs <= 2 * base.wallMs, '≤ 2× baseline'),
      });
    } finally {
      await pool.end();
      await baseDb.close();
    }
  } finally {
    await db.close();
    await emu.close();
  }
  return rows;
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
