import type { TenantFeatureState } from '../../core/index.js';
import type { RunSql } from '../sql-runner.js';
import { stateFromJson } from './ticketed-write.js';

/** A configured tenant as a page of ids lists it: no config read yet. */
export interface ConfiguredTenantRef {
  id: string;
  stripeCustomerId: string | null;
}

/**
 * The next `limit` tenants that have a feature config, after `after` in id order (keyset paging on
 * the config's primary key): ids and customers only, so a walk over every configured tenant holds
 * one page of short rows at a time, whatever the tenant count.
 */
export async function pageConfiguredTenants(
  sql: RunSql,
  after: string | null,
  limit: number,
): Promise<ConfiguredTenantRef[]> {
  const rows = await sql<{ id: string; customer: string | null }>(
    `SELECT c.tenant_id AS id, t.stripe_customer_id AS customer
       FROM tenant_feature_configs c
       JOIN tenants t ON t.id = c.tenant_id
      WHERE $1::text IS NULL OR c.tenant_id > $1::text
      ORDER BY c.tenant_id
      LIMIT $2`,
    [after, limit],
  );
  return rows.map((row) => ({ id: row.id, stripeCustomerId: row.customer }));
}

/** These tenants with their configs, in one statement (those deleted since are left out). */
export async function readConfiguredTenants(
  sql: RunSql,
  ids: readonly string[],
): Promise<Array<ConfiguredTenantRef & { state: TenantFeatureState }>> {
  if (ids.length === 0) return [];
  const rows = await sql<{ id: string; customer: string | null; config: unknown }>(
    `SELECT t.id, t.stripe_customer_id AS customer, row_to_json(c) AS config
       FROM tenants t
       JOIN tenant_feature_configs c ON c.tenant_id = t.id
      WHERE t.id = ANY($1::text[])
      ORDER BY t.id`,
    [ids],
  );
  return rows.map((row) => ({
    id: row.id,
    stripeCustomerId: row.customer,
    state: stateFromJson(row.config),
  }));
}
