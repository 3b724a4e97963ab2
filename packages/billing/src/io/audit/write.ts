import type { Prisma } from '@packages/db';
import type { AuditSourceName } from '../../core/types.js';

/** One audit row, as every writer outside a batched statement records it. */
export interface AuditRow {
  tenantId: string;
  actor: string;
  source: AuditSourceName;
  action: string;
  before?: object | null;
  after?: object | null;
  stripeEventId?: string | null;
}

/**
 * Appends one row to the audit log inside the caller's transaction (the change it records commits with
 * it, or neither does). The batched writers (tenant-store's ticketed and batch writes, usage, over-limit)
 * insert theirs in the same statement as the change.
 */
export async function recordAudit(tx: Prisma.TransactionClient, row: AuditRow): Promise<void> {
  await tx.featureAuditLog.create({
    data: {
      tenantId: row.tenantId,
      actor: row.actor,
      source: row.source,
      action: row.action,
      before: row.before ? (row.before as Prisma.InputJsonValue) : undefined,
      after: row.after ? (row.after as Prisma.InputJsonValue) : undefined,
      stripeEventId: row.stripeEventId ?? null,
    },
  });
}
