import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import {
  createPrismaClient,
  DEFAULT_DATABASE_TIMEOUTS,
  type DatabaseTimeouts,
  type PrismaClient,
  type PrismaHandle,
} from './client.js';
import { startEmbeddedPostgres } from './embedded.js';
import { assertSafeIdentifier, migrate, MIGRATIONS_DIR } from './migrate.js';
import { resolveDatabaseTarget, resolveEmbeddedSchema } from './target.js';

export interface Database extends PrismaHandle {
  /**
   * A second client over its own pool for short reads (feature lookups, admin reads), so they never
   * queue behind webhook or sync transactions holding the write pool's connections. On the embedded
   * PGlite server (a single session) it is the same client as `prisma`.
   */
  readPrisma: PrismaClient;
  connectionString: string;
  schema: string;
  /** True when running on the embedded PGlite server rather than a real Postgres. */
  embedded: boolean;
}

export interface OpenDatabaseOptions {
  /**
   * Defaults to process.env.DATABASE_URL; when neither is set an embedded PGlite server is started.
   * A `?schema=` parameter selects the schema (Prisma's convention). `null`: the embedded
   * database, whatever the environment says.
   */
  databaseUrl?: string | null;
  /**
   * Schema the tables live in. Default: the URL's `?schema=`, or process.env.DATABASE_SCHEMA when
   * the URL came from the environment too (they must agree), else `public`.
   */
  schema?: string;
  /** Apply pending migrations first (default true). */
  migrate?: boolean;
  poolMax?: number;
  /** Size of the read pool behind `readPrisma` (default 5; ignored on the embedded server). */
  readPoolMax?: number;
  /**
   * Bounds on every wait, for both pools and the migrations' connect (default
   * DEFAULT_DATABASE_TIMEOUTS). Not applied to the embedded server: it runs in this process, and
   * its single session makes a queue that a timeout would only turn into errors.
   */
  timeouts?: DatabaseTimeouts;
}

/**
 * Opens the application database: the real server when DATABASE_URL is set, embedded PGlite
 * otherwise. A bad URL or schema name throws DatabaseConfigError before anything is opened.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const fromEnv = options.databaseUrl === undefined;
  const rawUrl =
    options.databaseUrl === null
      ? undefined
      : (options.databaseUrl ?? (process.env.DATABASE_URL?.trim() || undefined));
  const schemaSetting = fromEnv ? process.env.DATABASE_SCHEMA : undefined;
  if (rawUrl) {
    const { connectionString: url, schema } = resolveDatabaseTarget({
      url: rawUrl,
      schema: options.schema,
      schemaSetting,
    });
    const timeouts = options.timeouts ?? DEFAULT_DATABASE_TIMEOUTS;
    if (options.migrate !== false) await migrate({ connectionString: url, schema, timeouts });
    const handle = createPrismaClient({ connectionString: url, schema, poolMax: options.poolMax, timeouts });
    const reads = createPrismaClient({
      connectionString: url,
      schema,
      poolMax: options.readPoolMax ?? 5,
      stats: handle.stats,
      timeouts,
    });
    return {
      ...handle,
      readPrisma: reads.prisma,
      connectionString: url,
      schema,
      embedded: false,
      async close() {
        await Promise.all([handle.close(), reads.close()]);
      },
    };
  }
  const schema = resolveEmbeddedSchema({ schema: options.schema, schemaSetting });
  const embedded = await startEmbeddedPostgres();
  try {
    if (options.migrate !== false) await migrate({ connectionString: embedded.url, schema });
  } catch (error) {
    await embedded.close();
    throw error;
  }
  const handle = createPrismaClient({ connectionString: embedded.url, schema, poolMax: 1, timeouts: null });
  return {
    ...handle,
    readPrisma: handle.prisma,
    connectionString: embedded.url,
    schema,
    embedded: true,
    async close() {
      await handle.close();
      await embedded.close();
    },
  };
}

/**
 * A migrated database that belongs to one test file: a fresh schema on the server at DATABASE_URL
 * (dropped on close), or a fresh embedded PGlite when DATABASE_URL is unset. Lets test files run in
 * parallel without seeing each other's rows.
 */
export async function createIsolatedDatabase(
  options: { poolMax?: number; readPoolMax?: number } = {},
): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (!url)
    return registerDemoCatalog(await openDatabase({ databaseUrl: undefined, poolMax: options.poolMax }));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  assertSafeIdentifier(schema);
  const db = await openDatabase({
    databaseUrl: url,
    schema,
    poolMax: options.poolMax,
    readPoolMax: options.readPoolMax,
  });
  const isolated = {
    ...db,
    async close() {
      await db.close();
      await dropSchema(url, schema);
    },
  };
  try {
    return await registerDemoCatalog(isolated);
  } catch (error) {
    await isolated.close().catch(() => {});
    throw error;
  }
}

/**
 * The demo's feature keys (the rows migration 20261125000100 seeds, which a later migration removes
 * from new installs): the tests' plans use them, as a host's plans use the keys it registered.
 */
async function registerDemoCatalog(db: Database): Promise<Database> {
  const seed = await readFile(path.join(MIGRATIONS_DIR, DEMO_CATALOG_MIGRATION, 'migration.sql'), 'utf8');
  await db.prisma.$executeRawUnsafe(seed);
  return db;
}

const DEMO_CATALOG_MIGRATION = '20261125000100_seed_feature_catalog';

/** Drops a schema and everything in it (used for per-test and demo schemas, never for `public`). */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  assertSafeIdentifier(schema);
  if (schema === 'public') throw new Error('Refusing to drop the public schema');
  const client = new pg.Client({
    connectionString,
    connectionTimeoutMillis: DEFAULT_DATABASE_TIMEOUTS.connectMs,
    // Bounded, but long enough to outlast a session of the schema's last user still holding a lock
    // (the server ends one idle in a transaction after idleInTransactionMs). The client is ended
    // right after, so pg's own client-side timeout leaves no connection to reuse.
    query_timeout: DEFAULT_DATABASE_TIMEOUTS.idleInTransactionMs + DEFAULT_DATABASE_TIMEOUTS.statementMs,
  });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
