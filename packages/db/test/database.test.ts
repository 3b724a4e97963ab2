import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';

describe('database handle', () => {
  let db: Database;
  beforeAll(async () => {
    db = await createIsolatedDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('keeps working after a failed statement (pg reconnects; the embedded server must accept it)', async () => {
    await db.prisma.tenant.create({ data: { id: 'dup', name: 'Dup' } });
    await expect(db.prisma.tenant.create({ data: { id: 'dup', name: 'Dup' } })).rejects.toThrow(
      /Unique constraint/,
    );
    expect(await db.prisma.tenant.count()).toBe(1);
    await expect(db.pool.query('SELECT nope FROM no_such_table')).rejects.toThrow(/does not exist/);
    expect((await db.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('rolls back a failed transaction as a whole', async () => {
    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.tenant.create({ data: { id: 'tx1', name: 'Tx' } });
        await tx.tenant.create({ data: { id: 'tx1', name: 'Tx' } });
      }),
    ).rejects.toThrow();
    expect(await db.prisma.tenant.findUnique({ where: { id: 'tx1' } })).toBeNull();
  });

  it('counts statements sent, for round-trip benchmarks', async () => {
    const before = db.stats.queries;
    await db.prisma.tenant.findMany();
    expect(db.stats.queries).toBeGreaterThan(before);
  });
});
