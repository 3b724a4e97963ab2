import { pathToFileURL } from 'node:url';
import Stripe from 'stripe';
import { createIsolatedDatabase } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { createCacheFromEnv } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { createFeatureSyncService } from '../src/flows/feature-sync/index.js';
import { buildServer } from '../src/entry/server/app.js';
import { createStripeSyncService } from '../src/io/stripe-sync/index.js';
import { createStripeWebhookHandler } from '../src/flows/webhooks/index.js';
import { seedPlans, seedTenantsWithSubscriptions } from '../test/helpers/fixtures.js';
import { percentile, printTable, runConcurrently, type BenchRow } from './stats.js';

export interface WebhookBenchOptions {
  /** Events per phase (subscription updates, then payments); duplicates replay both. */
  events?: number;
  /** Deliveries in flight at once (Stripe sends several at a time to one endpoint). */
  concurrency?: number;
  /** Tenants the events are spread over (default events / 10, at least 1). */
  tenants?: number;
}

/**
 * Webhook throughput and latency over real HTTP: the emulator signs each event and POSTs it to the
 * listening server, which verifies it, claims it, re-reads Stripe under the tenant lock and commits.
 * Phases: subscription updates (one Stripe list per event), payment successes (one invoice list per
 * event), and a replay of everything (duplicates: the idempotency fast path). Real Postgres when
 * DATABASE_URL is set, Redis when REDIS_URL is set.
 */
export async function benchWebhooks({
  events = 2000,
  concurrency = 16,
  tenants,
}: WebhookBenchOptions = {}): Promise<BenchRow[]> {
  const tenantCount = Math.max(1, tenants ?? Math.floor(events / 10));
  const emu = await startStripeEmulator({ port: 0 });
  const db = await createIsolatedDatabase({ poolMax: Math.max(10, concurrency + 4) });
  const cache = createCacheFromEnv(process.env, { keyPrefix: `bench-webhook:${process.pid}:` });
  const rows: BenchRow[] = [];
  try {
    const stripe = new Stripe(emu.apiKey, { ...emu.stripeClientConfig(), maxNetworkRetries: 2 });
    const plans = await seedPlans(stripe);
    const seeded = await seedTenantsWithSubscriptions(stripe, db.prisma, tenantCount, {
      plans,
      prefix: 'bench_wh',
      concurrency: 16,
    });
    // The emulator is local: the production rate limit would only measure the limiter.
    const stripeSync = createStripeSyncService(stripe, { requestsPerSecond: 100_000, burst: 100_000 });
    const reader = createFeatureReader(db.prisma, cache, { namespace: 'bench' });
    const featureSync = createFeatureSyncService(db.prisma, stripeSync, { featureReader: reader });
    const handler = createStripeWebhookHandler(stripe, db.prisma, featureSync, emu.webhookSecret);
    const app = await buildServer({ prisma: db.prisma, stripe, webhookHandler: handler, featureSync });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('server has no TCP address');
    emu.setWebhookEndpoint(`http://127.0.0.1:${address.port}/api/stripe/webhook`, { autoDeliver: false });

    // Every tenant gets its created event first, so the measured phases are steady-state updates.
    const created = emu.events().filter((e) => e.type === 'customer.subscription.created');
    await runConcurrently(created.length, concurrency, (i) => emu.deliverEvent(created[i]!.id));

    const phases: { name: string; make: (i: number) => Stripe.Event }[] = [
      {
        name: 'subscription.updated',
        make: (i) =>
          emu.setSubscriptionStatus(
            seeded[i % tenantCount]!.subscriptionId,
            Math.floor(i / tenantCount) % 2 === 0 ? 'past_due' : 'active',
          ),
      },
      {
        name: 'invoice.payment_succeeded',
        make: (i) => emu.payInvoice(seeded[i % tenantCount]!.subscriptionId, { succeeded: true }),
      },
    ];
    const all: string[] = [];
    for (const phase of phases) {
      const ids = Array.from({ length: events }, (_, i) => phase.make(i).id);
      all.push(...ids);
      rows.push(await measure(`webhook ${phase.name}`, ids));
    }
    rows.push(await measure('webhook duplicates (replay)', all));
    await app.close();
    return rows;

    async function measure(name: string, ids: string[]): Promise<BenchRow> {
      const stripeBefore = stripeSync.stats.stripeRequests;
      const queriesBefore = db.stats.queries;
      const statuses = new Map<number, number>();
      const { latencies, wallMs } = await runConcurrently(ids.length, concurrency, async (i) => {
        const { status } = await emu.deliverEvent(ids[i]!);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      });
      return {
        benchmark: name,
        events: ids.length,
        concurrency,
        tenants: tenantCount,
        eventsPerSec: Math.round((ids.length / wallMs) * 1000),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        stripeCallsPerEvent: (stripeSync.stats.stripeRequests - stripeBefore) / ids.length,
        dbRoundTripsPerEvent: (db.stats.queries - queriesBefore) / ids.length,
        non2xx: [...statuses].filter(([s]) => s < 200 || s >= 300).reduce((n, [, c]) => n + c, 0),
        database: db.embedded ? 'embedded' : 'postgres',
        cache: cache.kind,
      };
    }
  } finally {
    await cache.close();
    await db.close();
    await emu.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [events, concurrency] = process.argv.slice(2).map(Number);
  printTable(await benchWebhooks({ events: events || undefined, concurrency: concurrency || undefined }));
}
