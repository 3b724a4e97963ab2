import {
  DEFAULT_USAGE_THRESHOLDS,
  meterReportOf,
  remainingOf,
  type LimitDecision,
} from '../../core/index.js';
import { IdempotencyConflictError } from '../../core/errors.js';
import { overLimitFields, type UsageAnswer } from './service-types.js';
import type { Limit, UsageLimits, UsageParts } from './limits.js';
import type { ApplyRequest, ApplyResult } from './store.js';

/**
 * One counting operation (track, reserve, finalize, release) through the group commit, the counter
 * remembered for `check`, the change handed to `onCounted`, and the answer it makes.
 */
export type UsageApplier = ReturnType<typeof createUsageApplier>;

export function createUsageApplier(parts: UsageParts, limits: UsageLimits) {
  const { batcher, known, recordAlerts, onCounted } = parts;
  const { overLimitAllows } = limits;

  function answer(
    tenantId: string,
    key: string,
    l: Limit,
    r: ApplyResult,
    over: LimitDecision | null,
  ): UsageAnswer {
    return {
      tenantId,
      key,
      allowed: l.entitled && r.allowed,
      granted: r.granted,
      used: r.used,
      reserved: r.reserved,
      limit: l.limit,
      remaining: remainingOf(l.limit, r.used, r.reserved),
      overage: r.overage,
      entitled: l.entitled,
      periodStart: r.periodStart,
      resetsAt: r.periodEnd,
      replayed: r.status === 'duplicate',
      ...overLimitFields(over),
    };
  }

  function remember(tenantId: string, key: string, r: ApplyResult) {
    known.set(`${tenantId}\u0000${key}`, {
      used: r.used,
      reserved: r.reserved,
      overage: r.overage,
      start: r.periodStart,
      end: r.periodEnd,
    });
  }

  async function apply(
    op: ApplyRequest['op'],
    tenantId: string,
    key: string,
    l: Limit,
    fields: Partial<ApplyRequest> & { amount: number },
  ): Promise<ApplyResult> {
    const overAllowed = op !== 'release' && (await overLimitAllows(tenantId, key, l, fields.at ?? null));
    const result = await batcher.request({
      op,
      tenantId,
      key,
      reset: l.rules.reset,
      // Not entitled: nothing may be consumed, whatever the key's overage policy.
      policy: !l.entitled ? 'reject' : overAllowed ? 'allow' : l.rules.overage,
      limit: l.entitled ? l.limit : 0,
      at: null,
      idempotencyKey: null,
      reservationId: null,
      expiresAt: null,
      thresholds: recordAlerts && l.entitled ? (l.rules.thresholds ?? DEFAULT_USAGE_THRESHOLDS) : null,
      stripe: meterReportOf(l.rules),
      ...fields,
    });
    if (result.status === 'conflict') throw new IdempotencyConflictError(fields.idempotencyKey ?? '');
    remember(tenantId, key, result);
    if (result.status === 'ok' && result.granted > 0 && op !== 'reserve' && op !== 'release')
      onCounted?.({
        tenantId,
        key,
        limit: l.entitled ? l.limit : 0,
        usedBefore: result.used - result.granted,
        usedAfter: result.used,
        periodStart: result.periodStart!,
      });
    return result;
  }

  return { answer, apply };
}
