import type { PrismaClient } from '@packages/db';
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
    // The inbox's own column, written when the event was accepted (not parsed out of the reason).
    customerId: row.customerId,
    stripeCreatedAt: row.stripeCreatedAt,
    receivedAt: row.receivedAt,
    attempts: row.attempts,
  }));
}
