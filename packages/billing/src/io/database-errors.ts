/**
 * Whether an error means "PostgreSQL did not answer in time or is not there", as opposed to a
 * statement it refused. Those answer 503 with `database_unavailable` (retry later) instead of a
 * 500: the request was fine, the dependency was not. Pure: reads the error, its causes and the
 * driver adapter's details that Prisma keeps, and imports nothing.
 */

/** SQLSTATEs of a cancelled statement, a server going away, or no room for a connection. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57014', // query_canceled: statement_timeout
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '25P03', // idle_in_transaction_session_timeout
]);

/** Prisma's codes for an unreachable server, a timed-out operation, a closed connection, no pool slot. */
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);

/** The driver adapter's kinds for the same. */
const UNAVAILABLE_ADAPTER_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
]);

/** pg's and Node's own words for a connection that timed out or went away. */
const UNAVAILABLE_MESSAGE =
  /^timeout expired$|Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|statement timeout|canceling statement due to user request/;

/** A raw query's failure as Prisma words it: "Raw query failed. Code: `57014`. …". */
const RAW_QUERY_CODE = /Code: `([0-9A-Z]{5})`/;

export function isDatabaseUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === 'object' && !seen.has(current); depth++) {
    seen.add(current);
    if (looksUnavailable(current as Record<string, unknown>)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

function looksUnavailable(error: Record<string, unknown>): boolean {
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (code && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_PRISMA_CODES.has(code))) return true;
  const message = typeof error.message === 'string' ? error.message : '';
  const rawCode = RAW_QUERY_CODE.exec(message)?.[1];
  if (rawCode && UNAVAILABLE_SQLSTATES.has(rawCode)) return true;
  if (UNAVAILABLE_MESSAGE.test(message)) return true;
  const adapter = adapterError(error);
  if (adapter) {
    if (typeof adapter.kind === 'string' && UNAVAILABLE_ADAPTER_KINDS.has(adapter.kind)) return true;
    if (typeof adapter.code === 'string' && UNAVAILABLE_SQLSTATES.has(adapter.code)) return true;
    if (typeof adapter.originalCode === 'string' && UNAVAILABLE_SQLSTATES.has(adapter.originalCode))
      return true;
  }
  return false;
}

/** Prisma keeps the adapter's error under meta.driverAdapterError.cause; a DriverAdapterError under cause. */
function adapterError(error: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = error.meta as { driverAdapterError?: { cause?: unknown } } | undefined;
  const fromMeta = meta?.driverAdapterError?.cause;
  if (fromMeta && typeof fromMeta === 'object') return fromMeta as Record<string, unknown>;
  if (error.name === 'DriverAdapterError' && error.cause && typeof error.cause === 'object')
    return error.cause as Record<string, unknown>;
  return undefined;
}
