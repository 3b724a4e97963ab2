import { Prisma, type PrismaClient, type TenantFeatureConfig } from '@packages/db';
import type { TenantFeatureState } from '../core/index.js';
import type { RunSql } from '../sql-runner.js';
import { stateFromJson, toState } from '../tenant-store/index.js';

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
 * Tenants joined to their feature configs. Columns are aliased to the Prisma field names, and
 * `$queryRaw` maps JSON and timestamps the way the generated client does, so `toState` applies.
 */
const SELECT_TENANT_WITH_CONFIG = Prisma.sql`
    SELECT t.id, t.stripe_customer_id AS "stripeCustomerId",
           c.tenant_id AS "tenantId", c.features, c.plan_features AS "planFeatures", c.overrides,
           c.scrape_interval_hours AS "scrapeIntervalHours", c.bundle, c.source,
           c.stripe_product_id AS "stripeProductId", c.stripe_price_id AS "stripePriceId",
           c.stripe_subscription_id AS "stripeSubscriptionId", c.subscription_status AS "subscriptionStatus",
           c.access_active AS "accessActive", c.payment_failed_at AS "paymentFailedAt",
           c.last_payment_at AS "lastPaymentAt", c.trial_ends_at AS "trialEndsAt", c.version,
           c.last_stripe_event_at AS "lastStripeEventAt", c.last_stripe_event_id AS "lastStripeEventId",
           c.updated_at AS "updatedAt", c.created_at AS "createdAt"
      FROM tenants t LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id`;

function toTenantWithFeatures(row: JoinedRow): TenantWithFeatures {
  const { id, stripeCustomerId, tenantId: configTenantId, ...config } = row;
  return {
    id,
    stripeCustomerId,
    state: configTenantId === null ? null : toState({ ...config, tenantId: configTenantId }),
  };
}

/**
 * A tenant and its feature config in ONE statement (Prisma's `include` sends two), so an admin
 * read costs one round trip on the read pool.
 */
export async function readTenantWithFeatures(
  prisma: PrismaClient,
  tenantId: string,
): Promise<TenantWithFeatures | null> {
  const rows = await prisma.$queryRaw<JoinedRow[]>`${SELECT_TENANT_WITH_CONFIG} WHERE t.id = ${tenantId}`;
  const row = rows[0];
  return row ? toTenantWithFeatures(row) : null;
}

/**
 * Every tenant whose id is in `ids` or whose Stripe customer is in `customerIds`, with its config,
 * in one statement (array parameters, so any number of ids binds as two parameters). The bulk sync
 * loads its tenants this way, through `sql` (the pg pool behind Prisma in the context): each config
 * comes back as one JSON value read by `stateFromJson`, as the webhook claim reads it, instead of
 * twenty columns mapped per row by the client, which dominated loading 10,000 tenants.
 */
export async function readTenantsWithFeatures(
  sql: RunSql,
  where: { ids: string[]; customerIds: string[] },
): Promise<TenantWithFeatures[]> {
  const rows = await sql<{ id: string; customer: string | null; config: unknown }>(
    `SELECT t.id, t.stripe_customer_id AS customer, row_to_json(c) AS config
       FROM tenants t LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id
      WHERE t.id = ANY($1::text[]) OR t.stripe_customer_id = ANY($2::text[])`,
    [where.ids, where.customerIds],
  );
  return rows.map((row) => ({
    id: row.id,
    stripeCustomerId: row.customer,
    state: row.config ? stateFromJson(row.config) : null,
  }));
}
