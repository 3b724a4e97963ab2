import type { PrismaClient, TenantFeatureConfig } from '@packages/db';
import type { TenantFeatureState } from '../core/index.js';
import { toState } from '../tenant-store/index.js';

export interface TenantWithFeatures {
  id: string;
  stripeCustomerId: string | null;
  /** Null when the tenant has no feature config row yet. */
  state: TenantFeatureState | null;
}

type JoinedRow = Omit<TenantFeatureConfig, 'tenantId'> & {
  id: string;
  stripeCustomerId: string | null;
  tenantId: string | null;
};

/**
 * A tenant and its feature config in ONE statement (Prisma's `include` sends two), so an admin
 * read costs one round trip on the read pool. Columns are aliased to the Prisma field names, and
 * `$queryRaw` maps JSON and timestamps the way the generated client does, so `toState` applies.
 */
export async function readTenantWithFeatures(
  prisma: PrismaClient,
  tenantId: string,
): Promise<TenantWithFeatures | null> {
  const rows = await prisma.$queryRaw<JoinedRow[]>`
    SELECT t.id, t.stripe_customer_id AS "stripeCustomerId",
           c.tenant_id AS "tenantId", c.features, c.plan_features AS "planFeatures", c.overrides,
           c.scrape_interval_hours AS "scrapeIntervalHours", c.bundle, c.source,
           c.stripe_product_id AS "stripeProductId", c.stripe_price_id AS "stripePriceId",
           c.stripe_subscription_id AS "stripeSubscriptionId", c.subscription_status AS "subscriptionStatus",
           c.access_active AS "accessActive", c.payment_failed_at AS "paymentFailedAt",
           c.last_payment_at AS "lastPaymentAt", c.trial_ends_at AS "trialEndsAt", c.version,
           c.last_stripe_event_at AS "lastStripeEventAt", c.last_stripe_event_id AS "lastStripeEventId",
           c.updated_at AS "updatedAt", c.created_at AS "createdAt"
      FROM tenants t LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id
     WHERE t.id = ${tenantId}`;
  const row = rows[0];
  if (!row) return null;
  const { id, stripeCustomerId, tenantId: configTenantId, ...config } = row;
  return {
    id,
    stripeCustomerId,
    state: configTenantId === null ? null : toState({ ...config, tenantId: configTenantId }),
  };
}
