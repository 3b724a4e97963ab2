import type { PrismaClient } from '@packages/db';
import type { TenantFeatureState } from '../../core/index.js';
import { createRequestBatcher } from '../../io/request-batcher.js';
import type { RunSql } from '../../io/sql-runner.js';
import {
  readTenantState,
  writeTicketedMany,
  type TicketedWrite,
  type TicketedWriteResult,
} from '../../io/tenant-store/index.js';
import type { WebhookFeatureSync } from './handler-types.js';

/** Retries of a write when another writer changed the config in between (no new Stripe read). */
const MAX_VERSION_RETRIES = 5;

export type CurrentWriteResult =
  | Exclude<TicketedWriteResult, { status: 'stale_version' }>
  /** `compute` found nothing to write. */
  | { status: 'nothing_to_write' }
  /** The config changed under every one of the retries. */
  | { status: 'kept_changing' };

/** What the webhook worker writes through: tickets, group commit, then the cache publish. */
export interface WebhookWrites {
  /**
   * Writes what `compute` makes of the tenant's state (`start`, as read before the Stripe read).
   * When another writer changed the config in between, re-reads it and computes again.
   */
  writeOnCurrent(
    tenantId: string,
    start: TenantFeatureState | null,
    compute: (state: TenantFeatureState | null) => TicketedWrite | null,
  ): Promise<CurrentWriteResult>;
  /** After commit only: a cache entry for a version that then rolled back would outlive the truth. */
  publish(state: TenantFeatureState): Promise<void>;
}

/** `sql`: what the write statements go through (the pg pool when there is one; Prisma re-reads a changed config). */
export function createWebhookWrites(
  prisma: PrismaClient,
  sql: RunSql,
  featureSync: WebhookFeatureSync,
): WebhookWrites {
  // Group commit for the ticketed writes: a write that finds two write statements running waits,
  // and the writes waiting when one finishes go out together (one per tenant per statement). An
  // idle pipeline writes at once, alone; a failed combined statement is retried write by write.
  const writes = createRequestBatcher<TicketedWrite, TicketedWriteResult>({
    run: (batch) => writeTicketedMany(sql, batch),
    runAlone: async (write) => (await writeTicketedMany(sql, [write]))[0]!,
    keyOf: (write) => write.tenantId,
    maxInFlight: 2,
    maxBatch: 64,
  });
  // The cache publishes after those writes, the same way: one setIfNewer round and one change
  // message for every state committed while the previous publish was under way.
  const publishes = createRequestBatcher<TenantFeatureState, void>({
    run: async (states) => {
      await featureSync.reader.publish(states);
      return states.map(() => undefined);
    },
    keyOf: (state) => state.tenantId,
    maxInFlight: 2,
    maxBatch: 64,
  });

  return {
    async writeOnCurrent(tenantId, start, compute) {
      let state = start;
      for (let tries = 0; ; tries += 1) {
        const write = compute(state);
        if (!write) return { status: 'nothing_to_write' };
        const result = await writes.request(write);
        if (result.status !== 'stale_version') return result;
        if (tries >= MAX_VERSION_RETRIES) return { status: 'kept_changing' };
        state = (await readTenantState(prisma, tenantId))?.state ?? null;
      }
    },
    publish: (state) => publishes.request(state),
  };
}
