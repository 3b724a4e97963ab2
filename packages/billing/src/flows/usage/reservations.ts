import { randomUUID } from 'node:crypto';
import { ReservationExpiredError, ReservationNotFoundError, ValidationError } from '../../core/errors.js';
import type { SettleOptions, UsageService } from './service-types.js';
import { checkAmount, checkText } from './arguments.js';
import type { UsageApplier } from './apply.js';
import type { UsageLimits, UsageParts } from './limits.js';
import { reservationOwner } from './store.js';

/** Reservations: hold an amount (reserve), then use some of it (finalize) or give it back (release). */
export function reservationOperations(
  parts: UsageParts,
  limits: UsageLimits,
  applier: UsageApplier,
): Pick<UsageService, 'reserve' | 'finalize' | 'release'> {
  const { sql, metrics, now } = parts;
  const { limitOf, overLimitOf } = limits;
  const { apply, answer } = applier;

  /** finalize / release: the reservation's tenant and key first (its limit is the tenant's now). */
  async function settle(
    op: 'finalize' | 'release',
    reservationId: string,
    amount: number,
    o: SettleOptions = {},
  ) {
    checkText(reservationId, 'reservationId');
    const owner = await reservationOwner(sql, reservationId);
    if (!owner || (o.tenantId !== undefined && owner.tenantId !== o.tenantId))
      throw new ReservationNotFoundError(reservationId);
    const l = await limitOf(owner.tenantId, owner.key);
    const result = await apply(op, owner.tenantId, owner.key, l, { amount, reservationId });
    if (result.status === 'not_found') throw new ReservationNotFoundError(reservationId);
    if (result.status === 'expired') throw new ReservationExpiredError(reservationId);
    metrics.usageReservation?.(op);
    return answer(
      owner.tenantId,
      owner.key,
      l,
      result,
      await overLimitOf(owner.tenantId, owner.key, l, result.used),
    );
  }

  return {
    async reserve(tenantId, key, amount, o) {
      checkAmount(amount);
      if (typeof o?.ttlMs !== 'number' || !(o.ttlMs > 0))
        throw new ValidationError('ttlMs must be a number of milliseconds > 0', [
          { path: 'ttlMs', message: 'must be > 0' },
        ]);
      if (o.idempotencyKey !== undefined) checkText(o.idempotencyKey, 'idempotencyKey');
      const l = await limitOf(tenantId, key);
      const result = await apply('reserve', tenantId, key, l, {
        amount,
        idempotencyKey: o.idempotencyKey ?? null,
        reservationId: randomUUID(),
        expiresAt: new Date(now().getTime() + o.ttlMs),
      });
      metrics.usageReservation?.(result.reservationId ? 'reserved' : 'refused');
      const over = await overLimitOf(tenantId, key, l, result.used);
      return { ...answer(tenantId, key, l, result, over), id: result.reservationId };
    },

    finalize: (reservationId, actualAmount, o) =>
      settle('finalize', reservationId, checkAmount(actualAmount), o),
    release: (reservationId, o) => settle('release', reservationId, 0, o),
  };
}
