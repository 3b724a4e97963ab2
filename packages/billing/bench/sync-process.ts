import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SyncSummary } from '../src/flows/feature-sync/index.js';
import { compiledEntry, lastJsonLineOf } from './processes.js';

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
  /** The process's CPU time (user + system) during the sync. */
  cpuMs: number;
  /** The largest V8 heap in use seen during the sync (sampled every 100 ms). */
  peakHeapMiB: number;
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
  /**
   * Write a V8 heap snapshot into this directory once this many tenants have a result (the bench's
   * BENCH_SYNC_HEAP=<dir>, at 90 % of the tenants: the walk's memory near its largest).
   */
  heapSnapshot?: { dir: string; atDone: number };
}

const CHILD = fileURLToPath(new URL('./sync-process-child.mjs', import.meta.url));

/**
 * A full sync run the way `migrate-stripe-metadata-to-db` runs it: a fresh process that builds the
 * billing context from its environment (pools, cache, Stripe budget) and syncs every tenant with
 * `keepResults: false` (bench/sync-process-child.mjs). The process is the sync's alone, so its peak
 * RSS is the sync's, not the benchmark's (which holds the seeding's leftovers), and a bound on it can
 * be read off directly. It runs the compiled package in `dist/`, as the CLI does (a build older than
 * the sources is refused: `npm run build`; or BENCH_SYNC_DIST=<a copy of dist/>); BENCH_SERVER=tsx runs the sources under tsx instead
 * (~60 MiB more RSS: the compiler and the sources' text). BENCH_CPU_PROF=<dir>: it writes a CPU
 * profile there, as the inbox rows' processes do.
 */
export function runSyncProcess(config: SyncProcessConfig): Promise<SyncProcessReport> {
  const tsx = process.env.BENCH_SERVER === 'tsx';
  // dist/entry/context.js → dist/ (compiledEntry refuses a build older than the sources);
  // BENCH_SYNC_DIST=<dir>: a copy of a build taken before the sources were edited, run as it is.
  const modules = tsx
    ? fileURLToPath(new URL('../src', import.meta.url))
    : (process.env.BENCH_SYNC_DIST ?? dirname(dirname(compiledEntry('entry/context'))));
  const profileDir = process.env.BENCH_CPU_PROF;
  const profile = profileDir && !config.startOnly ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...profile, ...(tsx ? ['--import', 'tsx'] : []), CHILD], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_SYNC_PROCESS: JSON.stringify({ ...config, modules }) },
  });
  return lastJsonLineOf<SyncProcessReport>(child, 'sync process');
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
