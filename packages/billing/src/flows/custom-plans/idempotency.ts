import { createHash } from 'node:crypto';
import type { ParsedInput } from './input.js';

export function deriveKey(input: ParsedInput): string {
  // Everything that defines the plan, in a fixed order, so the same request always maps to the same key.
  const canonical = JSON.stringify([
    input.tenantId,
    input.basePlanId,
    input.priceCents,
    input.currency,
    input.recurringInterval,
    Object.entries(input.overrides).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    input.planName,
  ]);
  return `cp_${createHash('sha256').update(canonical).digest('hex').slice(0, 48)}`;
}

/** The caller's key, or one derived from the request. */
export function keyFor(input: ParsedInput): string {
  return input.idempotencyKey ?? deriveKey(input);
}

/** Row name of a failed attempt; frees the key for the next attempt. */
export function failedKey(key: string, rowId: string): string {
  return `${key}#failed:${rowId}`;
}

/** `key` for the first attempt, `key#<n>` for the n-th after `failedAttempts` failures. */
export function stripeKeyBase(key: string, failedAttempts: number): string {
  return failedAttempts === 0 ? key : `${key}#${failedAttempts + 1}`;
}
