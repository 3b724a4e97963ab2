import type { PrismaClient } from '@packages/db';

/**
 * Read models only the console needs (lists and counts for display). Every change the console
 * makes goes through the library's services; nothing here writes.
 */

export interface TenantCounts {
  tenants: number;
  configured: number;
  restricted: number;
  inPaymentGrace: number;
  customPlans: number;
  /** Configured tenants per bundle (`null` key: no bundle), largest first. */
  perPlan: Array<{ bundle: string | null; tenants: number }>;
}

export async function tenantCounts(prisma: PrismaClient): Promise<TenantCounts> {
  const [tenants, perPlan, restricted, inPaymentGrace, customPlans] = await Promise.all([
    prisma.tenant.count(),
    prisma.tenantFeatureConfig.groupBy({ by: ['bundle'], _count: { _all: true } }),
    prisma.tenantFeatureConfig.count({ where: { accessActive: false } }),
    prisma.tenantFeatureConfig.count({ where: { accessActive: true, paymentFailedAt: { not: null } } }),
    prisma.tenantFeatureConfig.count({ where: { source: 'custom' } }),
  ]);
  const plans = perPlan
    .map((p) => ({ bundle: p.bundle, tenants: p._count._all }))
    .sort((a, b) => b.tenants - a.tenants || String(a.bundle).localeCompare(String(b.bundle)));
  return {
    tenants,
    configured: plans.reduce((n, p) => n + p.tenants, 0),
    restricted,
    inPaymentGrace,
    customPlans,
    perPlan: plans,
  };
}

/** The bundles tenants are on, for the plan filter. */
export async function knownBundles(prisma: PrismaClient): Promise<string[]> {
  const rows = await prisma.tenantFeatureConfig.findMany({
    where: { bundle: { not: null } },
    distinct: ['bundle'],
    select: { bundle: true },
    orderBy: { bundle: 'asc' },
  });
  return rows.map((r) => r.bundle!).filter(Boolean);
}

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
