import type { PrismaClient } from '@packages/db';
import type { WebhookResult } from './accept.js';
import type { EventOutcome } from './claim-context.js';
import type { ProcessedQueue } from './claim-runner.js';
import type { VerifiedEvent } from './event.js';
import { claimQueue, readLedgerRow, type ClaimedQueue, type RunSql } from './inbox.js';
import { UNKNOWN_TENANT } from './ledger.js';

function resultOf(e: EventOutcome): WebhookResult {
  return {
    received: true,
    eventId: e.eventId,
    type: e.type,
    action: e.action,
    status: e.status,
    tenantId: e.tenantId,
  };
}

/**
 * Processes the stored event's customer queue right here (the same coalesced path a worker takes:
 * one Stripe read outside any transaction, one write) and answers what became of the event. If
 * another request or a worker holds that customer's queue, waits for it (bounded by two leases) and
 * reports the event's row. A failed try throws (Stripe redelivers; the event stays in the inbox).
 */
export async function settleHere(
  options: {
    prisma: PrismaClient;
    sql: RunSql;
    run: (claim: ClaimedQueue) => Promise<ProcessedQueue>;
    leaseMs: number;
    sleep: (ms: number) => Promise<void>;
  },
  event: VerifiedEvent,
  queueKey: string,
): Promise<WebhookResult> {
  const { prisma, leaseMs } = options;
  const deadline = Date.now() + leaseMs * 2;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const claim = await claimQueue(options.sql, { queueKey, leaseMs });
    if (claim) {
      const outcome = await options.run(claim);
      if (outcome.kind === 'failed' && outcome.eventIds.includes(event.id)) throw new Error(outcome.error);
      if (outcome.kind === 'done') {
        const mine = outcome.events.find((e) => e.eventId === event.id);
        if (mine) return resultOf(mine);
      }
      continue;
    }
    const row = await readLedgerRow(prisma, event.id);
    if (row && (row.status === 'processed' || row.status === 'ignored')) {
      const unknown = row.action === UNKNOWN_TENANT || row.action === 'customer_mismatch';
      return {
        received: true,
        eventId: event.id,
        type: event.type,
        action: row.action ?? row.status,
        status: unknown ? 'unknown_tenant' : row.status,
        tenantId: row.tenantId,
      };
    }
    // Tried by someone else meanwhile and failed: Stripe's redelivery (or a worker) tries again.
    if (row?.status === 'failed' || (row?.status === 'pending' && row.lastError !== null))
      throw new Error(row.lastError ?? `event ${event.id} failed`);
    if (Date.now() > deadline) throw new Error(`event ${event.id} is still waiting for its customer's queue`);
    await options.sleep(wait);
  }
}
