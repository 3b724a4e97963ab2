import type { Prisma, PrismaClient } from '@packages/db';
import { TenantNotFoundError } from '../../core/errors.js';
import type { AuditSourceName } from '../../core/types.js';

export const AUDIT_SOURCES = [
  'webhook',
  'sync',
  'cli',
  'admin',
  'custom_plan',
] as const satisfies readonly AuditSourceName[];

export interface AuditEntry {
  id: string;
  tenantId: string;
  actor: string;
  source: AuditSourceName;
  action: string;
  before: unknown;
  after: unknown;
  stripeEventId: string | null;
  createdAt: string;
}

export interface AuditQuery {
  /** One tenant's history; every tenant's when omitted. */
  tenantId?: string;
  source?: AuditSourceName;
  /** Exact actor, e.g. `admin:ops` or `webhook`. */
  actor?: string;
  /** Entries older than this id (the previous page's nextCursor). */
  before?: string;
  limit: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/**
 * Audit rows newest first, keyset-paginated by id (ids grow with insertion order), so a page
 * costs one indexed query however deep the history is.
 */
export async function listAuditEntries(prisma: PrismaClient, query: AuditQuery): Promise<AuditPage> {
  const where: Prisma.FeatureAuditLogWhereInput = {
    ...(query.tenantId !== undefined ? { tenantId: query.tenantId } : {}),
    ...(query.source !== undefined ? { source: query.source } : {}),
    ...(query.actor !== undefined ? { actor: query.actor } : {}),
    ...(query.before !== undefined ? { id: { lt: BigInt(query.before) } } : {}),
  };
  const rows = await prisma.featureAuditLog.findMany({
    where,
    orderBy: { id: 'desc' },
    // One extra row tells whether another page exists without a count query.
    take: query.limit + 1,
  });
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    entries: page.map((row) => ({
      id: row.id.toString(),
      tenantId: row.tenantId,
      actor: row.actor,
      source: row.source,
      action: row.action,
      before: row.before,
      after: row.after,
      stripeEventId: row.stripeEventId,
      createdAt: row.createdAt.toISOString(),
    })),
    nextCursor: rows.length > query.limit && last ? last.id.toString() : null,
  };
}

/**
 * One tenant's history, as listAuditEntries. An empty first page is told apart: a deleted tenant's
 * rows remain (its deletion is the last one), so only an id with neither a tenant nor an audit trail
 * is TenantNotFoundError.
 */
export async function listTenantAuditEntries(
  prisma: PrismaClient,
  tenantId: string,
  query: Omit<AuditQuery, 'tenantId'>,
): Promise<AuditPage> {
  const page = await listAuditEntries(prisma, { ...query, tenantId });
  if (page.entries.length === 0) {
    const [tenant, audited] = await Promise.all([
      prisma.tenant.findUnique({ where: { id: tenantId }, select: { id: true } }),
      prisma.featureAuditLog.findFirst({ where: { tenantId }, select: { id: true } }),
    ]);
    if (!tenant && !audited) throw new TenantNotFoundError(tenantId);
  }
  return page;
}
