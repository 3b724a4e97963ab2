import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { buildProductMetadata } from '../../io/metadata/index.js';
import type { FeatureMap } from '../../core/types.js';

/** The demo's plan catalogue: the metadata format in three tiers. */
export const DEMO_PLANS = [
  {
    lookupKey: 'starter_monthly',
    name: 'Starter',
    unitAmount: 900,
    bundle: 'starter',
    features: { api_access: true, webhooks: true, max_projects: 3, max_users: 5 } satisfies FeatureMap,
    scrapeIntervalHours: 24,
  },
  {
    lookupKey: 'pro_monthly',
    name: 'Pro',
    unitAmount: 4900,
    bundle: 'pro',
    features: {
      api_access: true,
      webhooks: true,
      advanced_analytics: true,
      scheduled_reports: true,
      max_projects: 20,
      max_users: 25,
    } satisfies FeatureMap,
    scrapeIntervalHours: 6,
  },
  {
    lookupKey: 'enterprise_monthly',
    name: 'Enterprise',
    unitAmount: 49900,
    bundle: 'enterprise',
    features: {
      api_access: true,
      webhooks: true,
      advanced_analytics: true,
      scheduled_reports: true,
      sso: true,
      priority_support: true,
      max_projects: 1000,
      max_users: 1000,
    } satisfies FeatureMap,
    scrapeIntervalHours: 1,
  },
] as const;

export const DEMO_TENANTS = [
  { id: 'acme', name: 'Acme Corp', plan: 'starter_monthly', linkCustomer: true },
  { id: 'globex', name: 'Globex', plan: 'pro_monthly', linkCustomer: true },
  { id: 'initech', name: 'Initech', plan: 'enterprise_monthly', linkCustomer: true, trialDays: 14 },
  // Not linked in the database: found through the Stripe customer's metadata.tenantId.
  { id: 'umbrella', name: 'Umbrella', plan: 'pro_monthly', linkCustomer: false },
] as const;

export interface SeededDemo {
  priceIdByLookupKey: Record<string, string>;
  subscriptionIdByTenant: Record<string, string>;
  customerIdByTenant: Record<string, string>;
}

/** Creates the plans in Stripe, the tenants in the database, and one customer + subscription per tenant. */
export async function seedDemo(stripe: Stripe, prisma: PrismaClient): Promise<SeededDemo> {
  const priceIdByLookupKey: Record<string, string> = {};
  for (const plan of DEMO_PLANS) {
    const product = await stripe.products.create({
      name: plan.name,
      metadata: buildProductMetadata({
        bundle: plan.bundle,
        features: plan.features,
        scrapeIntervalHours: plan.scrapeIntervalHours,
      }),
    });
    const price = await stripe.prices.create({
      product: product.id,
      unit_amount: plan.unitAmount,
      currency: 'usd',
      recurring: { interval: 'month' },
      lookup_key: plan.lookupKey,
    });
    priceIdByLookupKey[plan.lookupKey] = price.id;
  }
  const subscriptionIdByTenant: Record<string, string> = {};
  const customerIdByTenant: Record<string, string> = {};
  for (const tenant of DEMO_TENANTS) {
    const customer = await stripe.customers.create({ name: tenant.name, metadata: { tenantId: tenant.id } });
    customerIdByTenant[tenant.id] = customer.id;
    await prisma.tenant.create({
      data: { id: tenant.id, name: tenant.name, stripeCustomerId: tenant.linkCustomer ? customer.id : null },
    });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: priceIdByLookupKey[tenant.plan]! }],
      ...('trialDays' in tenant ? { trial_period_days: tenant.trialDays } : {}),
    });
    subscriptionIdByTenant[tenant.id] = subscription.id;
  }
  return { priceIdByLookupKey, subscriptionIdByTenant, customerIdByTenant };
}
