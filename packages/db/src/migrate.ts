import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { QUERY_TIMEOUT_MARGIN_MS, withStatementDeadline, type DatabaseTimeouts } from './client.js';

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../prisma/migrations',
);

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

export interface MigrateOptions {
  connectionString?: string;
  /** Use a connection from this pool instead (the embedded PGlite server accepts one session only). */
  pool?: pg.Pool;
  /** Postgres schema to migrate into (created if missing). Defaults to `public`. */
  schema?: string;
  migrationsDir?: string;
  log?: (line: string) => void;
  /**
   * Bounds the connect and the bookkeeping statements. The migrations' own SQL and the wait for
   * another runner's lock are not bounded: a schema change on a large table may rightly take long.
   */
  timeouts?: DatabaseTimeouts;
}

/**
 * PostgreSQL could not be reached at start: refused, unknown host, wrong credentials, or no answer
 * within the connect timeout. One line that names DATABASE_URL (host, port and database, never the
 * password), so an operator knows which setting to look at.
 */
export class DatabaseConnectError extends Error {
  constructor(connectionString: string | undefined, timeouts: DatabaseTimeouts | undefined, cause: unknown) {
    const message = (cause as Error)?.message ?? String(cause);
    const timedOut = /timeout/i.test(message);
    const reason =
      timedOut && timeouts
        ? `no answer within ${timeouts.connectMs} ms (DATABASE_CONNECT_TIMEOUT_MS)`
        : message.split('\n')[0];
    super(`DATABASE_URL: cannot connect to PostgreSQL at ${where(connectionString)}: ${reason}`, { cause });
    this.name = 'DatabaseConnectError';
  }
}

function where(connectionString: string | undefined): string {
  if (!connectionString) return '(no URL)';
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(migrationsDir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Applies the committed Prisma migrations without Prisma's native schema engine (which cannot be
 * downloaded everywhere). It keeps the same `_prisma_migrations` table Prisma uses, with the same
 * sha256 checksums, so `prisma migrate deploy` treats these migrations as applied.
 * Each migration runs in its own transaction; a session advisory lock serialises concurrent runners.
 */
export async function migrate(options: MigrateOptions): Promise<MigrationResult> {
  const schema = options.schema ?? 'public';
  assertSafeIdentifier(schema);
  const log = options.log ?? (() => {});
  const migrations = await readMigrations(options.migrationsDir);
  const pooled = options.pool ? await options.pool.connect() : undefined;
  const timeouts = options.timeouts;
  const client: pg.ClientBase =
    pooled ??
    new pg.Client({
      connectionString: options.connectionString,
      ...(timeouts ? { connectionTimeoutMillis: timeouts.connectMs, keepAlive: true } : {}),
    });
  if (!pooled) {
    try {
      await (client as pg.Client).connect();
    } catch (error) {
      await (client as pg.Client).end().catch(() => {});
      throw new DatabaseConnectError(options.connectionString, timeouts, error);
    }
  }
  // The bookkeeping statements below are quick; a server that stops answering fails them in time.
  const bounded = (text: string, values?: unknown[]) => {
    const statement = () => client.query({ text, ...(values ? { values } : {}) } as pg.QueryConfig);
    return timeouts
      ? withStatementDeadline(client, timeouts.statementMs + QUERY_TIMEOUT_MARGIN_MS, statement)
      : statement();
  };
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    await bounded(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await bounded(`SET search_path TO "${schema}"`);
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`migrate:${schema}`]);
    try {
      await bounded(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
        "id" VARCHAR(36) PRIMARY KEY NOT NULL,
        "checksum" VARCHAR(64) NOT NULL,
        "finished_at" TIMESTAMPTZ,
        "migration_name" VARCHAR(255) NOT NULL,
        "logs" TEXT,
        "rolled_back_at" TIMESTAMPTZ,
        "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0
      )`);
      const { rows } = (await bounded(
        'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      )) as pg.QueryResult<{ migration_name: string; checksum: string }>;
      const done = new Map(rows.map((r) => [r.migration_name, r.checksum]));
      for (const migration of migrations) {
        const appliedChecksum = done.get(migration.name);
        if (appliedChecksum !== undefined) {
          if (appliedChecksum !== migration.checksum) {
            throw new MigrationChecksumError(migration.name);
          }
          result.skipped.push(migration.name);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
             VALUES ($1, $2, now(), $3, 1)`,
            [randomUUID(), migration.checksum, migration.name],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(`Migration ${migration.name} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        result.applied.push(migration.name);
        log(`applied ${migration.name}`);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`migrate:${schema}`]);
    }
  } finally {
    if (pooled) {
      await client.query('RESET search_path');
      pooled.release();
    } else {
      await (client as pg.Client).end();
    }
  }
  return result;
}

export interface MigrationStatus {
  /** Applied migrations, in name order (a name that is no longer shipped is listed too). */
  applied: string[];
  /** Shipped migrations not applied yet, in the order `migrate` would apply them. */
  pending: string[];
}

/** What `migrate` would do in `schema`, read without writing (and without creating the schema). */
export async function migrationStatus(options: {
  connectionString: string;
  schema?: string;
  migrationsDir?: string;
}): Promise<MigrationStatus> {
  const schema = options.schema ?? 'public';
  assertSafeIdentifier(schema);
  const migrations = await readMigrations(options.migrationsDir);
  const client = new pg.Client({ connectionString: options.connectionString });
  await client.connect();
  try {
    const { rows: exists } = await client.query<{ table: string | null }>(
      'SELECT to_regclass($1)::text AS table',
      [`"${schema}"."_prisma_migrations"`],
    );
    const applied = new Set<string>();
    if (exists[0]?.table) {
      const { rows } = await client.query<{ migration_name: string }>(
        `SELECT migration_name FROM "${schema}"."_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
      );
      for (const row of rows) applied.add(row.migration_name);
    }
    return {
      applied: [...applied].sort(),
      pending: migrations.map((m) => m.name).filter((name) => !applied.has(name)),
    };
  } finally {
    await client.end();
  }
}

export class MigrationChecksumError extends Error {
  constructor(readonly migrationName: string) {
    super(
      `Migration ${migrationName} was changed after it was applied; add a new migration instead of editing it.`,
    );
    this.name = 'MigrationChecksumError';
  }
}

export function assertSafeIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`Unsafe schema name: ${JSON.stringify(name)}`);
  }
}
