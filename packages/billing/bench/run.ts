import { cpus, loadavg } from 'node:os';
import { benchCache } from './cache.js';
import { benchEmulatorScale } from './emulator-scale.js';
import { benchExplain } from './explain.js';
import { benchOpenFeature } from './openfeature.js';
import { benchInbox } from './webhook-inbox.js';
import { benchLookups } from './lookups.js';
import { benchLookupsAtScale } from './lookups-scale.js';
import { benchReconcile } from './reconcile.js';
import { printTable, type BenchRow } from './stats.js';
import { benchSync } from './sync.js';
import { benchSyncRuns } from './sync-runs.js';
import { benchUsage } from './usage.js';
import { benchWebhooks } from './webhook.js';

/**
 * `npm run bench`: every benchmark, one table. Not a test: it asserts nothing and is not timed by CI.
 * Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, embedded PGlite and memory otherwise.
 *   BENCH_TENANTS=1000,10000   tenant counts for the full-sync rows
 *   BENCH_STRIPE_LATENCY_MS=150 latency the emulator adds to each request during the syncs
 *   BENCH_SYNC_ITEMS=1,2       items per subscription for the full-sync rows (default 1; 2 adds an add-on)
 *   BENCH_WEBHOOK_EVENTS=2000  events for the webhook row (BENCH_WEBHOOK_CONCURRENCY=16)
 *   BENCH_ONLY=sync,webhooks,lookups,cache,inbox,usage,explain,scale-lookups,openfeature   (explain: explainFeature p99 over 1,000 audit rows, issue 22; usage: track/check vs bare pg, issue 21;
 *                              openfeature: OFREP bulk c64 vs bare node:http, 304s, provider in process, change → event; needs
 *                              DATABASE_URL (+ REDIS_URL for the change row), not in the default run: it starts two servers;
 *                              inbox: `npm start` processes, c64, needs Postgres + Redis; scale-lookups is not in
 *                              the default run: it seeds 251,000 tenants)
 *   BENCH_LOOKUP_TENANTS=1000,50000,200000  tenant counts of the scale-lookups rows
 *   BENCH_ONLY=reconcile       the reconcile check over every tenant in a process of its own (peak RSS, wall vs
 *                              pages ÷ budget), not in the default run; needs DATABASE_URL. BENCH_RECONCILE_TENANTS=10000,100000
 *                              its sizes; BENCH_RECONCILE_COMPARE=/other/checkout/packages/billing/src/flows/reconcile/index.ts
 *                              the same check through that code too, in the same run
 *   BENCH_ONLY=emulator        the Stripe emulator's own costs (bulk vs SDK seeding, RSS per subscription, the
 *                              full walk), not in the default run; BENCH_EMULATOR_SUBSCRIPTIONS=10000,100000 its sizes
 *   BENCH_ONLY=sync-runs       a sync recorded as a run (results stored, heartbeats) vs the bare sync, first and
 *                              no-change, not in the default run; BENCH_RUN_TENANTS=10000 BENCH_RUN_ROUNDS=3
 *   BENCH_INBOX_WORKERS=N     the budget row's WEBHOOK_WORKERS (default: the server's own default)
 *   BENCH_INBOX_ROWS=ingest,budget,lifted,zero  inbox row groups (default all): ingest at c64, processing
 *                              at the default budget (+ reads during it, burst, RSS), processing with the
 *                              budget lifted at 150 ms, processing at zero latency vs a bare-pg worker
 *   BENCH_INBOX_ROUNDS=N      the ingest and zero rows alternate the reference baseline and the server N
 *                              times (default 1) and report medians: the ratio is the median of the rounds'
 *   BENCH_COMPARE_SERVER=/other/checkout/packages/billing/src/entry/server/main.ts  the ingest, lifted and zero rows
 *                              against that server too, in the same run (before/after on a noisy machine)
 */
const tenantCounts = (process.env.BENCH_TENANTS ?? '1000,10000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const only = new Set(
  (process.env.BENCH_ONLY ?? 'sync,webhooks,lookups,cache,inbox,usage,explain').split(','),
);
const stripeLatencyMs = Number(process.env.BENCH_STRIPE_LATENCY_MS ?? 150);
const itemCounts = (process.env.BENCH_SYNC_ITEMS ?? '1')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const events = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 2000);
const concurrency = Number(process.env.BENCH_WEBHOOK_CONCURRENCY ?? 16);

const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
console.log(
  `load average ${load()} (${cpus().length} cores); node ${process.version}; database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; ` +
    `cache: ${process.env.REDIS_URL ? 'Redis (REDIS_URL)' : 'memory'}\n`,
);
const rows: BenchRow[] = [];
if (only.has('sync')) rows.push(...(await benchSync({ tenantCounts, stripeLatencyMs, itemCounts })));
if (only.has('webhooks')) rows.push(...(await benchWebhooks({ events, concurrency })));
if (only.has('lookups')) rows.push(...(await benchLookups()));
if (only.has('cache')) rows.push(...(await benchCache()));
if (only.has('usage')) rows.push(...(await benchUsage()));
if (only.has('scale-lookups')) {
  const counts = process.env.BENCH_LOOKUP_TENANTS?.split(',').map(Number);
  rows.push(...(await benchLookupsAtScale(counts ? { tenantCounts: counts } : {})));
}
if (only.has('emulator')) {
  const counts = process.env.BENCH_EMULATOR_SUBSCRIPTIONS?.split(',').map(Number);
  rows.push(...(await benchEmulatorScale(counts ? { counts } : {})));
}
if (only.has('reconcile')) {
  const counts = process.env.BENCH_RECONCILE_TENANTS?.split(',').map(Number);
  rows.push(
    ...(await benchReconcile({
      stripeLatencyMs,
      ...(counts ? { tenantCounts: counts } : {}),
      ...(process.env.BENCH_RECONCILE_COMPARE ? { compareModule: process.env.BENCH_RECONCILE_COMPARE } : {}),
    })),
  );
}
if (only.has('explain')) rows.push(...(await benchExplain()));
if (only.has('sync-runs')) rows.push(...(await benchSyncRuns()));
if (only.has('openfeature')) rows.push(...(await benchOpenFeature()));
const inboxRows = process.env.BENCH_INBOX_ROWS?.split(',');
if (only.has('inbox'))
  rows.push(
    ...(await benchInbox({
      stripeLatencyMs,
      ...(inboxRows ? { rows: inboxRows } : {}),
      ...(process.env.BENCH_INBOX_WORKERS ? { workers: Number(process.env.BENCH_INBOX_WORKERS) } : {}),
      ...(process.env.BENCH_INBOX_ROUNDS ? { rounds: Number(process.env.BENCH_INBOX_ROUNDS) } : {}),
    })),
  );
printTable(rows.map(normalize));
console.log(`\nload average at the end: ${load()}`);

/** One column set for every benchmark, so the whole run reads as a single table. */
function normalize(row: BenchRow): BenchRow {
  const tenants = Number(/^sync (\d+)/.exec(row.benchmark)?.[1] ?? row.tenants ?? NaN);
  const stripeRequests = typeof row.stripeRequests === 'number' ? row.stripeRequests : undefined;
  const notes = [
    row.byEndpoint,
    row.updated !== undefined
      ? `updated ${row.updated}, unchanged ${row.unchanged}, failed ${row.failed}`
      : undefined,
    row.events !== undefined
      ? `${row.events} events, concurrency ${row.concurrency}, ${row.tenants} tenants, non-2xx ${row.non2xx}`
      : undefined,
    row.stripeCallsPerEvent !== undefined
      ? `Stripe calls/event ${row.stripeCallsPerEvent}, DB round trips/event ${row.dbRoundTripsPerEvent}`
      : undefined,
    row.detail,
  ].filter(Boolean);
  const out: BenchRow = { benchmark: row.benchmark };
  const set = (key: string, value: string | number | undefined) => {
    out[key] = value === undefined || (typeof value === 'number' && !Number.isFinite(value)) ? '' : value;
  };
  set('wall ms', row.wallMs);
  set('ops/s', row.eventsPerSec ?? row['ops/s']);
  set('p50 ms', row.p50Ms ?? row['p50 ms']);
  set('p99 ms', row.p99Ms ?? row['p99 ms']);
  set('Stripe requests', stripeRequests);
  set(
    'Stripe req / 100 tenants',
    stripeRequests !== undefined && tenants > 0 && !row.benchmark.includes('seed')
      ? Math.round((stripeRequests / tenants) * 10000) / 100
      : undefined,
  );
  set('DB round trips', row.dbRoundTrips);
  set('peak RSS MiB', row.peakRssMiB);
  set('vs baseline', row.vsBaseline);
  set('target', row.target);
  set('notes', notes.join('; '));
  return out;
}
