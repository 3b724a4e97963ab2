import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, openDatabase, type Database } from '@packages/db';
import { isDatabaseUnavailable } from '../src/io/database-errors.js';
import { startFreezableProxy, type FreezableProxy } from './helpers/frozen-postgres.js';

/**
 * A transaction whose statement PostgreSQL does not answer in time (frozen, or partitioned: a TCP
 * proxy that stops forwarding) fails within the bounds; its connection must then be closed, never
 * handed to the next user. A connection given back while its statement is still on the way would
 * run that statement once the server answers, inside a transaction the next user's COMMIT would
 * then commit: a write reported as failed would appear. Real PostgreSQL only.
 */

const REAL_POSTGRES = Boolean(process.env.DATABASE_URL);
const TIMEOUTS = { connectMs: 500, statementMs: 1000, idleInTransactionMs: 5000 };

describe.skipIf(!REAL_POSTGRES)('a transaction cut short by a frozen PostgreSQL', () => {
  let direct: Database;
  let proxy: FreezableProxy;
  let db: Database;

  beforeAll(async () => {
    direct = await createIsolatedDatabase();
    proxy = await startFreezableProxy(process.env.DATABASE_URL!);
    // One connection, so the next transaction gets the very connection the cut one used.
    db = await openDatabase({
      databaseUrl: proxy.url,
      schema: direct.schema,
      migrate: false,
      poolMax: 1,
      timeouts: TIMEOUTS,
    });
  });

  afterAll(async () => {
    proxy?.thaw();
    await db?.close();
    await proxy?.close();
    await direct?.close();
  });

  it('fails within the bound, and nothing it wrote is committed by the transaction after it', async () => {
    const started = performance.now();
    const cut = db.prisma.$transaction(async (tx) => {
      await tx.tenant.create({ data: { id: 'tx_cut_1', name: 'cut' } });
      proxy.freeze();
      await tx.tenant.create({ data: { id: 'tx_cut_2', name: 'cut' } });
    });
    const error = await cut.then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - started;
    proxy.thaw();
    expect(error).toBeDefined();
    expect(isDatabaseUnavailable(error)).toBe(true);
    // statement + 1 s client margin, plus room for a loaded machine.
    expect(ms).toBeLessThan(TIMEOUTS.statementMs + 1000 + 1500);

    await db.prisma.$transaction(async (tx) => {
      await tx.tenant.create({ data: { id: 'tx_next', name: 'next' } });
    });
    const rows = await direct.prisma.tenant.findMany({
      where: { id: { startsWith: 'tx_' } },
      select: { id: true },
      orderBy: { id: 'asc' },
    });
    expect(rows).toEqual([{ id: 'tx_next' }]);
  });
});
