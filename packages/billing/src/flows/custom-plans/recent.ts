import type { PrismaClient } from '@packages/db';

/** A tenant's latest custom plans as the console lists them (the ledger, ledger.ts, writes them). */

export interface CustomPlanRow {
  id: string;
  planName: string;
  status: string;
  priceCents: number;
  currency: string;
  interval: string;
  stripePriceId: string | null;
  checkoutUrl: string | null;
  checkoutExpiresAt: Date | null;
  error: string | null;
  createdAt: Date;
}

export async function customPlansOf(prisma: PrismaClient, tenantId: string): Promise<CustomPlanRow[]> {
  return prisma.customPlan.findMany({
    where: { tenantId },
    orderBy: { createdAt: 'desc' },
    take: 20,
    select: {
      id: true,
      planName: true,
      status: true,
      priceCents: true,
      currency: true,
      interval: true,
      stripePriceId: true,
      checkoutUrl: true,
      checkoutExpiresAt: true,
      error: true,
      createdAt: true,
    },
  });
}
