import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, migrate, readMigrations, type Database } from '@packages/db';

describe('migrations', () => {
  let db: Database;
  beforeAll(async () => {
    db = await createIsolatedDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('creates every table of the data model', async () => {
    const { rows } = await db.pool.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
      [db.schema],
    );
    expect(rows.map((r) => r.table_name)).toEqual([
      '_prisma_migrations',
      'api_tokens',
      'console_sessions',
      'custom_plans',
      'feature_audit_logs',
      'feature_catalog',
      'feature_catalog_audit_logs',
      'processed_stripe_events',
      'sync_run_results',
      'sync_runs',
      'tenant_feature_configs',
      'tenant_limit_usage',
      'tenants',
      'usage_alerts',
      'usage_counters',
      'usage_ledger',
      'usage_reservations',
    ]);
  });

  it('records the add_tenant_features migration the way Prisma does', async () => {
    const migrations = await readMigrations();
    expect(migrations[0]!.name).toMatch(/_add_tenant_features$/);
    const { rows } = await db.pool.query(
      'SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY migration_name',
    );
    expect(rows).toEqual(migrations.map((m) => ({ migration_name: m.name, checksum: m.checksum })));
  });

  it('is re-runnable: applied migrations are skipped', async () => {
    const again = await migrate({ pool: db.pool, schema: db.schema });
    expect(again.applied).toEqual([]);
    expect(again.skipped.length).toBe((await readMigrations()).length);
  });

  it('refuses a migration edited after it was applied', async () => {
    await db.pool.query(
      `UPDATE "${db.schema}"."_prisma_migrations" SET checksum = 'tampered' WHERE migration_name LIKE '%add_tenant_features'`,
    );
    await expect(migrate({ pool: db.pool, schema: db.schema })).rejects.toThrow(
      /was changed after it was applied/,
    );
  });

  it('enforces unique Stripe customer ids per tenant', async () => {
    await db.prisma.tenant.create({ data: { id: 'a', name: 'A', stripeCustomerId: 'cus_same' } });
    await expect(
      db.prisma.tenant.create({ data: { id: 'b', name: 'B', stripeCustomerId: 'cus_same' } }),
    ).rejects.toThrow();
  });
});
