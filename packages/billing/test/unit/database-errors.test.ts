import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/io/database-errors.js';

/** The errors pg, Prisma and its pg adapter raise when PostgreSQL does not answer, as they arrive. */
describe('isDatabaseUnavailable', () => {
  const withCause = (message: string, cause: unknown) => Object.assign(new Error(message), { cause });

  it.each([
    ['pg connect timeout', withCause('Connection terminated due to connection timeout', new Error('x'))],
    ['pg pool wait', new Error('timeout exceeded when trying to connect')],
    ['pg client read timeout (query_timeout)', new Error('Query read timeout')],
    ['pg connect timer', new Error('timeout expired')],
    [
      'refused, as a cause',
      withCause(
        'Invalid `prisma.tenant.findMany()` invocation',
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      ),
    ],
    [
      'statement_timeout (raw query)',
      {
        name: 'PrismaClientKnownRequestError',
        code: 'P2010',
        message: 'Raw query failed. Code: `57014`. Message: `canceling statement due to statement timeout`',
      },
    ],
    [
      'statement_timeout (adapter meta)',
      {
        code: 'P2010',
        message: 'x',
        meta: { driverAdapterError: { cause: { kind: 'postgres', code: '57014' } } },
      },
    ],
    ['backend terminated', { code: '57P01', message: 'terminating connection due to administrator command' }],
    [
      'adapter: not reachable',
      { name: 'DriverAdapterError', message: 'x', cause: { kind: 'DatabaseNotReachable' } },
    ],
    ['Prisma: pool timeout', { code: 'P2024', message: 'Timed out fetching a new connection' }],
  ])('%s → unavailable', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', { code: 'P2002', message: 'Unique constraint failed' }],
    [
      'a refused statement',
      { code: 'P2010', message: 'Raw query failed. Code: `22021`. Message: `invalid byte sequence`' },
    ],
    ['our own error', new Error('Tenant "x" does not exist')],
    ['not an error', 'connection'],
    [
      'a cycle of causes',
      (() => {
        const e: { message: string; cause?: unknown } = { message: 'a' };
        e.cause = e;
        return e;
      })(),
    ],
  ])('%s → not', (_name, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});
