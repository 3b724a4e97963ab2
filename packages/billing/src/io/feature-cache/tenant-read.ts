import type { PrismaClient } from '@packages/db';
import type { TenantFeatureState } from '../../core/index.js';
import { sqlThroughPrisma, type RunSql } from '../sql-runner.js';
import { stateFromJson } from '../tenant-store/index.js';

export interface TenantWithFeatures {
  id: string;
  stripeCustomerId: string | null;
  /** Null when the tenant has no feature config row yet. */
  state: TenantFeatureState | null;
  /** The config row's read ticket (0 without a row): the newest Stripe read its state reflects. */
  readTicket: bigint;
}

/**
 * A tenant and its feature config in ONE statement (Prisma's `include` sends two), so an admin
 * read costs one round trip on the read pool: the bulk read below, for one id.
 */
export async function readTenantWithFeatures(
  prisma: PrismaClient,
  tenantId: string,
): Promise<TenantWithFeatures | null> {
  const [tenant] = await readTenantsWithFeatures(sqlThroughPrisma(prisma), {
    ids: [tenantId],
    customerIds: [],
  });
  return tenant ?? null;
}

/**
 * Every tenant whose id is in `ids` or whose Stripe customer is in `customerIds`, with its config,
 * in one statement (array parameters, so any number of ids binds as two parameters). The bulk sync
 * loads its tenants this way, through `sql` (the pg pool behind Prisma in the context): each config
 * comes back as one JSON value read by `stateFromJson`, as the webhook claim reads it, instead of
 * twenty columns mapped per row by the client, which dominated loading 10,000 tenants. A tenant
 * without a config row comes back with `state: null`.
 */
export async function readTenantsWithFeatures(
  sql: RunSql,
  where: { ids: string[]; customerIds: string[] },
): Promise<TenantWithFeatures[]> {
  const rows = await sql<{ id: string; customer: string | null; config: unknown; ticket: string | null }>(
    `SELECT t.id, t.stripe_customer_id AS customer, row_to_json(c) AS config, c.read_ticket::text AS ticket
       FROM tenants t LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id
      WHERE t.id = ANY($1::text[]) OR t.stripe_customer_id = ANY($2::text[])`,
    [where.ids, where.customerIds],
  );
  return rows.map((row) => ({
    id: row.id,
    stripeCustomerId: row.customer,
    state: row.config ? stateFromJson(row.config) : null,
    readTicket: BigInt(row.ticket ?? 0),
  }));
}
