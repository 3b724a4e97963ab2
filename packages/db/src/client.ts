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
   * on an answer `QUERY_TIMEOUT_MARGIN_MS` later by closing the connection (see
   * `boundStatements`): the server's own cancel is the normal end, the client's is for a server too
   * frozen (or too far away) to send it.
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

/**
 * pg's settings for `timeouts`; the wait for a free pool connection is bounded by connect + statement.
 * No `query_timeout`: pg's own ends the caller's wait but hands the connection back with the
 * statement still on its way, so a pool would give a frozen transaction to the next caller, whose
 * COMMIT then commits what the failed one wrote (frozen-transaction.test.ts).
 */
export function pgTimeoutSettings(timeouts: DatabaseTimeouts) {
  return {
    connectionTimeoutMillis: timeouts.connectMs,
    statement_timeout: timeouts.statementMs,
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
  const deadlineMs = timeouts ? timeouts.statementMs + QUERY_TIMEOUT_MARGIN_MS : null;
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      stats.queries += 1;
      return deadlineMs === null ? original(...args) : boundStatement(client, original, args, deadlineMs);
    };
    // A connection closed by its deadline reports it to the statement; the event itself is expected.
    client.on('error', () => {});
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
 * Runs one statement of `client` with a client-side deadline: unanswered after `ms` (the server did
 * not even send statement_timeout's cancel), the connection is closed, so the statement fails with
 * "Connection terminated unexpectedly" and the pool drops the client instead of lending it again
 * with the statement (and its transaction) still open on the server.
 */
function boundStatement(
  client: pg.PoolClient,
  run: (...args: unknown[]) => unknown,
  args: unknown[],
  ms: number,
): unknown {
  const timer = setTimeout(() => closeConnection(client), ms);
  timer.unref();
  const done = () => clearTimeout(timer);
  const callback = args.at(-1);
  if (typeof callback === 'function') {
    return run(...args.slice(0, -1), (error: unknown, result: unknown) => {
      done();
      (callback as (error: unknown, result: unknown) => void)(error, result);
    });
  }
  const result = run(...args);
  if (result instanceof Promise) result.then(done, done);
  // A Submittable (a cursor or a stream) ends on its own events: statement_timeout bounds it.
  else done();
  return result;
}

/** Closes a client's connection at once, whatever it is waiting for (pg's own way out of a stuck pipeline). */
function closeConnection(client: pg.ClientBase): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * `statement()` on `client` (a client of its own, not a pool's) with the same client-side deadline:
 * past `ms` the connection is closed and the statement fails. For the migrations' bookkeeping.
 */
export async function withStatementDeadline<T>(
  client: pg.ClientBase,
  ms: number,
  statement: () => Promise<T>,
): Promise<T> {
  const timer = setTimeout(() => closeConnection(client), ms);
  timer.unref();
  try {
    return await statement();
  } finally {
    clearTimeout(timer);
  }
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
