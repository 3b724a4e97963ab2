import type { PrismaClient } from '@packages/db';

/** Counts over the tenants and their feature configs, for display (the console's overview and filters). */

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

export interface PlanInUse {
  productId: string;
  priceId: string | null;
  bundle: string | null;
  tenants: number;
}

/** The products and prices tenants are on (from their configs), most tenants first. */
export async function plansInUse(prisma: PrismaClient): Promise<PlanInUse[]> {
  const rows = await prisma.tenantFeatureConfig.groupBy({
    by: ['stripeProductId', 'stripePriceId', 'bundle'],
    where: { stripeProductId: { not: null } },
    _count: { _all: true },
  });
  return rows
    .map((r) => ({
      productId: r.stripeProductId!,
      priceId: r.stripePriceId,
      bundle: r.bundle,
      tenants: r._count._all,
    }))
    .sort((a, b) => b.tenants - a.tenants || a.productId.localeCompare(b.productId));
}
