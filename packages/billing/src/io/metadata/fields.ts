import { MetadataError } from '../../core/errors.js';
import { MAX_SCRAPE_INTERVAL_HOURS, STRIPE_METADATA_LIMITS, type MetadataObjectType } from './types.js';

export interface FieldReader {
  /** Trimmed value, or null when the key is absent or blank. */
  read(field: string): string | null;
  fail(field: string, reason: string): never;
}

/**
 * Stripe cannot store an empty metadata value (setting "" deletes the key), so a blank value is
 * treated as absent rather than as an error. Values over Stripe's 500-char limit cannot have come
 * from Stripe and are rejected before any parsing work is done on them.
 */
export function createFieldReader(
  objectType: MetadataObjectType,
  objectId: unknown,
  metadata: unknown,
): FieldReader {
  const id = String(objectId);
  const fail = (field: string, reason: string): never => {
    throw new MetadataError(objectType, id, field, reason);
  };
  if (
    metadata !== null &&
    metadata !== undefined &&
    (typeof metadata !== 'object' || Array.isArray(metadata))
  ) {
    fail('metadata', `must be an object of string values, got ${describeValue(metadata)}`);
  }
  const record = (metadata ?? {}) as Record<string, unknown>;
  return {
    fail,
    read(field) {
      // hasOwn: an inherited property (or a hostile prototype) must never count as metadata.
      if (!Object.hasOwn(record, field)) return null;
      const raw = record[field];
      if (raw === undefined || raw === null) return null;
      if (typeof raw !== 'string') return fail(field, `must be a string, got ${describeValue(raw)}`);
      if (raw.length > STRIPE_METADATA_LIMITS.maxValueLength) {
        return fail(
          field,
          `is ${raw.length} characters long; Stripe metadata values are limited to ${STRIPE_METADATA_LIMITS.maxValueLength}`,
        );
      }
      const trimmed = raw.trim();
      return trimmed === '' ? null : trimmed;
    },
  };
}

export function parseBooleanFlag(raw: string, fail: (reason: string) => never): boolean {
  const lower = raw.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return fail(`must be "true" or "false", got ${quote(raw)}`);
}

/** Digits only: "1.5", "1e3", "+4", "0x10" are rejected instead of being coerced by Number(). */
export function parseScrapeInterval(raw: string, fail: (reason: string) => never): number {
  const n = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= MAX_SCRAPE_INTERVAL_HOURS)) {
    return fail(`must be a whole number of hours from 1 to ${MAX_SCRAPE_INTERVAL_HOURS}, got ${quote(raw)}`);
  }
  return n;
}

/** Short, escaped rendering for error messages; hostile input can be long or contain control chars. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object') return 'an object';
  return typeof value;
}
