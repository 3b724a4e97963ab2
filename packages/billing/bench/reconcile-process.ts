import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { oneShotEnv } from '../src/entry/cli/common.js';
import { createBillingContext } from '../src/entry/context.js';
import { LISTED_RECONCILE_RESULTS } from '../src/flows/reconcile/index.js';
import { lastJsonLineOf } from './processes.js';

/** What one run in a process of its own measured (see runReconcileProcess). */
export interface ReconcileProcessReport {
  wallMs: number;
  /** Until the Stripe walk ended (undefined for code that does not report it). */
  stripeMs?: number;
  /** RSS once the context was built, before the run. */
  rssStartMiB: number;
  /** The process's peak RSS (VmHWM), context and run included. */
  peakRssMiB: number;
  /**
   * The heap still in use right after a full collection, taken once when 90 % of `tenants` had
   * been checked: what the run holds then (records per customer, batches, pages), without the
   * garbage a peak RSS also counts.
   */
  liveHeapMiB?: number;
  checked: number;
  drifting: number;
  listed: number;
  stripeRequests: number;
}

export interface ReconcileProcessConfig {
  databaseUrl: string;
  schema: string;
  stripeApiBase: string;
  stripeSecretKey: string;
  requestsPerSecond: number;
  redisUrl?: string;
  /** Tenants the run will check (for the live-heap sample). */
  tenants: number;
  /** 'sync': the full sync that configures every tenant first (the reconcile then has something to check). */
  mode: 'reconcile' | 'sync';
  /**
   * A module exporting `reconcileTenants` (another checkout's src/flows/reconcile/index.ts): the same
   * run through that code, for a before/after in the same run. Default: this checkout's.
   */
  reconcileModule?: string;
}

const SELF = fileURLToPath(import.meta.url);
const OWN_MODULE = fileURLToPath(new URL('../src/flows/reconcile/index.ts', import.meta.url));

/**
 * A reconcile check run the way `npm run reconcile` runs it: a fresh process that builds the
 * billing context from its environment and checks every tenant, keeping the CLI's 1,000 of each
 * list. The process is the run's alone, so its peak RSS is the reconcile's.
 */
export function runReconcileProcess(config: ReconcileProcessConfig): Promise<ReconcileProcessReport> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SELF], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_RECONCILE_PROCESS: JSON.stringify(config) },
  });
  return lastJsonLineOf<ReconcileProcessReport>(child, 'reconcile process');
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);

function peakRssMiB(): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kb ? Math.round(Number(kb) / 1024) : mib(process.memoryUsage().rss);
}

type Reconcile = (
  deps: unknown,
  options: Record<string, unknown>,
) => Promise<{
  checked: number;
  drift: unknown[];
  drifting?: number;
  stripeRequests: number;
  stripeMs?: number;
}>;

async function child(config: ReconcileProcessConfig): Promise<ReconcileProcessReport> {
  const context = await createBillingContext({
    env: oneShotEnv({
      DATABASE_URL: config.databaseUrl,
      DATABASE_SCHEMA: config.schema,
      STRIPE_SECRET_KEY: config.stripeSecretKey,
      STRIPE_API_BASE: config.stripeApiBase,
      STRIPE_REQUESTS_PER_SECOND: String(config.requestsPerSecond),
      ...(config.redisUrl ? { REDIS_URL: config.redisUrl } : {}),
    }),
    cacheNamespace: `bench-reconcile-${new URL(config.databaseUrl).pathname.slice(1)}-${config.schema}`,
  });
  try {
    const rssStartMiB = mib(process.memoryUsage().rss);
    const started = performance.now();
    if (config.mode === 'sync') {
      const { summary } = await context.featureSync.syncAllTenantsFromStripe({ keepResults: false });
      return {
        wallMs: Math.round(performance.now() - started),
        rssStartMiB,
        peakRssMiB: peakRssMiB(),
        checked: summary.processed,
        drifting: 0,
        listed: 0,
        stripeRequests: summary.stripeRequests,
      };
    }
    const module = (await import(pathToFileURL(config.reconcileModule ?? OWN_MODULE).href)) as {
      reconcileTenants: Reconcile;
    };
    let liveHeapMiB: number | undefined;
    const result = await module.reconcileTenants(context, {
      keepResults: LISTED_RECONCILE_RESULTS,
      onProgress: (p: { phase: string; done: number }) => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (liveHeapMiB !== undefined || p.phase !== 'check' || p.done < 0.9 * config.tenants || !gc) return;
        gc();
        liveHeapMiB = mib(process.memoryUsage().heapUsed);
      },
    });
    return {
      wallMs: Math.round(performance.now() - started),
      ...(result.stripeMs !== undefined ? { stripeMs: result.stripeMs } : {}),
      rssStartMiB,
      peakRssMiB: peakRssMiB(),
      ...(liveHeapMiB !== undefined ? { liveHeapMiB } : {}),
      checked: result.checked,
      drifting: result.drifting ?? result.drift.length,
      listed: result.drift.length,
      stripeRequests: result.stripeRequests,
    };
  } finally {
    await context.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await child(
    JSON.parse(process.env.BENCH_RECONCILE_PROCESS ?? '{}') as ReconcileProcessConfig,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
