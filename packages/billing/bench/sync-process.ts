import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { oneShotEnv } from '../src/entry/cli/common.js';
import { createBillingContext } from '../src/entry/context.js';
import type { SyncSummary } from '../src/flows/feature-sync/index.js';

/** What one full sync in a process of its own measured (see runSyncProcess). */
export interface SyncProcessReport {
  summary: SyncSummary;
  /** Wall time of syncAllTenantsFromStripe alone. */
  wallMs: number;
  /** Time with at least one of the sync's statements in flight on the pool (loads, writes, stamps). */
  dbBusyMs: number;
  /** Statements the sync sent through the pool. */
  statements: number;
  /** RSS once the context was built, before the sync. */
  rssStartMiB: number;
  /** The process's peak RSS (VmHWM), context and sync included. */
  peakRssMiB: number;
}

export interface SyncProcessConfig {
  databaseUrl: string;
  schema: string;
  stripeApiBase: string;
  stripeSecretKey: string;
  requestsPerSecond: number;
  redisUrl?: string;
  /** Build the context and close it, no sync: what starting a process costs the database. */
  startOnly?: boolean;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * A full sync run the way `migrate-stripe-metadata-to-db` runs it: a fresh process that builds the
 * billing context from its environment (pools, cache, Stripe budget) and syncs every tenant with
 * `keepResults: false`. The process is the sync's alone, so its peak RSS is the sync's, not the
 * benchmark's (which holds the seeding's leftovers), and a bound on it can be read off directly.
 */
export function runSyncProcess(config: SyncProcessConfig): Promise<SyncProcessReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_SYNC_PROCESS: JSON.stringify(config) },
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`sync process exited ${code}: ${out}`));
      resolve(JSON.parse(line) as SyncProcessReport);
    });
  });
}

/**
 * The pool with its statements timed: `busyMs` is the time with at least one statement in flight
 * (from the first one sent to the last one back, summed), what the database spent on the caller.
 */
export function timePool<P extends { query: (...args: never[]) => Promise<unknown> }>(pool: P) {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  let inFlight = 0;
  let since = 0;
  let busyMs = 0;
  let statements = 0;
  const timed = {
    query: async (...args: unknown[]) => {
      statements += 1;
      if (inFlight++ === 0) since = performance.now();
      try {
        return await query(...args);
      } finally {
        if (--inFlight === 0) busyMs += performance.now() - since;
      }
    },
  };
  return { pool: timed as unknown as P, figures: () => ({ busyMs, statements }) };
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);

function peakRssMiB(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kb ? Math.round(Number(kb) / 1024) : mib(process.memoryUsage().rss);
}

const emptySummary = (): SyncSummary => ({
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

async function child(config: SyncProcessConfig): Promise<SyncProcessReport> {
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
  try {
    // The service calls `pool.query` on every statement: timed from here on.
    const pool = context.db.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> };
    const timed = timePool({ query: pool.query.bind(pool) });
    pool.query = timed.pool.query;
    const rssStartMiB = mib(process.memoryUsage().rss);
    const started = performance.now();
    const { summary } = config.startOnly
      ? { summary: emptySummary() }
      : await context.featureSync.syncAllTenantsFromStripe({ keepResults: false });
    const wallMs = performance.now() - started;
    return {
      summary,
      wallMs: Math.round(wallMs),
      dbBusyMs: Math.round(timed.figures().busyMs),
      statements: timed.figures().statements,
      rssStartMiB,
      peakRssMiB: peakRssMiB(),
    };
  } finally {
    await context.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await child(JSON.parse(process.env.BENCH_SYNC_PROCESS ?? '{}') as SyncProcessConfig);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
