import type { TenantFeatureState } from '../../core/index.js';
import type { RunSql } from '../sql-runner.js';
import { stateFromJson } from './ticketed-write.js';

/**
 * A tenant as the bulk sync loads it. `unchanged`: its stored sync hash equals the one sent for its
 * customer and its config has not been written since the hash was stored, so the config itself was
 * not read (`state` is null then and means nothing).
 */
export interface SyncLoadedTenant {
  id: string;
  stripeCustomerId: string | null;
  state: TenantFeatureState | null;
  readTicket: bigint;
  unchanged: boolean;
}

/**
 * Every tenant bound to a customer of `customerIds`, and for each customer bound to none the tenant
 * its `hints[i]` names (what matchCustomersToTenants needs: a bound tenant wins over any hint), in
 * one statement, as readTenantsWithFeatures loads them, with each customer's sync hash compared on
 * the way (`hints[i]`, `hashes[i]` belong to `customerIds[i]`; null: none). A tenant bound to a customer
 * whose hash matches the row's `sync_hash`, stored at the row's current `version`, comes back
 * without its config: a no-change sync reads ids and a flag instead of every tenant's features.
 */
export async function readTenantsForSync(
  sql: RunSql,
  where: { customerIds: string[]; hints: Array<string | null>; hashes: Array<string | null> },
): Promise<SyncLoadedTenant[]> {
  const rows = await sql<{
    id: string;
    customer: string | null;
    config: unknown;
    ticket: string | null;
    unchanged: boolean;
  }>(
    `WITH sent AS (
       SELECT DISTINCT ON (customer) customer, hash
         FROM unnest($1::text[], $3::text[]) AS s(customer, hash)
        ORDER BY customer, hash NULLS FIRST
     ),
     -- Index lookups only: "id = ANY(..) OR stripe_customer_id = ANY(..)" made the planner scan the
     -- whole table once per batch, so a sync's loading grew with tenants × batches. A hint is
     -- looked up only for a customer bound to no tenant (most are bound: one probe, not two).
     by_customer AS (
       SELECT id, stripe_customer_id FROM tenants WHERE stripe_customer_id = ANY($1::text[])
     ),
     by_hint AS (
       SELECT t.id, t.stripe_customer_id
         FROM unnest($1::text[], $2::text[]) AS h(customer, hint)
         JOIN tenants t ON t.id = h.hint
        WHERE NOT EXISTS (SELECT 1 FROM by_customer b WHERE b.stripe_customer_id = h.customer)
     ),
     wanted AS (SELECT * FROM by_customer UNION SELECT * FROM by_hint)
     SELECT t.id, t.stripe_customer_id AS customer,
            CASE WHEN m.unchanged THEN NULL ELSE row_to_json(c) END AS config,
            c.read_ticket::text AS ticket, COALESCE(m.unchanged, false) AS unchanged
       FROM wanted t
       LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id
       LEFT JOIN sent s ON s.customer = t.stripe_customer_id
       CROSS JOIN LATERAL (
         SELECT c.sync_hash = s.hash AND c.sync_hash_version = c.version AS unchanged
       ) m`,
    [where.customerIds, where.hints, where.hashes],
  );
  return rows.map((row) => ({
    id: row.id,
    stripeCustomerId: row.customer,
    state: row.config ? stateFromJson(row.config) : null,
    readTicket: BigInt(row.ticket ?? 0),
    unchanged: row.unchanged,
  }));
}

/**
 * Stores the sync hash of tenants a sync found up to date (nothing to write), each only if its
 * config is still at the version it was decided from: one statement for the batch, no version bump,
 * no audit row (nothing changed). A row written meanwhile keeps its hash unset or stale, which only
 * costs the next sync a full read of it.
 */
export async function stampSyncHashes(
  sql: RunSql,
  rows: ReadonlyArray<{ tenantId: string; hash: string; version: number }>,
): Promise<void> {
  if (rows.length === 0) return;
  await sql(
    `UPDATE tenant_feature_configs c SET sync_hash = u.hash, sync_hash_version = u.version
       FROM unnest($1::text[], $2::text[], $3::int[]) AS u(tenant_id, hash, version)
      WHERE c.tenant_id = u.tenant_id AND c.version = u.version`,
    [rows.map((r) => r.tenantId), rows.map((r) => r.hash), rows.map((r) => r.version)],
  );
}
