import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.js';

export { PrismaClient };

export interface QueryStats {
  /** Statements sent to Postgres since the client was created (DB round trips). */
  queries: number;
}

export interface CreatePrismaOptions {
  connectionString: string;
  /** Postgres schema the tables live in. Defaults to `public`. */
  schema?: string;
  /** Pool size. Must be 1 for the embedded PGlite server, which has a single session. */
  poolMax?: number;
  /** Count statements into this object (shared by a database's write and read pools). */
  stats?: QueryStats;
}

export interface PrismaHandle {
  prisma: PrismaClient;
  pool: pg.Pool;
  stats: QueryStats;
  close(): Promise<void>;
}

/**
 * Builds a Prisma client over a pg pool we own, so the pool's size and search_path are ours to set
 * and every statement sent can be counted (benchmarks report DB round trips).
 */
export function createPrismaClient(options: CreatePrismaOptions): PrismaHandle {
  const schema = options.schema ?? 'public';
  const stats: QueryStats = options.stats ?? { queries: 0 };
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolMax ?? 10,
    options: `-c search_path="${schema}"`,
  });
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      stats.queries += 1;
      return original(...args);
    };
  });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const adapter = new PrismaPg(pool, { schema });
  const prisma = new PrismaClient({ adapter });
  return {
    prisma,
    pool,
    stats,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
