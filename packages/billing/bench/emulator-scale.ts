import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { mapConcurrent, seedPlans } from '../test/helpers/fixtures.js';
import { startEmulatorProcess, type EmulatorProcess } from './emulator-process.js';
import { printTable, ratio, type BenchRow } from './stats.js';

const MiB = 1024 * 1024;

/**
 * What the Stripe emulator costs at the bench's sizes (BENCH_ONLY=emulator): for each count, a fresh
 * emulator process seeded with that many customers, each with a one-item subscription, through the
 * bulk endpoint (5,000 per request, no events kept), its RSS per subscription, then the walk the full
 * sync makes (every page of `subscriptions.list`, limit 100, status all, customers expanded), one page
 * at a time, no latency, at most `maxWalkPages`). For the counts in `sdkSeedCounts`, the same seeding through the SDK
 * (customers.create + subscriptions.create, 16 in flight) in the same run: the baseline.
 */
export async function benchEmulatorScale({
  counts = [10_000, 100_000],
  sdkSeedCounts = [10_000],
  maxWalkPages = Infinity,
}: { counts?: number[]; sdkSeedCounts?: number[]; maxWalkPages?: number } = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of counts) {
    const emu = await startEmulatorProcess();
    try {
      const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 0 });
      const prices = Object.values(await seedPlans(stripe)).map((p) => p.price.id);
      const before = await emu.stats();
      const bulkMs = await timed(() => seedInBulk(emu, n, prices));
      const after = await emu.stats();
      const perSubscription = (after.rssBytes - before.rssBytes) / n;
      rows.push({
        benchmark: `emulator ${n}: seed in bulk (5,000 customers + subscriptions per request, no events)`,
        wallMs: Math.round(bulkMs),
        'ops/s': Math.round((n / bulkMs) * 1000),
        peakRssMiB: Math.round(after.rssBytes / MiB),
        detail:
          `emulator CPU ${Math.round(((after.cpuMs - before.cpuMs) * 1000) / n)} µs per tenant; ` +
          `RSS ${Math.round(perSubscription)} B per customer + subscription (heap ${Math.round((after.heapUsedBytes - before.heapUsedBytes) / n)} B)`,
      });
      if (sdkSeedCounts.includes(n)) {
        const sdkMs = await timed(() => seedThroughSdk(stripe, n, prices));
        const withSdk = await emu.stats();
        rows.push({
          benchmark: `emulator ${n}: seed through the SDK (2 calls per tenant, 16 in flight; baseline)`,
          wallMs: Math.round(sdkMs),
          'ops/s': Math.round((n / sdkMs) * 1000),
          peakRssMiB: Math.round(withSdk.rssBytes / MiB),
          vsBaseline: ratio(bulkMs, sdkMs),
          detail:
            `emulator CPU ${Math.round(((withSdk.cpuMs - after.cpuMs) * 1000) / n)} µs per tenant; ` +
            `RSS +${Math.round((withSdk.rssBytes - after.rssBytes) / n)} B per tenant (events and idempotency records kept)`,
        });
      }
      let pages = 0;
      let seen = 0;
      const cpuBefore = (await emu.stats()).cpuMs;
      const walkMs = await timed(async () => {
        let startingAfter: string | undefined;
        for (;;) {
          const page = await stripe.subscriptions.list({
            limit: 100,
            status: 'all',
            expand: ['data.customer'],
            ...(startingAfter ? { starting_after: startingAfter } : {}),
          });
          pages += 1;
          seen += page.data.length;
          if (!page.has_more || pages === maxWalkPages) break;
          startingAfter = page.data.at(-1)!.id;
        }
      });
      const walked = await emu.stats();
      const total = walked.objects.subscriptions ?? 0;
      const whole = pages < maxWalkPages;
      if (whole && seen !== total) throw new Error(`walk saw ${seen} of ${total} subscriptions`);
      rows.push({
        benchmark: `emulator ${total}: walk ${whole ? 'every page' : `the first ${pages} pages`} of subscriptions.list (limit 100, status all, expand customer)`,
        wallMs: Math.round(walkMs),
        'p50 ms': Math.round((walkMs / pages) * 100) / 100,
        detail:
          `${pages} pages, one at a time, no latency; p50 column = mean ms per page; ` +
          `emulator CPU ${Math.round(((walked.cpuMs - cpuBefore) / pages) * 100) / 100} ms per page`,
      });
    } finally {
      await emu.close();
    }
  }
  return rows;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function seedInBulk(emu: EmulatorProcess, n: number, prices: string[]): Promise<void> {
  for (let from = 0; from < n; from += 5000) {
    const customers = Array.from({ length: Math.min(5000, n - from) }, (_, k) => {
      const tenantId = `scale_${String(from + k).padStart(7, '0')}`;
      return {
        name: `Tenant ${from + k}`,
        email: `${tenantId}@example.test`,
        metadata: { tenantId },
        subscription: { items: [{ price: prices[(from + k) % prices.length]! }], metadata: { tenantId } },
      };
    });
    await emu.seedCustomers(customers, { events: false, perSecond: 1000 });
  }
}

async function seedThroughSdk(stripe: Stripe, n: number, prices: string[]): Promise<void> {
  await mapConcurrent(n, 16, async (i) => {
    const tenantId = `sdk_${String(i).padStart(7, '0')}`;
    const customer = await stripe.customers.create({
      name: `Tenant ${i}`,
      email: `${tenantId}@example.test`,
      metadata: { tenantId },
    });
    await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: prices[i % prices.length]! }],
      metadata: { tenantId },
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const counts = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const maxWalkPages = Number(process.env.BENCH_EMULATOR_WALK_PAGES ?? Infinity);
  printTable(await benchEmulatorScale({ ...(counts.length > 0 ? { counts } : {}), maxWalkPages }));
}
