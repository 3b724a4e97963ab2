import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, openDatabase, type Database } from '@packages/db';
import { createBillingContext } from '../src/entry/context.js';
import { ValidationError } from '../src/core/errors.js';
import { finished } from './helpers/child-process.js';

/** DATABASE_SCHEMA and `?schema=` select the schema wherever a database is opened. */

const url = process.env.DATABASE_URL;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const created: string[] = [];

function freshSchema(): string {
  const schema = `sch_${randomBytes(5).toString('hex')}`;
  created.push(schema);
  return schema;
}

afterAll(async () => {
  if (url) for (const schema of created) await dropSchema(url, schema);
});

async function tablesIn(db: Database, schema: string): Promise<string[]> {
  const rows = await db.prisma.$queryRaw<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema} ORDER BY table_name`;
  return rows.map((r) => r.table_name);
}

function run(args: string[], env: NodeJS.ProcessEnv) {
  return finished(spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, env }));
}

describe('the billing context honours DATABASE_SCHEMA', () => {
  it('migrates into and reads from the named schema', { timeout: 60_000 }, async () => {
    const schema = freshSchema();
    const context = await createBillingContext({
      env: { STRIPE_SECRET_KEY: 'sk_test_x', ...(url ? { DATABASE_URL: url } : {}), DATABASE_SCHEMA: schema },
    });
    try {
      expect(context.db.schema).toBe(schema);
      expect(await tablesIn(context.db, schema)).toEqual(
        expect.arrayContaining(['tenants', '_prisma_migrations']),
      );
      await context.prisma.tenant.create({ data: { id: 'in-schema', name: 'In schema' } });
      const [row] = await context.prisma.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM "${schema}"."tenants" WHERE id = 'in-schema'`,
      );
      expect(Number(row!.n)).toBe(1);
    } finally {
      await context.close();
    }
  });

  it.skipIf(!url)(
    'and ?schema= in DATABASE_URL, for the context and for openDatabase()',
    { timeout: 60_000 },
    async () => {
      const schema = freshSchema();
      const withSchema = `${url}${url!.includes('?') ? '&' : '?'}schema=${schema}`;
      const context = await createBillingContext({
        env: { STRIPE_SECRET_KEY: 'sk_test_x', DATABASE_URL: withSchema },
      });
      try {
        expect(context.db.schema).toBe(schema);
        expect(context.env.DATABASE_SCHEMA).toBe(schema);
      } finally {
        await context.close();
      }
      const db = await openDatabase({ databaseUrl: withSchema });
      try {
        expect(db.schema).toBe(schema);
        expect(await tablesIn(db, schema)).toContain('feature_catalog');
      } finally {
        await db.close();
      }
    },
  );

  it('a bad schema name is a configuration error naming the variable, and opens nothing', async () => {
    await expect(
      createBillingContext({ env: { STRIPE_SECRET_KEY: 'sk_test_x', DATABASE_SCHEMA: 'Bad-Name' } }),
    ).rejects.toThrow(ValidationError);
    await expect(
      createBillingContext({ env: { STRIPE_SECRET_KEY: 'sk_test_x', DATABASE_SCHEMA: 'Bad-Name' } }),
    ).rejects.toThrow(/^DATABASE_SCHEMA must be a lowercase SQL identifier .*\(got "Bad-Name"\)$/);
    await expect(
      openDatabase({ databaseUrl: 'postgresql://u@127.0.0.1:1/x?schema=Bad-Name' }),
    ).rejects.toThrow(/schema parameter of DATABASE_URL must be a lowercase SQL identifier/);
  });
});

describe('entry points report a bad schema in one line', () => {
  it('npm run db:migrate with DATABASE_SCHEMA=Bad-Name', { timeout: 60_000 }, async () => {
    const result = await run(['packages/billing/src/entry/cli/main.ts', 'db', 'migrate'], {
      PATH: process.env.PATH,
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/test',
      DATABASE_SCHEMA: 'Bad-Name',
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Configuration error: DATABASE_SCHEMA must be a lowercase SQL identifier/),
    ]);
  });

  it.skipIf(!url)('npm run db:migrate applies into DATABASE_SCHEMA', { timeout: 60_000 }, async () => {
    const schema = freshSchema();
    const result = await run(['packages/billing/src/entry/cli/main.ts', 'db', 'migrate'], {
      PATH: process.env.PATH,
      DATABASE_URL: url,
      DATABASE_SCHEMA: schema,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`migrations \\(schema ${schema}\\): \\d+ applied, 0 already applied`),
    );
  });

  it('npm run demo with DEMO_SCHEMA=Bad-Name', { timeout: 60_000 }, async () => {
    const result = await run(['packages/billing/src/entry/demo/main.ts'], {
      PATH: process.env.PATH,
      DEMO_SCHEMA: 'Bad-Name',
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'Configuration error: DEMO_SCHEMA must be a lowercase SQL identifier (a-z, 0-9 and _, at most 63 characters), got "Bad-Name"',
    ]);
  });
});
