import { z } from 'zod';

/**
 * The identifiers that enter through the edges (HTTP paths, query strings, bodies, CLI flags,
 * webhook payloads), checked once, here, before anything reaches the database or Stripe. A value
 * PostgreSQL or Stripe would refuse (a NUL byte, a 20-digit cursor) is a 400 naming the field,
 * never a 500 from deep inside a query.
 */

/** C0 controls and DEL: PostgreSQL text cannot hold NUL, and none belongs in an id or a log line. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused
const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;

/** Control characters text fields may not hold: every C0 and DEL, except tab and newline (and CR). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** True when `value` holds a control character: C0 or DEL, with tab, LF and CR allowed when `text`. */
export function hasControlCharacter(value: string, options: { text?: boolean } = {}): boolean {
  return options.text ? TEXT_CONTROL.test(value) : !PRINTABLE.test(value);
}

function printable(max: number, what: string) {
  return z
    .string()
    .min(1, `must be a ${what} (1-${max} characters)`)
    .max(max, `must be a ${what} (1-${max} characters)`)
    .regex(PRINTABLE, `must be a ${what} without control characters`);
}

/**
 * An existing tenant's id. New tenants get the stricter TENANT_ID_PATTERN (management); lookups
 * accept any printable id so tenants created earlier or through Stripe metadata stay reachable.
 */
export const tenantIdSchema = printable(255, 'tenant id');

/** Stripe object ids (cus_…, prod_…, price_…, sub_…, evt_…): a prefix and base62 characters. */
export const STRIPE_ID_PATTERN = /^[A-Za-z0-9_]{1,255}$/;
export const stripeIdSchema = z.string().regex(STRIPE_ID_PATTERN, 'must be a Stripe id');

/** A plan as callers name it: product id, price id or a price's lookup_key. */
export const planRefSchema = z
  .string()
  .trim()
  .pipe(printable(255, 'product id, price id or price lookup key'));

/** A plan tier name (product metadata `bundle`), as a list filter. */
export const bundleSchema = printable(255, 'bundle name');

/** Feature keys in paths; their format and whether they exist is the catalog's to say. */
export const featureKeyParamSchema = printable(200, 'feature key');

/** A page cursor that is a tenant id (the last id of the previous page). */
export const tenantCursorSchema = printable(255, 'cursor from nextCursor');

const MAX_BIGINT = 9_223_372_036_854_775_807n;
/** An audit-log cursor: the id (a positive bigint) of the last entry of the previous page. One issue at most. */
export const auditCursorSchema = z
  .string()
  .refine((v) => /^[1-9][0-9]{0,18}$/.test(v) && BigInt(v) <= MAX_BIGINT, {
    error: 'must be an audit entry id from nextCursor',
  });

/** For regex checks outside zod (CLI flags, webhook metadata hints). */
export function isTenantId(value: string): boolean {
  return tenantIdSchema.safeParse(value).success;
}
