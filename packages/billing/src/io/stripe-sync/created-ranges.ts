import type Stripe from 'stripe';
import type { StripeCall } from './client.js';

/** A half-open `created` interval: `gte` ≤ created < `lt`; a missing bound is open. */
export interface CreatedRange {
  gte?: number;
  lt?: number;
}

export interface RangePageParams {
  limit: number;
  starting_after?: string;
  created?: CreatedRange;
}

export interface CreatedRangeWalkOptions<T = unknown> {
  /** Pages in flight at once, at most (1: one plain cursor walk). Every page still goes through `call`. */
  concurrency: number;
  /**
   * Pages read before the walk splits. Each range ends on a partial page, so a split costs up to
   * one request; a list this short is read as one cursor walk, at exactly its page count.
   */
  pagesBeforeSplit?: number;
  /** Pages a range peeled off the open-ended tail is sized to hold, from the density seen so far. */
  pagesPerRange?: number;
  /**
   * Hands each page to this as it arrives instead of keeping it (the walk then returns nothing):
   * pages come in no particular order. A walk asks for its next page before it hands a page on, and
   * waits for the promise before asking for the one after, so the consumer's work overlaps the
   * next request while a slow consumer still holds the walk back (at most two pages per walk held,
   * one handed on and one arrived) instead of letting pages pile up in memory.
   */
  onPage?: (items: T[]) => Promise<void>;
}

interface Segment<T> {
  range: CreatedRange;
  cursor?: string;
  items: T[];
}

const PAGE = 100;

/**
 * Reads a whole newest-first Stripe list (every object with an immutable `created`) with up to
 * `concurrency` pages in flight. A cursor list has one next page at a time, so the concurrency
 * comes from splitting the `created` axis: a walk that still has more after a page keeps the newer
 * part of what is left (same cursor, a raised `created[gte]`) and hands the older part
 * (`created[lt]`) to a new walk. `created` never changes, so the ranges are disjoint and together
 * cover exactly what one walk would see, and their pages joined in range order are the same list in
 * the same order. A bounded range is halved; the open-ended oldest range gives away slices sized
 * from the objects per second seen on the page, one per free walk, and the open-ended rest. Filtering by status or price instead would let an
 * object that changes mid-walk fall between two lists.
 */
export async function listByCreatedRanges<T extends { id: string; created: number }>(
  call: StripeCall,
  label: string,
  page: (params: RangePageParams) => Promise<Stripe.ApiList<T>>,
  options: CreatedRangeWalkOptions<T>,
): Promise<T[]> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const pagesBeforeSplit = Math.max(1, options.pagesBeforeSplit ?? 3);
  const pagesPerRange = Math.max(1, options.pagesPerRange ?? 4);
  const segments: Segment<T>[] = [{ range: {}, items: [] }];
  let open = 1;
  let pagesRead = 0;
  let failure: { error: unknown } | undefined;

  /**
   * Gives away the older part of what `segment` has left after `data`, as at most `room` new ranges
   * (newest first); none when that would likely cost a request for nothing.
   */
  function split(segment: Segment<T>, data: T[], room: number): Segment<T>[] {
    const newest = data[0]!.created;
    const oldest = data.at(-1)!.created;
    const perSecond = data.length / Math.max(1, newest - oldest);
    const { gte } = segment.range;
    if (gte === undefined) {
      // Open-ended: keep a slice sized from the density seen, give away slices of the same size
      // (so every free walk starts at once) and the open-ended rest.
      const width = Math.max(1, Math.ceil((pagesPerRange * PAGE) / perSecond));
      const bounds: number[] = [];
      for (let b = oldest - width; b > 0 && bounds.length < room; b -= width) bounds.push(b);
      if (bounds.length === 0) return [];
      segment.range = { ...segment.range, gte: bounds[0]! };
      return bounds.map((lt, i) => ({
        range: i + 1 < bounds.length ? { gte: bounds[i + 1]!, lt } : { lt },
        items: [],
      }));
    }
    // What is left lies in [gte, oldest]: halve it when that is two seconds at least and likely more than a page.
    if (oldest - gte < 1 || perSecond * (oldest - gte) < PAGE) return [];
    const boundary = gte + Math.ceil((oldest - gte) / 2);
    segment.range = { ...segment.range, gte: boundary };
    return [{ range: { gte, lt: boundary }, items: [] }];
  }

  const fetchPage = (segment: Segment<T>) => {
    const { range, cursor } = segment;
    const params: RangePageParams = {
      limit: PAGE,
      ...(cursor ? { starting_after: cursor } : {}),
      ...(range.gte !== undefined || range.lt !== undefined ? { created: { ...range } } : {}),
    };
    const next = call(label, () => page(params));
    // Awaited below, maybe only after `onPage`: a failure meanwhile is not an unhandled rejection.
    next.catch(() => {});
    return next;
  };

  async function walk(segment: Segment<T>): Promise<void> {
    let next = fetchPage(segment);
    for (;;) {
      const list = await next;
      pagesRead += 1;
      const last = list.data.at(-1);
      const more = list.has_more && last !== undefined && !failure;
      if (more) {
        segment.cursor = last.id;
        if (pagesRead >= pagesBeforeSplit && open < concurrency) {
          const older = split(segment, list.data, concurrency - open);
          // Right after their parent: every object in them is older than the parent's, newer than the next range's.
          segments.splice(segments.indexOf(segment) + 1, 0, ...older);
          open += older.length;
          for (const range of older) start(range);
        }
        // The next page is asked for before this one is handed on, so the consumer's work on it
        // overlaps the request's latency instead of adding to it.
        next = fetchPage(segment);
      }
      if (options.onPage) await options.onPage(list.data);
      else segment.items.push(...list.data);
      if (!more) {
        open -= 1;
        return;
      }
    }
  }

  const walks: Promise<void>[] = [];
  const start = (segment: Segment<T>) =>
    walks.push(
      walk(segment).catch((error: unknown) => {
        failure ??= { error };
      }),
    );
  start(segments[0]!);
  // Walks started while earlier ones run are appended, so this loop waits for every one of them.
  for (let i = 0; i < walks.length; i += 1) await walks[i];
  if (failure) throw failure.error;
  return segments.flatMap((s) => s.items);
}
