import pg from 'pg';
import type { Database } from '@packages/db';
import { forEachBounded } from '../src/io/bounded-concurrency.js';

/** A bare `pg` pool on a database's schema: the raw-SQL side of the benchmarks' ratios. */
export function rawPool(db: Database, max: number): pg.Pool {
  return new pg.Pool({
    connectionString: db.connectionString,
    max,
    options: `-c search_path="${db.schema}"`,
  });
}

export interface ConfigRow {
  tenant_id: string;
  features: unknown;
  plan_features: unknown;
  scrape_interval_hours: number | null;
  bundle: string | null;
  stripe_product_id: string | null;
  stripe_price_id: string | null;
  stripe_subscription_id: string | null;
  subscription_status: string | null;
  access_active: boolean;
  /** The audit row's `after`. */
  after: unknown;
}

/**
 * What a first sync wrote: every config row and its audit row's `after`, to replay as the baseline.
 * Indexed on both sides: the configs in primary-key order, and for each one probe of the audit log's
 * (tenant_id, created_at) index (EXPLAIN ANALYZE at 100,000 tenants: a nested loop, 4 buffer hits
 * and 0.005 ms a tenant, 0.8 s in all; a DISTINCT ON pass sorting the whole audit table instead took
 * 0.3 s there but grows with the table, not with the tenants read).
 */
export async function readSyncedRows(db: Database): Promise<ConfigRow[]> {
  const pool = rawPool(db, 1);
  try {
    const { rows } = await pool.query<ConfigRow>(
      `SELECT c.tenant_id, c.features, c.plan_features, c.scrape_interval_hours, c.bundle,
              c.stripe_product_id, c.stripe_price_id, c.stripe_subscription_id, c.subscription_status,
              c.access_active, a.after
         FROM tenant_feature_configs c
         -- Each tenant's newest audit row in one pass (a lateral lookup per row scanned the audit
         -- table per tenant: 20 minutes at 100,000 tenants).
         LEFT JOIN (SELECT DISTINCT ON (tenant_id) tenant_id, after FROM feature_audit_logs
                     ORDER BY tenant_id, id DESC) a ON a.tenant_id = c.tenant_id
        ORDER BY c.tenant_id`,
    );
    return rows;
  } finally {
    await pool.end();
  }
}

/**
 * The hand-written best case for a bulk sync's writes: per chunk, ONE statement that upserts the
 * configs from `unnest` arrays (`INSERT … SELECT FROM unnest … ON CONFLICT DO UPDATE`) and inserts
 * one audit row per written tenant, `concurrency` statements in flight. The tenants must exist.
 */
export async function rawBatchedUpsert(
  pool: pg.Pool,
  rows: ConfigRow[],
  { chunk = 500, concurrency = 2 } = {},
): Promise<{ wallMs: number; statements: number }> {
  const chunks: ConfigRow[][] = [];
  for (let i = 0; i < rows.length; i += chunk) chunks.push(rows.slice(i, i + chunk));
  const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
  const started = performance.now();
  await forEachBounded(chunks.length, concurrency, async (c) => {
    const part = chunks[c]!;
    await pool.query(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::jsonb[], $3::jsonb[], $4::int[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::bool[], $11::jsonb[])
           AS r(tenant_id, features, plan_features, scrape_interval_hours, bundle, stripe_product_id,
                stripe_price_id, stripe_subscription_id, subscription_status, access_active, after)
       ),
       written AS (
         INSERT INTO tenant_feature_configs AS c (tenant_id, features, plan_features, scrape_interval_hours,
                bundle, stripe_product_id, stripe_price_id, stripe_subscription_id, subscription_status,
                access_active, version, updated_at)
         SELECT tenant_id, features, plan_features, scrape_interval_hours, bundle, stripe_product_id,
                stripe_price_id, stripe_subscription_id, subscription_status, access_active, 1,
                now()::timestamp(3)
           FROM input
         ON CONFLICT (tenant_id) DO UPDATE SET
           features = EXCLUDED.features, plan_features = EXCLUDED.plan_features,
           scrape_interval_hours = EXCLUDED.scrape_interval_hours, bundle = EXCLUDED.bundle,
           stripe_product_id = EXCLUDED.stripe_product_id, stripe_price_id = EXCLUDED.stripe_price_id,
           stripe_subscription_id = EXCLUDED.stripe_subscription_id,
           subscription_status = EXCLUDED.subscription_status, access_active = EXCLUDED.access_active,
           version = c.version + 1, updated_at = EXCLUDED.updated_at
         RETURNING c.tenant_id
       )
       INSERT INTO feature_audit_logs (tenant_id, actor, source, action, before, after)
       SELECT i.tenant_id, 'system', 'sync', 'plan_applied', NULL, i.after
         FROM input i JOIN written w ON w.tenant_id = i.tenant_id`,
      [
        part.map((r) => r.tenant_id),
        part.map((r) => json(r.features)),
        part.map((r) => json(r.plan_features)),
        part.map((r) => r.scrape_interval_hours),
        part.map((r) => r.bundle),
        part.map((r) => r.stripe_product_id),
        part.map((r) => r.stripe_price_id),
        part.map((r) => r.stripe_subscription_id),
        part.map((r) => r.subscription_status),
        part.map((r) => r.access_active),
        part.map((r) => json(r.after)),
      ],
    );
  });
  return { wallMs: performance.now() - started, statements: chunks.length };
}

/** Inserts bare tenant rows (setup for a baseline, not timed). */
export async function insertTenants(pool: pg.Pool, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 5000) {
    const part = ids.slice(i, i + 5000);
    await pool.query(
      `INSERT INTO tenants (id, name, updated_at) SELECT id, id, now() FROM unnest($1::text[]) AS u(id)`,
      [part],
    );
  }
}
