/* global URL, performance, setInterval, clearInterval */
// The process of one bench sync (bench/sync-process.ts starts it): builds the billing context from
// its environment as `migrate-stripe-metadata-to-db` does, runs syncAllTenantsFromStripe({
// keepResults: false }) and prints one JSON line of figures. Plain JavaScript, so that it runs the
// compiled package (`dist/`, what the CLI runs) without tsx in the process; given `src/` it runs
// under `--import tsx` instead. BENCH_SYNC_PROCESS holds its SyncProcessConfig plus `modules`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';

const config = JSON.parse(process.env.BENCH_SYNC_PROCESS ?? '{}');
const load = (path) => import(pathToFileURL(join(config.modules, path)).href);
const { createBillingContext } = await load('entry/context.js');
const { oneShotEnv } = await load('entry/cli/common.js');

const mib = (bytes) => Math.round(bytes / 1024 / 1024);

function peakRssMiB() {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kb ? Math.round(Number(kb) / 1024) : mib(process.memoryUsage().rss);
}

const emptySummary = () => ({
  processed: 0,
  updated: 0,
  unchanged: 0,
  skipped: {},
  failed: [],
  stripeRequests: 0,
  durationMs: 0,
  stripeMs: 0,
  aborted: false,
});

// As the CLI builds it (oneShotEnv sizes the cache for a one-shot command), in a cache namespace
// of its own so that other jobs on this Redis never read the benchmark's tenants.
const context = await createBillingContext({
  env: oneShotEnv({
    DATABASE_URL: config.databaseUrl,
    DATABASE_SCHEMA: config.schema,
    STRIPE_SECRET_KEY: config.stripeSecretKey,
    STRIPE_API_BASE: config.stripeApiBase,
    STRIPE_REQUESTS_PER_SECOND: String(config.requestsPerSecond),
    ...(config.redisUrl ? { REDIS_URL: config.redisUrl } : {}),
  }),
  cacheNamespace: `bench-sync-${new URL(config.databaseUrl).pathname.slice(1)}-${config.schema}`,
});
let report;
try {
  // The service calls `pool.query` on every statement: timed from here on (time with at least one
  // statement in flight, summed).
  const pool = context.db.pool;
  const query = pool.query.bind(pool);
  let inFlight = 0;
  let since = 0;
  let busyMs = 0;
  let statements = 0;
  pool.query = async (...args) => {
    statements += 1;
    if (inFlight++ === 0) since = performance.now();
    try {
      return await query(...args);
    } finally {
      if (--inFlight === 0) busyMs += performance.now() - since;
    }
  };
  const rssStartMiB = mib(process.memoryUsage().rss);
  let peakHeap = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 100);
  const snapshot = config.heapSnapshot;
  const onProgress = snapshot
    ? ({ done }) => {
        if (done !== snapshot.atDone) return;
        const file = writeHeapSnapshot(join(snapshot.dir, `sync-${process.pid}-${done}.heapsnapshot`));
        process.stderr.write(`[bench] heap snapshot ${file}\n`);
      }
    : undefined;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { summary } = config.startOnly
    ? { summary: emptySummary() }
    : await context.featureSync.syncAllTenantsFromStripe({
        keepResults: false,
        ...(onProgress ? { onProgress } : {}),
      });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(sampler);
  report = {
    summary,
    wallMs: Math.round(wallMs),
    dbBusyMs: Math.round(busyMs),
    statements,
    rssStartMiB,
    peakRssMiB: peakRssMiB(),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakHeapMiB: mib(peakHeap),
  };
} finally {
  await context.close();
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(0);
