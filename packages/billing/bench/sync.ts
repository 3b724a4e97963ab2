import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { createMemoryCache } from '../src/cache/index.js';
import { createFeatureSyncService } from '../src/feature-sync/index.js';
import { createStripeSyncService } from '../src/stripe-sync/index.js';
import { seedPlans, seedTenantsWithSubscriptions } from '../test/helpers/fixtures.js';
import { printTable, withPeakMemory, type BenchRow } from './stats.js';

function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([key]) => key !== 'total')
    .map(([key, n]) => `${key}=${n}`)
    .join(', ');
}

/**
 * Full Stripe → tenant sync at several sizes: a first sync that writes every tenant, then a
 * second one where nothing changed (the cheap steady state). Reports wall time, Stripe requests
 * per endpoint, DB round trips and peak RSS for each. Stripe calls run at the default 25 rps.
 */
export async function benchSync(tenantCounts: number[] = [1000, 10000]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const tenants of tenantCounts) {
    const emu = await startStripeEmulator({ port: 0 });
    const db = await createIsolatedDatabase();
    try {
      const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
      const seedStart = performance.now();
      const plans = await seedPlans(stripe);
      await seedTenantsWithSubscriptions(stripe, db.prisma, tenants, {
        plans,
        prefix: 'bench',
        concurrency: 16,
      });
      rows.push({
        benchmark: `sync ${tenants}: seed (SDK, 16 parallel)`,
        wallMs: Math.round(performance.now() - seedStart),
        stripeRequests: emu.requestCounts().total ?? 0,
      });

      const stripeSync = createStripeSyncService(stripe);
      const sync = createFeatureSyncService(db.prisma, stripeSync, {
        cache: createMemoryCache({ maxEntries: tenants * 2 }),
      });
      for (const phase of ['first sync', 'second sync (no changes)'] as const) {
        emu.resetRequestCounts();
        const queriesBefore = db.stats.queries;
        const started = performance.now();
        const { result, peakRssMiB } = await withPeakMemory(() => sync.syncAllTenantsFromStripe());
        const counts = emu.requestCounts();
        rows.push({
          benchmark: `sync ${tenants}: ${phase}`,
          wallMs: Math.round(performance.now() - started),
          stripeRequests: counts.total ?? 0,
          byEndpoint: formatCounts(counts),
          dbRoundTrips: db.stats.queries - queriesBefore,
          peakRssMiB,
          updated: result.summary.updated,
          unchanged: result.summary.unchanged,
          failed: result.summary.failed.length,
          database: db.embedded ? 'embedded' : 'postgres',
        });
      }
    } finally {
      await db.close();
      await emu.close();
    }
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  printTable(await benchSync(counts.length > 0 ? counts : undefined));
}
