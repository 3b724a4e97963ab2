import { invalidRequest, noSuchReference } from './errors.js';
import { int, str, type Params } from './params.js';
import type { Entry, EntryList, Obj, Table, WalkBounds } from './store.js';

export interface ListObject<T = Obj> {
  object: 'list';
  url: string;
  has_more: boolean;
  data: T[];
}

export function listOf<T>(url: string, data: T[], hasMore = false): ListObject<T> {
  return { object: 'list', url, has_more: hasMore, data };
}

/** Responses built from fresh copies only, which the server may expand and send without copying again. */
const owned = new WeakSet<object>();

/** True for a response no stored object shares a part with (see paginate). */
export function isFreshResponse(body: unknown): boolean {
  return typeof body === 'object' && body !== null && owned.has(body);
}

/**
 * `created=123` or `created[gte]=...` style range filter, accepted by most Stripe lists, as inclusive
 * bounds (`gt` / `lt` become `gte + 1` / `lte - 1`: created is whole seconds).
 */
export function createdBounds(params: Params, key = 'created'): { minCreated?: number; maxCreated?: number } {
  const v = params[key];
  if (v === undefined || v === '') return {};
  if (typeof v === 'string') {
    const exact = int(params, key);
    return { minCreated: exact, maxCreated: exact };
  }
  if (typeof v !== 'object' || v === null) throw invalidRequest('Invalid hash', key);
  const range = v as Params;
  const bound = (op: string) => int(range, op, `${key}[${op}]`);
  const gt = bound('gt');
  const gte = bound('gte');
  const lt = bound('lt');
  const lte = bound('lte');
  const mins = [gte, gt === undefined ? undefined : gt + 1].filter((n) => n !== undefined);
  const maxes = [lte, lt === undefined ? undefined : lt - 1].filter((n) => n !== undefined);
  return {
    ...(mins.length ? { minCreated: Math.max(...mins) } : {}),
    ...(maxes.length ? { maxCreated: Math.min(...maxes) } : {}),
  };
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
 * the filter still marks a valid position, as in Stripe. The walk starts where the
 * cursor or the `created` range puts it and stops once it has one row past the page,
 * over the whole table or over `scope` (an index group, e.g. one customer's rows),
 * so a page costs the rows it visits, not the table's size. `render` must answer a structure that
 * shares nothing with the store (every render here copies): the page is sent without another copy.
 */
export function paginate<T extends Obj>(
  table: Table<T>,
  params: Params,
  opts: {
    url: string;
    kind: string;
    filter?: (row: T) => boolean;
    render?: (row: T) => Obj;
    scope?: EntryList<T>;
  },
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
  const bounds: WalkBounds = createdBounds(params);
  const filter = opts.filter ?? (() => true);
  const list = opts.scope ?? table.scope();
  const take = (walk: Iterable<Entry<T>>): T[] => {
    const out: T[] = [];
    for (const e of walk) {
      if (!filter(e.row)) continue;
      out.push(e.row);
      if (out.length > limit) break;
    }
    return out;
  };

  let rows: T[];
  if (endingBefore) {
    const cursor = table.entry(endingBefore);
    if (!cursor) throw noSuchReference(opts.kind, endingBefore, 'ending_before');
    // The page is the `limit` objects immediately newer than the cursor, still newest-first.
    rows = take(list.oldestFirst({ ...bounds, afterSeq: cursor.seq }));
  } else {
    if (startingAfter) {
      const cursor = table.entry(startingAfter);
      if (!cursor) throw noSuchReference(opts.kind, startingAfter, 'starting_after');
      bounds.beforeSeq = cursor.seq;
    }
    rows = take(list.newestFirst(bounds));
  }
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit);
  if (endingBefore) page.reverse();
  const render = opts.render ?? ((row: T) => structuredClone(row));
  const answer = listOf(opts.url, page.map(render), hasMore);
  owned.add(answer);
  return answer;
}
