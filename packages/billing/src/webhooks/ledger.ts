import type { PrismaClient } from '@packages/db';
import type { Tx } from '../tenant-store/index.js';
import type { VerifiedEvent } from './event.js';

export type LedgerStatus = 'processing' | 'processed' | 'ignored' | 'failed';

export type ClaimResult = { claimed: true } | { claimed: false; status: LedgerStatus; action: string | null };

/**
 * Claims an event id for this transaction. ON CONFLICT makes a concurrent delivery of the same id
 * wait on the primary key until the first transaction ends: if it committed, we see its row and
 * report a duplicate; if it rolled back, our insert goes through and we process the event
 * ourselves. `xmax = 0` tells a fresh insert from the conflict branch in the same round trip.
 * The conflict branch only counts the delivery (attempts), it changes nothing else.
 */
// The ISO string is cast to a zone-less timestamp, which keeps its UTC wall time: the same
// representation Prisma uses for DateTime columns, whatever the session TimeZone is.
export async function claimEvent(tx: Tx, event: VerifiedEvent): Promise<ClaimResult> {
  const rows = await tx.$queryRaw<{ inserted: boolean; status: LedgerStatus; action: string | null }[]>`
    INSERT INTO processed_stripe_events (event_id, type, status, stripe_created_at, attempts)
    VALUES (${event.id}, ${event.type}, 'processing'::"EventStatus", ${event.created.toISOString()}::timestamp(3), 1)
    ON CONFLICT (event_id) DO UPDATE SET attempts = processed_stripe_events.attempts + 1
    RETURNING (xmax = 0) AS inserted, status::text AS status, action`;
  const row = rows[0];
  if (!row) throw new Error(`claiming event ${event.id} returned no row`);
  return row.inserted ? { claimed: true } : { claimed: false, status: row.status, action: row.action };
}

export async function finishEvent(
  tx: Tx,
  eventId: string,
  result: { status: 'processed' | 'ignored'; action: string; tenantId: string | null; error?: string | null },
): Promise<void> {
  await tx.processedStripeEvent.update({
    where: { eventId },
    data: {
      status: result.status,
      action: result.action,
      tenantId: result.tenantId,
      error: result.error ?? null,
      processedAt: new Date(),
    },
  });
}

export interface UnmatchedEvent {
  eventId: string;
  type: string;
  /** The Stripe customer no tenant matched, when the event named one. */
  customerId: string | null;
  stripeCreatedAt: Date;
  receivedAt: Date;
  attempts: number;
}

export const UNKNOWN_TENANT = 'unknown_tenant';
const CUSTOMER_IN_REASON = /customer (\S+)/;

/**
 * Events acknowledged without a tenant, newest first. Linking the customer to a tenant afterwards
 * and running a sync (syncAllTenantsFromStripe) catches the tenant up; replaying the events is not
 * needed because the webhook path only ever applies Stripe's current state anyway.
 */
export async function listUnmatchedEvents(
  prisma: PrismaClient,
  options: { limit?: number } = {},
): Promise<UnmatchedEvent[]> {
  const rows = await prisma.processedStripeEvent.findMany({
    where: { action: UNKNOWN_TENANT },
    orderBy: [{ receivedAt: 'desc' }, { eventId: 'asc' }],
    take: options.limit ?? 100,
  });
  return rows.map((row) => ({
    eventId: row.eventId,
    type: row.type,
    customerId: row.error?.match(CUSTOMER_IN_REASON)?.[1] ?? null,
    stripeCreatedAt: row.stripeCreatedAt,
    receivedAt: row.receivedAt,
    attempts: row.attempts,
  }));
}
