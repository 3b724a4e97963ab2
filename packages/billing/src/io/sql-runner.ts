import type { PrismaClient } from '@packages/db';

/** Runs one parameterised statement ($1, $2, …) and returns its rows. */
export type RunSql = <Row>(sql: string, values: unknown[]) => Promise<Row[]>;

/** A pg pool (or client): what `Database.pool` is. */
export interface SqlPool {
  query(sql: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

export const sqlThroughPrisma =
  (prisma: Pick<PrismaClient, '$queryRawUnsafe'>): RunSql =>
  <Row>(sql: string, values: unknown[]) =>
    prisma.$queryRawUnsafe<Row[]>(sql, ...values);

/**
 * Straight through the pg pool behind Prisma's adapter: Prisma's per-query work grows with the size
 * of the parameters, which for a batch of whole events (the webhook accept) or of 500 tenants' configs
 * (the bulk sync's write) is most of what the statement costs in Node. Values come back as pg parses
 * them: select timestamps as epoch milliseconds (pg reads `timestamp` columns as local time).
 */
export const sqlThroughPool =
  (pool: SqlPool): RunSql =>
  async <Row>(sql: string, values: unknown[]) =>
    (await pool.query(sql, values)).rows as Row[];
