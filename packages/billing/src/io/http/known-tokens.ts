import type { PrismaClient } from '@packages/db';

/**
 * The hashes of every live `api_tokens` row, held in memory and re-read in the background, so a
 * request whose token matches no row is refused without waiting on PostgreSQL (a frozen database
 * must not hold up, and an attacker must not be able to queue, unauthenticated requests). A hash
 * that is in the set is still looked up on every request, so a revocation ends it at once.
 *
 * Bounds: a token created by another process (`npm run manage -- tokens create`) is accepted at
 * most `refreshMs` after its row commits; one created by this process (createApiToken) at once,
 * since a local creation makes the next miss re-read the set first. Until the first read succeeds
 * the set says nothing, and lookups go to the database as before.
 */
export interface KnownTokenHashes {
  /** true / false once loaded; undefined before the first successful read. */
  has(hashHex: string): boolean | undefined;
  /** Whether a token was created in this process since the set was last read (the miss must re-read). */
  staleForLocalWrites(): boolean;
  refresh(): Promise<void>;
  close(): void;
}

/** Bumped by createApiToken / revokeApiToken in this process: a miss after a local write re-reads the set. */
let localWrites = 0;
export function noteLocalTokenWrite(): void {
  localWrites += 1;
}

export function watchApiTokens(
  prisma: PrismaClient,
  options: { refreshMs?: number; onError?: (error: unknown) => void } = {},
): KnownTokenHashes {
  const refreshMs = options.refreshMs ?? 1000;
  let hashes: Set<string> | undefined;
  let readAtWrites = -1;
  let inFlight: Promise<void> | undefined;
  let inFlightWrites = -1;
  const refresh = (): Promise<void> => {
    // A read that started before the latest local write cannot see it: wait for it, then read again.
    if (inFlight && inFlightWrites !== localWrites) return inFlight.then(refresh);
    inFlightWrites = localWrites;
    inFlight ??= (async () => {
      const writes = localWrites;
      try {
        const rows = await prisma.apiToken.findMany({
          where: { revokedAt: null },
          select: { tokenHash: true },
        });
        hashes = new Set(rows.map((row) => row.tokenHash));
        readAtWrites = writes;
      } catch (error) {
        options.onError?.(error);
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
  void refresh();
  const timer = setInterval(() => void refresh(), refreshMs);
  timer.unref();
  return {
    has: (hashHex) => (hashes === undefined ? undefined : hashes.has(hashHex)),
    staleForLocalWrites: () => readAtWrites !== localWrites,
    refresh,
    close: () => clearInterval(timer),
  };
}
