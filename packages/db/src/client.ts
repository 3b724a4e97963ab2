import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.js';

export { PrismaClient };

export interface QueryStats {
  /** Statements sent to Postgres since the client was created (DB round trips). */
  queries: number;
}

/**
 * How long any wait on PostgreSQL may last, so a frozen or partitioned server never hangs a request
 * or a process: it fails, and the caller answers 503 or retries.
 */
export interface DatabaseTimeouts {
  /** Opening a connection (TCP, TLS, start-up), pg's `connectionTimeoutMillis`. */
  connectMs: number;
  /**
   * One statement on the server (`statement_timeout`, lock waits included). The client gives up
   * on an answer `QUERY_TIMEOUT_MARGIN_MS` later (`query_timeout`): the server's own cancel is the
   * normal end, the client's is for a server too frozen to send it.
   */
  statementMs: number;
  /** A session idle inside a transaction is ended by the server (`idle_in_transaction_session_timeout`). */
  idleInTransactionMs: number;
}

/** The defaults, as documented for DATABASE_CONNECT_TIMEOUT_MS and friends in config.ts. */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  connectMs: 5_000,
  statementMs: 15_000,
  idleInTransactionMs: 60_000,
};

export const QUERY_TIMEOUT_MARGIN_MS = 1_000;

/** pg's settings for `timeouts`; the wait for a free pool connection is bounded by connect + statement. */
export function pgTimeoutSettings(timeouts: DatabaseTimeouts) {
  return {
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
    query_timeout: timeouts.statementMs + QUERY_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
    // A peer that vanished without a FIN is noticed by the kernel, not only by the next timeout.
    keepAlive: true,
  };
}

export interface CreatePrismaOptions {
  connectionString: string;
  /** Postgres schema the tables live in. Defaults to `public`. */
  schema?: string;
  /** Pool size. Must be 1 for the embedded PGlite server, which has a single session. */
  poolMax?: number;
  /** Count statements into this object (shared by a database's write and read pools). */
  stats?: QueryStats;
  /** Bounds on every wait; `null`: none (the embedded PGlite server, in this process). Default: DEFAULT_DATABASE_TIMEOUTS. */
  timeouts?: DatabaseTimeouts | null;
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
  const timeouts = options.timeouts === undefined ? DEFAULT_DATABASE_TIMEOUTS : options.timeouts;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolMax ?? 10,
    options: `-c search_path="${schema}"`,
    ...(timeouts ? boundedPoolSettings(timeouts) : {}),
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

/**
 * Every client of the pool connects within `connectMs`; waiting for a free client is a separate
 * bound (pg-pool uses one option for both): connect + statement, since a busy client frees up
 * within one statement timeout once its statement ends or is cancelled.
 */
function boundedPoolSettings(timeouts: DatabaseTimeouts): pg.PoolConfig {
  const settings = pgTimeoutSettings(timeouts);
  class BoundedClient extends pg.Client {
    constructor(config?: pg.ClientConfig) {
      super({ ...config, connectionTimeoutMillis: timeouts.connectMs });
    }
  }
  return {
    ...settings,
    connectionTimeoutMillis: timeouts.connectMs + timeouts.statementMs,
    Client: BoundedClient,
  };
}
