import { ValidationError } from '../../core/errors.js';
import type { LimitCheck } from '../../io/feature-keys.js';
import type { FeatureMap } from '../../core/types.js';

/** Pure reading rules over a tenant's effective feature map, shared by every way of asking. */

/** On when true, or a number above zero (a limit of 0 grants nothing). Absent keys are off. */
export function featureOn(features: FeatureMap, key: string): boolean {
  if (!Object.hasOwn(features, key)) return false;
  const value = features[key];
  return value === true || (typeof value === 'number' && value > 0);
}

/** A numeric feature's value; null when absent. A boolean value is a caller's mistake: it says so. */
export function limitOf(features: FeatureMap, key: string): number | null {
  if (!Object.hasOwn(features, key)) return null;
  const value = features[key];
  if (typeof value === 'number') return value;
  throw new ValidationError(
    `Feature "${key}" is a boolean feature, not a limit; use isFeatureEnabled for it`,
    [{ path: 'key', message: 'not a numeric feature' }],
  );
}

/** `used` units in use against `limit`: one more is allowed while used < limit. */
export function compareToLimit(limit: number | null, used: number): LimitCheck {
  if (!Number.isFinite(used) || used < 0) {
    throw new ValidationError(`checkLimit: used must be a finite number >= 0, got ${used}`, [
      { path: 'used', message: 'must be a finite number >= 0' },
    ]);
  }
  const max = limit ?? 0;
  return { allowed: used < max, limit: max, remaining: Math.max(0, max - used) };
}
