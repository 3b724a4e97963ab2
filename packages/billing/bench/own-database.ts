import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openDatabase, type Database } from '@packages/db';

const DEMO_CATALOG = fileURLToPath(
  new URL('../../db/prisma/migrations/20261125000100_seed_feature_catalog/migration.sql', import.meta.url),
);

/**
 * A migrated PostgreSQL database of the benchmark's own (CREATE DATABASE on the server at
 * DATABASE_URL, dropped on close), with the demo catalog the fixtures' plans use, as
 * createIsolatedDatabase gives a schema. A database rather than a schema so that the server's own
 * count of time spent executing its statements (`pg_stat_database.active_time`) is this
 * benchmark's alone: `activeMs()` reads it, for "database time" measured by the server, not by
 * a client whose event loop may be busy with something else while a result waits.
 */
export async function createOwnDatabase(
  options: { poolMax?: number; readPoolMax?: number } = {},
): Promise<Database & { activeMs(): Promise<number> }> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('createOwnDatabase needs DATABASE_URL');
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  target.searchParams.delete('schema');
  let db: Database;
  try {
    db = await openDatabase({ databaseUrl: target.toString(), schema: 'public', ...options });
    await db.prisma.$executeRawUnsafe(await readFile(DEMO_CATALOG, 'utf8'));
  } catch (error) {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
    await admin.end();
    throw error;
  }
  return {
    ...db,
    async activeMs() {
      // A backend reports its counters when it goes idle (at most once a second) and when it exits.
      const { rows } = await admin.query<{ ms: number }>(
        `SELECT active_time AS ms FROM pg_stat_database WHERE datname = $1`,
        [name],
      );
      return Number(rows[0]?.ms ?? 0);
    },
    async close() {
      try {
        await db.close();
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}
