import type { PrismaClient } from '@packages/db';
import { decideGraceEnforcement, gracePeriodMs } from '../../core/index.js';
import { messageOf } from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import {
  inTransaction,
  updateTenantFeatures,
  wroteVersion,
  type UpdateOutcome,
} from '../../io/tenant-store/index.js';

export interface EnforcePaymentGraceOptions {
  now?: Date;
  gracePeriodDays?: number;
}

export interface EnforcePaymentGraceResult {
  /** Tenants whose access this run switched off. */
  restricted: string[];
  /** Tenants whose transaction failed (left as they were; the next run retries them). */
  failed: Array<{ tenantId: string; error: string }>;
}

/**
 * The cron half of the payment-failure policy. Stripe only sends another invoice.payment_failed
 * when it retries, so a customer whose retries are days apart would keep access past the grace
 * period if we waited for the next event. Each tenant is re-checked under its row lock (a payment
 * that landed meanwhile wins) and written in its own transaction, so one bad row cannot block the rest.
 */
export async function enforcePaymentGrace(
  prisma: PrismaClient,
  featureSync: { reader: Pick<FeatureReader, 'publish'> },
  options: EnforcePaymentGraceOptions = {},
): Promise<EnforcePaymentGraceResult> {
  const now = options.now ?? new Date();
  const graceMs = gracePeriodMs(options.gracePeriodDays);
  const cutoff = new Date(now.getTime() - graceMs);
  const candidates = await prisma.tenantFeatureConfig.findMany({
    where: { accessActive: true, paymentFailedAt: { lte: cutoff } },
    select: { tenantId: true },
    orderBy: { tenantId: 'asc' },
  });
  const restricted: string[] = [];
  const failed: EnforcePaymentGraceResult['failed'] = [];
  for (const { tenantId } of candidates) {
    let outcome: UpdateOutcome;
    try {
      outcome = await inTransaction(prisma, (tx) =>
        updateTenantFeatures(tx, tenantId, (current) => decideGraceEnforcement(current, { now, graceMs }), {
          actor: 'payment-grace',
          source: 'sync',
        }),
      );
    } catch (error) {
      // The promise above ("one bad row cannot block the rest") needs this: an error used to end
      // the run, leaving every tenant after it in id order with access past its grace period.
      failed.push({ tenantId, error: messageOf(error) });
      continue;
    }
    if (wroteVersion(outcome)) await featureSync.reader.publish([outcome.after]);
    if (outcome.status === 'updated') restricted.push(tenantId);
  }
  return { restricted, failed };
}
