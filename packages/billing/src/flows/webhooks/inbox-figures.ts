import type { PrismaClient } from '@packages/db';

/** Counts over the webhook inbox for display (the console's overview); inboxStats serves /metrics. */

export interface WebhookFigures {
  byStatus: Record<string, number>;
  lastReceivedAt: Date | null;
  /** Received in the last 24 hours. */
  lastDay: number;
}

export async function webhookFigures(prisma: PrismaClient, now = new Date()): Promise<WebhookFigures> {
  const [byStatus, last, lastDay] = await Promise.all([
    prisma.processedStripeEvent.groupBy({ by: ['status'], _count: { _all: true } }),
    prisma.processedStripeEvent.findFirst({ orderBy: { receivedAt: 'desc' }, select: { receivedAt: true } }),
    prisma.processedStripeEvent.count({
      where: { receivedAt: { gte: new Date(now.getTime() - 86_400_000) } },
    }),
  ]);
  return {
    byStatus: Object.fromEntries(byStatus.map((s) => [s.status, s._count._all])),
    lastReceivedAt: last?.receivedAt ?? null,
    lastDay,
  };
}
