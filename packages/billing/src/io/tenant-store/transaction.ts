import type { Prisma, PrismaClient } from '@packages/db';

/** A Prisma client bound to an open transaction. */
export type Tx = Prisma.TransactionClient;

/**
 * Interactive transaction with waits long enough for the embedded database, whose single
 * connection makes concurrent transactions queue rather than run side by side.
 */
export function inTransaction<T>(prisma: PrismaClient, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return prisma.$transaction(fn, { maxWait: 30_000, timeout: 30_000 });
}
