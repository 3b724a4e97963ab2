import type { Prisma, PrismaClient } from '@packages/db';

/**
 * Read models only the console needs (lists and counts for display). Every change the console
 * makes goes through the library's services; nothing here writes.
 */

export interface TenantListFilters {
  /** Substring of the id or name, or an exact Stripe customer id. */
  q?: string;
  /** A bundle (plan) name; `none` for tenants without one. */
  plan?: string;
  access?: 'active' | 'restricted' | 'unconfigured';
  custom?: boolean;
  /** Only these tenant ids (e.g. the drifting ones from a reconcile check). */
  ids?: readonly string[];
  /** The last id of the previous page. */
  after?: string;
  limit: number;
}

export interface TenantListRow {
  id: string;
  name: string;
  stripeCustomerId: string | null;
  bundle: string | null;
  source: string | null;
  accessActive: boolean | null;
  subscriptionStatus: string | null;
  updatedAt: Date;
}

export async function listTenantsPage(
  prisma: PrismaClient,
  filters: TenantListFilters,
): Promise<{ rows: TenantListRow[]; nextCursor: string | null }> {
  const and: Prisma.TenantWhereInput[] = [];
  const q = filters.q?.trim();
  if (q) {
    and.push({
      OR: [
        { id: { contains: q, mode: 'insensitive' } },
        { name: { contains: q, mode: 'insensitive' } },
        { stripeCustomerId: q },
      ],
    });
  }
  if (filters.plan !== undefined)
    and.push({ featureConfig: { is: { bundle: filters.plan === 'none' ? null : filters.plan } } });
  if (filters.access === 'unconfigured') and.push({ featureConfig: { is: null } });
  else if (filters.access !== undefined)
    and.push({ featureConfig: { is: { accessActive: filters.access === 'active' } } });
  if (filters.custom !== undefined)
    and.push(
      filters.custom
        ? { featureConfig: { is: { source: 'custom' } } }
        : { OR: [{ featureConfig: { is: null } }, { featureConfig: { isNot: { source: 'custom' } } }] },
    );
  if (filters.ids !== undefined) and.push({ id: { in: [...filters.ids] } });
  if (filters.after !== undefined) and.push({ id: { gt: filters.after } });
  const rows = await prisma.tenant.findMany({
    where: { AND: and },
    orderBy: { id: 'asc' },
    take: filters.limit + 1,
    select: {
      id: true,
      name: true,
      stripeCustomerId: true,
      updatedAt: true,
      featureConfig: {
        select: { bundle: true, source: true, accessActive: true, subscriptionStatus: true, updatedAt: true },
      },
    },
  });
  const page = rows.slice(0, filters.limit);
  return {
    rows: page.map((row) => ({
      id: row.id,
      name: row.name,
      stripeCustomerId: row.stripeCustomerId,
      bundle: row.featureConfig?.bundle ?? null,
      source: row.featureConfig?.source ?? null,
      accessActive: row.featureConfig?.accessActive ?? null,
      subscriptionStatus: row.featureConfig?.subscriptionStatus ?? null,
      updatedAt: row.featureConfig?.updatedAt ?? row.updatedAt,
    })),
    nextCursor: rows.length > filters.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

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

export interface LedgerEventRow {
  eventId: string;
  type: string;
  status: string;
  action: string | null;
  tenantId: string | null;
  error: string | null;
  attempts: number;
  stripeCreatedAt: Date;
  receivedAt: Date;
  processedAt: Date | null;
}

/** Ledger rows newest first, optionally of one status. */
export async function listLedgerEvents(
  prisma: PrismaClient,
  options: { status?: 'processing' | 'processed' | 'ignored' | 'failed'; limit: number },
): Promise<LedgerEventRow[]> {
  return prisma.processedStripeEvent.findMany({
    where: options.status ? { status: options.status } : {},
    orderBy: [{ receivedAt: 'desc' }, { eventId: 'asc' }],
    take: options.limit,
  });
}
