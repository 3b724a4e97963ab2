import type { FastifyRequest } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import { hasControlCharacter } from '../../io/identifiers.js';

/**
 * The edge refuses control characters before a route sees them: a NUL byte is refused by
 * PostgreSQL text and jsonb (a 500 from deep inside a query), an ESC drives a terminal that later
 * prints the value. Path parameters and query values may hold none (C0 or DEL); body strings may
 * hold tab, newline and carriage return (descriptions and the console's feature lines are text),
 * nothing else; object keys none. One 400 `validation_error` naming the first field found.
 *
 * Bodies that are not parsed objects (the webhook's raw bytes, whose signature must be checked on
 * exactly what Stripe sent) are not walked: the webhook handler validates its own ids.
 */
export async function refuseControlCharacters(request: FastifyRequest): Promise<void> {
  // Issues name the field as the routes' own validation does (`tenantId`, `cursor`, `name`).
  const found =
    findControl(request.params, '', false) ??
    findControl(request.query, '', false) ??
    (typeof request.body === 'object' ? findControl(request.body, '', true) : null);
  if (found) {
    throw new ValidationError(`${found} must not contain control characters`, [
      { path: found, message: 'must not contain control characters (NUL, ESC and other C0 or DEL)' },
    ]);
  }
}

const MAX_DEPTH = 32;

function findControl(value: unknown, path: string, text: boolean, depth = 0): string | null {
  if (typeof value === 'string') return hasControlCharacter(value, { text }) ? path || 'value' : null;
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return null;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return null;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const hit = findControl(item, `${path}[${index}]`, text, depth + 1);
      if (hit) return hit;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    const name = hasControlCharacter(key) ? JSON.stringify(key) : key;
    const at = path === '' ? name : `${path}.${name}`;
    if (hasControlCharacter(key)) return at;
    const hit = findControl(item, at, text, depth + 1);
    if (hit) return hit;
  }
  return null;
}
