import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import type { FeatureMap } from '../../src/core/types.js';

export interface PlanFixture {
  name: string;
  bundle: string;
  lookupKey: string;
  unitAmount: number;
  productMetadata: Record<string, string>;
  priceMetadata?: Record<string, string>;
  /** What resolvePlanDefaults should produce for product + price. */
  features: FeatureMap;
  scrapeIntervalHours: number;
}

/** Three tiers exercising every metadata form: a boolean list, JSON limits, and a price-level override. */
export const PLAN_FIXTURES = {
  starter: {
    name: 'Starter',
    bundle: 'starter',
    lookupKey: 'starter_monthly',
    unitAmount: 900,
    productMetadata: {
      bundle: 'starter',
      features: 'api_access,webhooks',
      featuresJson: '{"max_projects":3,"max_users":5}',
      scrapeIntervalHours: '24',
    },
    features: { api_access: true, max_projects: 3, max_users: 5, webhooks: true },
    scrapeIntervalHours: 24,
  },
  pro: {
    name: 'Pro',
    bundle: 'pro',
    lookupKey: 'pro_monthly',
    unitAmount: 4900,
    productMetadata: {
      bundle: 'pro',
      features: 'api_access,webhooks,advanced_analytics,scheduled_reports',
      featuresJson: '{"max_projects":20,"max_users":25,"api_rate_limit":600}',
      scrapeIntervalHours: '6',
    },
    priceMetadata: { features: '{"max_users":30,"data_retention_days":90}' },
    features: {
      advanced_analytics: true,
      api_access: true,
      api_rate_limit: 600,
      data_retention_days: 90,
      max_projects: 20,
      max_users: 30,
      scheduled_reports: true,
      webhooks: true,
    },
    scrapeIntervalHours: 6,
  },
  enterprise: {
    name: 'Enterprise',
    bundle: 'enterprise',
    lookupKey: 'enterprise_monthly',
    unitAmount: 49900,
    productMetadata: {
      bundle: 'enterprise',
      features: 'api_access,webhooks,advanced_analytics,scheduled_reports,sso,priority_support,audit_export',
      featuresJson: '{"max_projects":1000,"max_users":1000,"api_rate_limit":6000,"data_retention_days":365}',
      scrapeIntervalHours: '1',
    },
    features: {
      advanced_analytics: true,
      api_access: true,
      api_rate_limit: 6000,
      audit_export: true,
      data_retention_days: 365,
      max_projects: 1000,
      max_users: 1000,
      priority_support: true,
      scheduled_reports: true,
      sso: true,
      webhooks: true,
    },
    scrapeIntervalHours: 1,
  },
} as const satisfies Record<string, PlanFixture>;

export type PlanName = keyof typeof PLAN_FIXTURES;

export interface SeededPlan<N extends string = PlanName> {
  name: N;
  fixture: PlanFixture;
  product: Stripe.Product;
  price: Stripe.Price;
}

export type SeededPlans = { [N in PlanName]: SeededPlan<N> };

/** Creates product + monthly price (lookup key, set as the product's default price) for each tier. */
export async function seedPlans(stripe: Stripe): Promise<SeededPlans> {
  const entries = await Promise.all(
    (Object.keys(PLAN_FIXTURES) as PlanName[]).map(
      async (name) => [name, await seedPlan(stripe, name, PLAN_FIXTURES[name])] as const,
    ),
  );
  return Object.fromEntries(entries) as SeededPlans;
}

export async function seedPlan<N extends string>(
  stripe: Stripe,
  name: N,
  fixture: PlanFixture,
): Promise<SeededPlan<N>> {
  const product = await stripe.products.create({ name: fixture.name, metadata: fixture.productMetadata });
  const price = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: fixture.unitAmount,
    recurring: { interval: 'month' },
    lookup_key: fixture.lookupKey,
    metadata: fixture.priceMetadata ?? {},
  });
  const withDefault = await stripe.products.update(product.id, { default_price: price.id });
  return { name, fixture, product: withDefault, price };
}

export interface SeededTenant {
  tenantId: string;
  customerId: string;
  subscriptionId: string;
  priceId: string;
}

export interface SeedTenantsOptions {
  /** Price for tenant i (default: starter/pro/enterprise round-robin over `plans`). */
  priceFor?: (index: number) => string;
  plans?: SeededPlans;
  prefix?: string;
  /**
   * 'column' (default): tenants.stripe_customer_id is set. 'metadata': only the customer's
   * metadata.tenantId points at the tenant, as for tenants created before billing existed.
   */
  link?: 'column' | 'metadata';
  /** Parallel SDK calls (default 16). */
  concurrency?: number;
  /** More items on tenant i's subscription after its plan (add-ons, seats). */
  extraItemsFor?: (index: number) => { price: string; quantity?: number }[];
}

/** The price tenant i subscribes to: `priceFor`, or the plans round-robin. */
export function priceChooser(
  options: Pick<SeedTenantsOptions, 'plans' | 'priceFor'>,
  caller: string,
): (i: number) => string {
  const planList = options.plans ? Object.values(options.plans) : [];
  return (
    options.priceFor ??
    ((i: number) => {
      const plan = planList[i % Math.max(1, planList.length)];
      if (!plan) throw new Error(`${caller} needs \`plans\` or \`priceFor\``);
      return plan.price.id;
    })
  );
}

/** Tenants in the database, each with a Stripe customer (metadata.tenantId) and an active subscription. */
export async function seedTenantsWithSubscriptions(
  stripe: Stripe,
  prisma: PrismaClient,
  n: number,
  options: SeedTenantsOptions = {},
): Promise<SeededTenant[]> {
  const prefix = options.prefix ?? 'tenant';
  const priceFor = priceChooser(options, 'seedTenantsWithSubscriptions');
  const seeded = await mapConcurrent(n, options.concurrency ?? 16, async (i) => {
    const tenantId = `${prefix}_${String(i).padStart(6, '0')}`;
    const customer = await stripe.customers.create({
      name: `Tenant ${i}`,
      email: `${tenantId}@example.test`,
      metadata: { tenantId },
    });
    const priceId = priceFor(i);
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: priceId }, ...(options.extraItemsFor?.(i) ?? [])],
      metadata: { tenantId },
    });
    return { tenantId, customerId: customer.id, subscriptionId: subscription.id, priceId };
  });
  const link = options.link ?? 'column';
  for (let i = 0; i < seeded.length; i += 1000) {
    await prisma.tenant.createMany({
      data: seeded.slice(i, i + 1000).map((t) => ({
        id: t.tenantId,
        name: t.tenantId,
        stripeCustomerId: link === 'column' ? t.customerId : null,
      })),
    });
  }
  return seeded;
}

/** Runs fn(0..n-1) with at most `concurrency` in flight, results in index order. */
export async function mapConcurrent<T>(
  n: number,
  concurrency: number,
  fn: (index: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

export async function createTenant(prisma: PrismaClient, id: string, stripeCustomerId: string | null = null) {
  return prisma.tenant.create({ data: { id, name: id, stripeCustomerId } });
}
