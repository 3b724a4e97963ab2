import type { OverLimitPolicy } from './types.js';

/** What follows usage above a lowered limit when the catalog says nothing. */
export const DEFAULT_OVER_LIMIT_POLICY: OverLimitPolicy = 'block_new';
const DAY_MS = 86_400_000;

/** The days of a `grace:<days>` policy, or null for the other policies. */
export function graceDaysOf(policy: string | undefined): number | null {
  const match = /^grace:([0-9]{1,3})$/.exec(policy ?? '');
  return match ? Number(match[1]) : null;
}

/** A limit check as the host sees it (`checkLimit`'s answer); the over-limit fields only while usage is above the limit. */
export interface LimitDecision {
  allowed: boolean;
  /** The tenant's limit; 0 when its plan does not grant the feature. */
  limit: number;
  /** `limit - used`, never below 0. */
  remaining: number;
  /** Usage is above the limit (a downgrade lowered it below what exists). */
  overLimit?: true;
  /** When usage was first seen above this limit. */
  since?: Date;
  /** The key's over-limit policy (from the catalog). */
  policy?: OverLimitPolicy;
  /** Under `grace:<days>`: new ones are allowed until then. */
  graceEndsAt?: Date;
}

/**
 * One more unit, `used` in use against `limit`: allowed while used < limit. Above the limit (used >
 * limit, only a lowered limit gets there) the policy decides: `block_new` refuses new ones (what
 * exists stays), `grace:<days>` allows them until `since` + days, `allow` always allows them.
 */
export function decideLimit(input: {
  limit: number | null;
  used: number;
  policy?: OverLimitPolicy;
  /** When usage was first seen above the limit; `now` when it is only now. */
  since?: Date | null;
  now: Date;
}): LimitDecision {
  const limit = input.limit ?? 0;
  const base = { allowed: input.used < limit, limit, remaining: Math.max(0, limit - input.used) };
  if (input.used <= limit) return base;
  const policy = input.policy ?? DEFAULT_OVER_LIMIT_POLICY;
  const since = input.since ?? input.now;
  const days = graceDaysOf(policy);
  const graceEndsAt = days === null ? null : new Date(since.getTime() + days * DAY_MS);
  const allowed = policy === 'allow' || (graceEndsAt !== null && input.now < graceEndsAt);
  return {
    ...base,
    allowed,
    overLimit: true,
    since,
    policy,
    ...(graceEndsAt ? { graceEndsAt } : {}),
  };
}
