import { invalidRequest, noSuchReference } from './errors.js';
import { int, str, type Params } from './params.js';
import type { Entry, Obj, Table } from './store.js';

export interface ListObject<T = Obj> {
  object: 'list';
  url: string;
  has_more: boolean;
  data: T[];
}

export function listOf<T>(url: string, data: T[], hasMore = false): ListObject<T> {
  return { object: 'list', url, has_more: hasMore, data };
}

/** `created=123` or `created[gte]=...` style range filter, accepted by most Stripe lists. */
export function createdFilter(params: Params, key = 'created'): (created: number) => boolean {
  const v = params[key];
  if (v === undefined || v === '') return () => true;
  if (typeof v === 'string') {
    const exact = int(params, key);
    return (c) => c === exact;
  }
  if (typeof v !== 'object' || v === null) throw invalidRequest('Invalid hash', key);
  const range = v as Params;
  const bound = (op: string) => int(range, op, `${key}[${op}]`);
  const gt = bound('gt');
  const gte = bound('gte');
  const lt = bound('lt');
  const lte = bound('lte');
  return (c) =>
    (gt === undefined || c > gt) &&
    (gte === undefined || c >= gte) &&
    (lt === undefined || c < lt) &&
    (lte === undefined || c <= lte);
}

export function parseLimit(params: Params): number {
  const limit = int(params, 'limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidRequest(
      `Invalid limit: must be an integer between 1 and 100 (it currently is ${limit}).`,
      'limit',
    );
  }
  return limit;
}

/**
 * Cursor pagination over a newest-first table. Cursors are resolved against the
 * whole table (not the filtered view) so a cursor object that no longer matches
 * the filter still marks a valid position, as in Stripe.
 */
export function paginate<T extends Obj>(
  table: Table<T>,
  params: Params,
  opts: { url: string; kind: string; filter?: (row: T) => boolean; render?: (row: T) => Obj },
): ListObject {
  const limit = parseLimit(params);
  const startingAfter = str(params, 'starting_after') || undefined;
  const endingBefore = str(params, 'ending_before') || undefined;
  if (startingAfter && endingBefore) {
    throw invalidRequest(
      'You may only specify one of these parameters: ending_before, starting_after.',
      'ending_before',
    );
  }
  const inRange = createdFilter(params);
  const filter = opts.filter ?? (() => true);
  let entries: Entry<T>[] = table
    .entries()
    .filter((e) => filter(e.row) && (e.row.created === undefined || inRange(e.row.created)));

  let page: Entry<T>[];
  let hasMore: boolean;
  if (startingAfter) {
    const cursor = table.entry(startingAfter);
    if (!cursor) throw noSuchReference(opts.kind, startingAfter, 'starting_after');
    entries = entries.filter((e) => e.seq < cursor.seq);
    page = entries.slice(0, limit);
    hasMore = entries.length > limit;
  } else if (endingBefore) {
    const cursor = table.entry(endingBefore);
    if (!cursor) throw noSuchReference(opts.kind, endingBefore, 'ending_before');
    // The page is the `limit` objects immediately newer than the cursor, still newest-first.
    entries = entries.filter((e) => e.seq > cursor.seq);
    page = entries.slice(Math.max(0, entries.length - limit));
    hasMore = entries.length > limit;
  } else {
    page = entries.slice(0, limit);
    hasMore = entries.length > limit;
  }
  const render = opts.render ?? ((row: T) => structuredClone(row));
  return listOf(
    opts.url,
    page.map((e) => render(e.row)),
    hasMore,
  );
}
