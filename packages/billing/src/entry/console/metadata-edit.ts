import { createHash } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';

/**
 * A plan edit as the console takes it: the product's (or price's) whole metadata as `key=value`
 * lines, which the operator edits in place. What is sent to Stripe is only the difference, as
 * Stripe's update merges metadata: a changed or added key with its value, a removed key as "".
 */

export type Metadata = Record<string, string>;

/** The metadata as the lines the edit form shows, sorted by key. */
export function metadataLines(metadata: Metadata): string {
  return Object.keys(metadata)
    .sort()
    .map((key) => `${key}=${metadata[key]}`)
    .join('\n');
}

/** `key=value` lines (blank lines ignored; the value is everything after the first `=`) → metadata. */
export function parseMetadataLines(text: string, path = 'metadata'): Metadata {
  const out: Metadata = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (key === '')
      throw new ValidationError(`Line ${i + 1} of the metadata is not key=value`, [
        { path: `${path}[${i}]`, message: 'expected key=value' },
      ]);
    if (Object.hasOwn(out, key))
      throw new ValidationError(`Metadata key "${key}" is given twice`, [
        { path: `${path}.${key}`, message: 'given twice' },
      ]);
    out[key] = line.slice(eq + 1).trim();
  });
  return out;
}

/** What Stripe's update needs to turn `current` into `next`: changed and new keys, removed ones as "". */
export function metadataChanges(current: Metadata, next: Metadata): Metadata {
  const out: Metadata = {};
  for (const [key, value] of Object.entries(next)) {
    // An empty value removes a key: one the object does not have is no change.
    if (value === '' && !Object.hasOwn(current, key)) continue;
    if (current[key] !== value) out[key] = value;
  }
  for (const key of Object.keys(current)) if (!Object.hasOwn(next, key)) out[key] = '';
  return out;
}

/** Identifies the metadata a preview was made against, so a confirm can tell it changed since. */
export function metadataDigest(metadata: Metadata): string {
  const sorted = Object.keys(metadata)
    .sort()
    .map((key) => [key, metadata[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}
