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
 * the way (`hints[i]`, `hashes[i]` belong to `customerIds[i]`; null: none). A tenant bound to a
 * customer whose hash matches the row's `sync_hash`, stored at the row's current `version`, comes
 * back without its config: a no-change sync reads ids and a flag instead of every tenant's features.
 * A customer listed twice is compared on neither entry (its entries may differ). A tenant may come
 * back twice (bound to one customer, hinted by another); either row is valid.
 */
export async function readTenantsForSync(
  sql: RunSql,
  where: { customerIds: string[]; hints: Array<string | null>; hashes: Array<string | null> },
): Promise<SyncLoadedTenant[]> {
  const { customerIds } = where;
  const counts = new Map<string, number>();
  for (const id of customerIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  const hashes = where.hashes.map((hash, i) => (counts.get(customerIds[i]!) === 1 ? hash : null));
  const rows = await sql<{
    id: string;
    customer: string | null;
    config: unknown;
    ticket: string | null;
    unchanged: boolean;
  }>(LOAD_FOR_SYNC, [customerIds, where.hints, hashes]);
  const byId = new Map<string, SyncLoadedTenant>();
  for (const row of rows)
    byId.set(row.id, {
      id: row.id,
      stripeCustomerId: row.customer,
      state: row.config ? stateFromJson(row.config) : null,
      readTicket: BigInt(row.ticket ?? 0),
      unchanged: row.unchanged,
    });
  return [...byId.values()];
}

/**
 * One pass over the customers, index lookups only: the tenant bound to the customer, else (only
 * then: most customers are bound, one probe rather than two) the tenant its hint names, then that
 * tenant's config, its hash compared where it stands.
 */
const LOAD_FOR_SYNC = `
  SELECT COALESCE(t.id, h.id) AS id, COALESCE(t.stripe_customer_id, h.stripe_customer_id) AS customer,
         CASE WHEN m.unchanged THEN NULL ELSE row_to_json(c) END AS config,
         c.read_ticket::text AS ticket, m.unchanged
    FROM unnest($1::text[], $2::text[], $3::text[]) AS s(customer, hint, hash)
    LEFT JOIN tenants t ON t.stripe_customer_id = s.customer
    LEFT JOIN tenants h ON h.id = CASE WHEN t.id IS NULL THEN s.hint END
    LEFT JOIN tenant_feature_configs c ON c.tenant_id = COALESCE(t.id, h.id)
   CROSS JOIN LATERAL (
     SELECT COALESCE(t.id IS NOT NULL AND c.sync_hash = s.hash AND c.sync_hash_version = c.version, false)
            AS unchanged
   ) m
   WHERE t.id IS NOT NULL OR h.id IS NOT NULL`;

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
