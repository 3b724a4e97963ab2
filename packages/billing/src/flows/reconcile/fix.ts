import { expectedPatch, sameValue, type TenantFeaturePatch } from '../../core/index.js';
import { BillingError } from '../../core/errors.js';
import {
  inTransaction,
  raiseReadTicket,
  readForTicketedWrite,
  updateTenantFeatures,
  wroteVersion,
  type UpdateOutcome,
} from '../../io/tenant-store/index.js';
import type { Candidate, ReconcileRun } from './run.js';

/**
 * Corrects one drifting tenant through the one write path (an audit row). Stripe is read before any
 * transaction opens and with no lock held; order safety comes from the moment the read began: a
 * tenant written at or after it holds a picture at least as new as ours (a webhook, the grace
 * cron), and is left alone rather than overwritten. The read is of the customer whole, so a drift
 * judged on half a picture (subscriptions on a page the walk had not reached) is fixed right.
 */
export async function fixOne(
  run: ReconcileRun,
  c: Candidate,
): Promise<'applied' | 'already_in_sync' | 'skipped'> {
  // One round trip: the tenant and a read ticket, taken before the read (see raiseReadTicket below).
  const { tenant, ticket } = await readForTicketedWrite(run.deps.prisma, c.tenantId);
  if (!tenant)
    throw new BillingError('tenant_not_found', `Tenant "${c.tenantId}" was deleted during the reconcile`);
  const customerId = tenant.stripeCustomerId ?? (c.link ? c.customerId : null);
  if (!customerId) return 'skipped';
  const observedAt = new Date();
  const truth = await run.readTruth(customerId);
  const outcome: UpdateOutcome = await inTransaction(run.deps.prisma, async (tx) => {
    if (c.link && tenant.stripeCustomerId === null) {
      await tx.tenant.updateMany({
        where: { id: c.tenantId, stripeCustomerId: null },
        data: { stripeCustomerId: customerId },
      });
    }
    const result = await updateTenantFeatures(
      tx,
      c.tenantId,
      (current, row) => {
        // Re-pointed to another customer since we looked: what we read is about someone else.
        if (row.stripeCustomerId !== null && row.stripeCustomerId !== customerId)
          return { skip: 'customer_mismatch' };
        const decided = expectedPatch(current, truth, run.factsFor(c.tenantId));
        if ('skip' in decided) return decided;
        if (current?.updatedAt && current.updatedAt.getTime() >= observedAt.getTime()) {
          const wouldChange = (Object.keys(decided.patch) as (keyof TenantFeaturePatch)[]).some(
            (key) => !sameValue(current[key], decided.patch[key]),
          );
          return wouldChange ? { skip: 'stale_read' } : { skip: 'already_in_sync' };
        }
        return { patch: decided.patch, action: 'reconcile' };
      },
      { actor: run.actor, source: 'sync' },
    );
    // A webhook whose Stripe read began before ours must not overwrite this fix afterwards.
    if (wroteVersion(result)) await raiseReadTicket(tx, c.tenantId, ticket);
    return result;
  });
  if (outcome.status === 'tenant_not_found')
    throw new BillingError('tenant_not_found', `Tenant "${c.tenantId}" was deleted during the reconcile`);
  if (outcome.status === 'skipped')
    return outcome.reason === 'no_config' || outcome.reason === 'already_in_sync'
      ? 'already_in_sync'
      : 'skipped';
  // After commit only, as every writer does: a version that rolled back must never reach the cache.
  if (wroteVersion(outcome)) await run.deps.featureSync.reader.publish([outcome.after]);
  return outcome.status === 'updated' ? 'applied' : 'already_in_sync';
}
