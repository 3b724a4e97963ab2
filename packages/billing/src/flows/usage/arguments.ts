import { ValidationError } from '../../core/errors.js';

/** Checks of what callers pass the usage service: amounts and identifiers. */

export function checkAmount(amount: unknown, path = 'amount'): number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0)
    throw new ValidationError(`${path} must be a whole number ≥ 0`, [
      { path, message: 'must be a whole number ≥ 0' },
    ]);
  return amount;
}

export function checkText(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255)
    throw new ValidationError(`${path} must be a non-empty string of at most 255 characters`, [
      { path, message: 'must be a non-empty string of at most 255 characters' },
    ]);
  return value;
}
