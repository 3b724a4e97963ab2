import type { PrismaClient } from '@packages/db';

/**
 * Runs one parameterised statement ($1, $2, …) and returns its rows. `name` (optional) prepares it
 * once per connection under that name, for a statement sent hundreds of times in a run (the bulk
 * sync's per-batch statements): later executions skip parsing and planning. A runner that cannot
 * prepare (Prisma's) ignores it. One name, one text.
 */
export type RunSql = <Row>(sql: string, values: unknown[], options?: { name?: string }) => Promise<Row[]>;

/** A pg pool (or client): what `Database.pool` is. */
export interface SqlPool {
  query(
    sql: string | { text: string; values: unknown[]; name?: string },
    values?: unknown[],
  ): Promise<{ rows: unknown[] }>;
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
  async <Row>(sql: string, values: unknown[], options?: { name?: string }) =>
    (options?.name
      ? await pool.query({ text: sql, values, name: options.name })
      : await pool.query(sql, values)
    ).rows as Row[];
