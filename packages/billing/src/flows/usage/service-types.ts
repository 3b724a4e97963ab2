import type { CheckedKey, MeteredFeatureKey } from '../../io/feature-keys.js';
import type { OverLimitPolicy, AuditSourceName } from '../../core/types.js';
import type { LimitDecision, UsageOveragePolicy, UsageReset } from '../../core/index.js';

/** The usage service's interface, the shapes it answers in and the options its calls take (docs/usage.md). */

/**
 * Usage above the limit (a downgrade lowered it below what was used), as for `checkLimit`
 * (docs/metadata.md, "Over the limit after a downgrade"): present only while above.
 */
export interface OverLimitFields {
  /** Used beyond the limit: the key's over-limit policy decides whether more is allowed. */
  overLimit?: true;
  /** When usage was first seen above this limit. */
  since?: Date;
  /** The key's over-limit policy (catalog): `block_new`, `grace:<days>` or `allow`. */
  overLimitPolicy?: OverLimitPolicy;
  /** Under `grace:<days>`: further use is allowed until then. */
  graceEndsAt?: Date;
}

/** The answer of `track`, `check`, `reserve` and `finalize` (docs/usage.md). */
export interface UsageAnswer extends OverLimitFields {
  tenantId: string;
  key: string;
  /** track: the amount was consumed (`cap`: some of it); check: it would be. */
  allowed: boolean;
  /** What this call consumed (check: would consume; reserve: holds). */
  granted: number;
  /** Consumed in the current period. */
  used: number;
  /** Held by open reservations (counts against the limit). */
  reserved: number;
  /** The tenant's limit for the key; null when unlimited (`true`), 0 when not entitled. */
  limit: number | null;
  /** `limit - used - reserved`, never below 0; null when unlimited. */
  remaining: number | null;
  /** Consumed beyond the limit in the current period (overage `allow`). */
  overage: number;
  /** False when the tenant's plan does not grant the key (`false` or no value). */
  entitled: boolean;
  periodStart: Date | null;
  /** When the counter starts again (the period's end); null for `never`, or a billing period Stripe has not renewed yet. */
  resetsAt: Date | null;
  /** True when the idempotency key was seen before: the first call's answer, with current counters. */
  replayed: boolean;
}

export interface Reservation extends UsageAnswer {
  /** Null when nothing was reserved (refused). */
  id: string | null;
}

export interface UsageMeter extends Omit<OverLimitFields, 'overLimit'> {
  key: string;
  reset: UsageReset;
  policy: UsageOveragePolicy;
  used: number;
  reserved: number;
  limit: number | null;
  remaining: number | null;
  overage: number;
  entitled: boolean;
  /**
   * Used beyond the limit (e.g. after a downgrade): the key's over-limit policy decides whether
   * further use is allowed where the overage rule would refuse it (`since`, `overLimitPolicy`).
   */
  overLimit: boolean;
  periodStart: Date;
  periodEnd: Date | null;
}

export interface TenantUsage {
  tenantId: string;
  meters: UsageMeter[];
}

export interface TrackOptions {
  /** Counted once however often it is retried (also across processes and crashes). */
  idempotencyKey?: string;
  /** When the usage happened (picks the `month` / `day` period); default now. */
  at?: Date;
}

export interface SettleOptions {
  /** Only this tenant's reservation: another tenant's id is answered as not found (HTTP callers). */
  tenantId?: string;
}

export interface UsageAuditOptions {
  actor?: string;
  source?: AuditSourceName;
}

/** A committed change of a counter, for the alert outbox. */
export interface CountedUsage {
  tenantId: string;
  key: string;
  limit: number | null;
  usedBefore: number;
  usedAfter: number;
  periodStart: Date;
}

/** The over-limit fields of an answer, present only while usage is above the limit. */
export function overLimitFields(d: LimitDecision | null): OverLimitFields {
  if (!d?.overLimit) return {};
  return {
    overLimit: true,
    since: d.since,
    overLimitPolicy: d.policy,
    ...(d.graceEndsAt ? { graceEndsAt: d.graceEndsAt } : {}),
  };
}

/** Metered keys written as literals are checked against the generated declaration (typed keys). */
type Metered<K extends string> = CheckedKey<K, MeteredFeatureKey>;

export interface UsageService {
  track<K extends string>(
    tenantId: string,
    key: Metered<K>,
    amount?: number,
    options?: TrackOptions,
  ): Promise<UsageAnswer>;
  check<K extends string>(tenantId: string, key: Metered<K>, amount?: number): Promise<UsageAnswer>;
  reserve<K extends string>(
    tenantId: string,
    key: Metered<K>,
    amount: number,
    options: { ttlMs: number; idempotencyKey?: string },
  ): Promise<Reservation>;
  finalize(reservationId: string, actualAmount: number, options?: SettleOptions): Promise<UsageAnswer>;
  release(reservationId: string, options?: SettleOptions): Promise<UsageAnswer>;
  getUsage(tenantId: string): Promise<TenantUsage>;
  setUsage<K extends string>(
    tenantId: string,
    key: Metered<K>,
    used: number,
    options?: UsageAuditOptions,
  ): Promise<UsageMeter>;
  /** Sets `used` to 0 for one key, or every metered key of the catalog. */
  resetUsage(tenantId: string, key?: string, options?: UsageAuditOptions): Promise<TenantUsage>;
  /** Stops the expiry sweep. */
  close(): void;
}
