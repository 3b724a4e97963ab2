import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { checkSchemaName, DatabaseConfigError, dropSchema, openDatabase, type Database } from '@packages/db';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { DEFAULT_FEATURE_CATALOG } from '../../io/catalog/index.js';
import { createBillingContext, type BillingContext } from '../context.js';
import { messageOf, ValidationError } from '../../core/errors.js';
import { buildServer } from '../server/app.js';
import { DEMO_TENANTS, seedDemo } from './seed.js';

/**
 * `npm run demo`: the whole loop on one machine. A local Stripe emulator stands in for Stripe; the
 * database is embedded PGlite unless DATABASE_URL is set (Redis likewise with REDIS_URL).
 *  1. seed plans, customers and subscriptions in "Stripe", tenants in the database
 *  2. full sync: Stripe → tenant feature configs
 *  3. start the HTTP server; Stripe changes (upgrade, cancel, failed payment) arrive as signed webhooks
 *  4. a custom enterprise plan for a paying tenant: its subscription is switched to the new price
 *  5. a custom plan for a churned tenant: checkout link, completed in the emulator, access restored
 */
// Settings first: a typo must cost one line on stderr, not a started emulator and a stack trace.
let schema: string;
try {
  schema = demoSchema();
} catch (error) {
  console.error(`Configuration error: ${messageOf(error)}`);
  process.exit(2);
}
const emulator = await startStripeEmulator({ port: 0 });
const stripe = new Stripe(emulator.apiKey, { ...emulator.stripeClientConfig(), maxNetworkRetries: 2 });
let context: BillingContext | undefined;
let server: Awaited<ReturnType<typeof buildServer>> | undefined;
let database: Database | undefined;
try {
  database = await openDemoDatabase(schema);
  // The demo's plans use these keys; like any host, it registers its catalog (new installs start empty).
  await database.prisma.featureCatalog.createMany({
    data: [...DEFAULT_FEATURE_CATALOG.values()].map(({ key, type, description }) => ({
      key,
      type,
      description,
    })),
    skipDuplicates: true,
  });
  context = await createBillingContext({
    database,
    // A fresh database each run: a fresh cache namespace too, or Redis would still hold the last run's versions.
    cacheNamespace: `demo:${randomUUID()}`,
    stripe,
    env: {
      ...process.env,
      STRIPE_SECRET_KEY: emulator.apiKey,
      STRIPE_WEBHOOK_SECRET: emulator.webhookSecret,
      STRIPE_API_BASE: emulator.url,
    },
  });
  const ctx = context;
  console.log(`Stripe emulator: ${emulator.url}`);
  console.log(
    `Database: ${ctx.db.embedded ? 'embedded PGlite' : 'PostgreSQL (DATABASE_URL)'}; cache: ${ctx.cache.kind}\n`,
  );

  console.log(
    'Columns: tenant, bundle, Stripe status, access (grace = payment failed, still inside the grace period), config version, features on\n',
  );
  step('1. Seeding Stripe plans, customers and subscriptions');
  const seeded = await seedDemo(stripe, ctx.prisma);
  const stats = await ctx.stripeSync.getPlanStatistics();
  console.log(
    `   ${stats.totalProducts} products (${stats.productsWithFeatures} with features), ${DEMO_TENANTS.length} tenants\n`,
  );

  step('2. Full sync from Stripe');
  const { summary } = await ctx.featureSync.syncAllTenantsFromStripe({ actor: 'demo', source: 'sync' });
  console.log(
    `   processed ${summary.processed}, updated ${summary.updated}, unchanged ${summary.unchanged}, failed ${summary.failed.length}, ` +
      `${summary.stripeRequests} Stripe requests`,
  );
  await printTenants(ctx);

  step('3. Webhooks: upgrade acme to Pro, cancel umbrella, fail a payment for globex');
  server = await buildServer(ctx);
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  emulator.setWebhookEndpoint(`${address}/api/stripe/webhook`, { autoDeliver: true });
  const acmeSubscription = await stripe.subscriptions.retrieve(seeded.subscriptionIdByTenant.acme!);
  await stripe.subscriptions.update(acmeSubscription.id, {
    items: [{ id: acmeSubscription.items.data[0]!.id, price: seeded.priceIdByLookupKey.pro_monthly! }],
  });
  await stripe.subscriptions.cancel(seeded.subscriptionIdByTenant.umbrella!);
  emulator.payInvoice(seeded.subscriptionIdByTenant.globex!, { succeeded: false });
  await emulator.waitForDeliveries();
  const delivered = await ctx.prisma.processedStripeEvent.groupBy({
    by: ['type', 'status'],
    _count: true,
    orderBy: { type: 'asc' },
  });
  for (const row of delivered) console.log(`   ${row.type.padEnd(36)} ${row.status} ×${row._count}`);
  await printTenants(ctx);

  step(
    '4. Custom enterprise plan for initech (5000 seats, white label): its subscription moves onto the new price',
  );
  const base = {
    basePlanId: 'enterprise_monthly',
    currency: 'usd',
    recurringInterval: 'month',
    actor: 'demo',
  } as const;
  const custom = await ctx.customPlans.createCustomEnterprisePlan({
    ...base,
    tenantId: 'initech',
    priceCents: 250_000,
    overrides: { max_users: 5000, white_label: true },
    planName: 'Initech Enterprise',
    // initech already pays: a checkout would start a second subscription, so its own is switched.
    switchSubscription: true,
  });
  await emulator.waitForDeliveries();
  console.log(
    `   product ${custom.productId}, price ${custom.priceId}, subscription ${custom.subscriptionId} switched`,
  );
  await printTenants(ctx);

  step(
    '5. umbrella (canceled) comes back on a custom plan: checkout link, completed in the emulator, webhook restores access',
  );
  const comeback = await ctx.customPlans.createCustomEnterprisePlan({
    ...base,
    tenantId: 'umbrella',
    priceCents: 90_000,
    overrides: { max_users: 40 },
    planName: 'Umbrella Comeback',
    createCheckoutSession: true,
    successUrl: 'https://example.com/billing/success',
    cancelUrl: 'https://example.com/billing/cancel',
  });
  console.log(`   checkout ${comeback.checkoutUrl}`);
  const row = await ctx.prisma.customPlan.findUniqueOrThrow({ where: { id: comeback.customPlanId } });
  const session = emulator.completeCheckoutSession(row.checkoutSessionId!);
  await emulator.waitForDeliveries();
  console.log(`   checkout completed: subscription ${session.subscription}`);
  await printTenants(ctx);

  const auditRows = await ctx.prisma.featureAuditLog.count();
  console.log(
    `Audit log: ${auditRows} rows. Stripe requests served by the emulator: ${emulator.requestCounts().total ?? 0}.`,
  );
} catch (error) {
  const configProblem = error instanceof ValidationError || error instanceof DatabaseConfigError;
  console.error(`${configProblem ? 'Configuration error' : 'Demo failed'}: ${messageOf(error)}`);
  process.exitCode = configProblem ? 2 : 1;
} finally {
  await server?.close();
  await context?.close();
  await database?.close();
  await emulator.close();
}

/**
 * Embedded by default. On a real server (DATABASE_URL) the demo gets a schema of its own, emptied
 * at every run, so it can be run again and never touches the application's tables.
 */
async function openDemoDatabase(schema: string): Promise<Database> {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) return openDatabase({ databaseUrl: null });
  await dropSchema(url, schema);
  return openDatabase({ databaseUrl: url, schema });
}

/**
 * A schema of its own, recreated each run, so the demo never touches your tables; it stays after
 * the run for inspection. DEMO_SCHEMA lets concurrent runs (parallel CI jobs) use different ones.
 */
function demoSchema(): string {
  const schema = process.env.DEMO_SCHEMA?.trim() || 'stripe_entitlements_demo';
  try {
    return checkSchemaName(schema, 'DATABASE_SCHEMA');
  } catch {
    throw new Error(
      `DEMO_SCHEMA must be a lowercase SQL identifier (a-z, 0-9 and _, at most 63 characters), got ${JSON.stringify(schema.slice(0, 80))}`,
    );
  }
}

function step(title: string) {
  console.log(`── ${title}`);
}

async function printTenants(ctx: BillingContext) {
  const rows = await ctx.prisma.tenantFeatureConfig.findMany({ orderBy: { tenantId: 'asc' } });
  console.log('');
  for (const row of rows) {
    const features = await ctx.featureSync.getTenantFeatures(row.tenantId);
    const on = Object.entries(features?.features ?? {})
      .filter(([, v]) => v === true || (typeof v === 'number' && v > 0))
      .map(([k, v]) => (v === true ? k : `${k}=${v}`))
      .sort();
    const access = !row.accessActive ? 'NO ACCESS' : row.paymentFailedAt ? 'grace' : 'access';
    console.log(
      `   ${row.tenantId.padEnd(9)} ${String(row.bundle ?? '-').padEnd(11)} ${String(row.subscriptionStatus ?? '-').padEnd(9)} ${access.padEnd(9)} v${row.version}  ${on.join(', ') || '(nothing enabled)'}`,
    );
  }
  console.log('');
}
