import type { Database } from '@packages/db';

/**
 * Runs `fn` while every audit-row insert for `tenantId` fails with a real database error, inside
 * whatever transaction is writing it (the audit row is the last write of every feature change, so
 * the whole change must roll back). The failure is removed again however `fn` ends.
 */
export async function whileAuditInsertsFail<T>(
  db: Pick<Database, 'pool'>,
  tenantId: string,
  fn: () => Promise<T>,
): Promise<T> {
  if (!/^[\w-]+$/.test(tenantId)) throw new Error(`unsafe literal ${tenantId}`);
  const name = `audit_fault_${tenantId.replace(/-/g, '_')}`.slice(0, 60);
  const q = (sql: string) => db.pool.query(sql);
  await q(`CREATE OR REPLACE FUNCTION ${name}_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.tenant_id = '${tenantId}' THEN RAISE EXCEPTION 'injected failure for ${tenantId}'; END IF;
      RETURN NEW;
    END $fn$`);
  await q(
    `CREATE TRIGGER ${name} BEFORE INSERT ON feature_audit_logs FOR EACH ROW EXECUTE FUNCTION ${name}_fn()`,
  );
  try {
    return await fn();
  } finally {
    await q(`DROP TRIGGER IF EXISTS ${name} ON feature_audit_logs`);
  }
}
