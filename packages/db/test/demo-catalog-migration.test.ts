import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { dropSchema, migrate, MIGRATIONS_DIR, readMigrations, startEmbeddedPostgres } from '@packages/db';

const REMOVAL = '20261207100000_remove_unused_demo_catalog';

/** A database of its own: a fresh schema on DATABASE_URL, else an embedded PGlite. */
async function freshTarget() {
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    return { connectionString: url, schema, close: () => dropSchema(url, schema) };
  }
  const embedded = await startEmbeddedPostgres();
  return { connectionString: embedded.url, schema: 'public', close: () => embedded.close() };
}

/** The migrations an existing deployment had applied before the removal. */
async function migrationsBeforeRemoval(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'migrations-'));
  for (const { name } of await readMigrations()) {
    if (name >= REMOVAL) break;
    await cp(path.join(MIGRATIONS_DIR, name), path.join(dir, name), { recursive: true });
  }
  return dir;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function setUp() {
  const target = await freshTarget();
  cleanups.push(target.close);
  const client = new pg.Client({ connectionString: target.connectionString });
  await client.connect();
  cleanups.unshift(() => client.end());
  const catalog = async () => {
    const { rows } = await client.query<{ key: string }>(
      `SELECT key FROM "${target.schema}"."feature_catalog" ORDER BY key`,
    );
    return rows.map((r) => r.key);
  };
  const sql = (text: string) => client.query(text.replaceAll('$schema', `"${target.schema}"`));
  return { target, catalog, sql };
}

describe('the demo catalog seed is not a host’s catalog', () => {
  it('a new install starts with an empty feature catalog', async () => {
    const { target, catalog } = await setUp();
    const result = await migrate(target);
    expect(result.applied).toContain(REMOVAL);
    expect(await catalog()).toEqual([]);
  });

  it('a database with tenants keeps every seeded key (its Stripe plans may name them)', async () => {
    const { target, catalog, sql } = await setUp();
    const before = await migrationsBeforeRemoval();
    cleanups.push(() => rm(before, { recursive: true, force: true }));
    await migrate({ ...target, migrationsDir: before });
    const seeded = await catalog();
    expect(seeded).toContain('max_users');
    await sql(`INSERT INTO $schema."tenants" (id, name, updated_at) VALUES ('acme', 'Acme', now())`);
    expect((await migrate(target)).applied).toContain(REMOVAL);
    expect(await catalog()).toEqual(seeded);
  });

  it('without tenants, a seeded key the host changed or added to is kept; the untouched ones go', async () => {
    const { target, catalog, sql } = await setUp();
    const before = await migrationsBeforeRemoval();
    cleanups.push(() => rm(before, { recursive: true, force: true }));
    await migrate({ ...target, migrationsDir: before });
    await sql(`UPDATE $schema."feature_catalog" SET description = 'Seats' WHERE key = 'max_users'`);
    await sql(`UPDATE $schema."feature_catalog" SET deprecated_at = now() WHERE key = 'sso'`);
    await sql(
      `INSERT INTO $schema."feature_catalog" (key, type, description, updated_at) VALUES ('google.reviews', 'boolean', 'Reviews', now())`,
    );
    await migrate(target);
    expect(await catalog()).toEqual(['google.reviews', 'max_users', 'sso']);
  });
});
