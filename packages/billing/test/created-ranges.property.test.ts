import fc from 'fast-check';
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { listByCreatedRanges, type RangePageParams, type StripeCall } from '../src/io/stripe-sync/index.js';

interface Item {
  id: string;
  created: number;
}

/**
 * A Stripe list in memory with Stripe's semantics: newest first (insertion order breaks ties of
 * `created`), `created[gte|lt]` filters, a cursor that marks a position in the whole list, pages of
 * `limit` with has_more. Each page answers after a random number of ticks, so walks interleave.
 */
function fakeList(createdOldestFirst: number[], random: () => number) {
  const all: Item[] = createdOldestFirst.map((created, i) => ({ id: `obj_${i}`, created })).reverse();
  const position = new Map(all.map((item, i) => [item.id, i]));
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0, rangeStarts: 0 };
  async function page(params: RangePageParams): Promise<Stripe.ApiList<Item>> {
    stats.requests += 1;
    // A walk's first page (no cursor): the whole list's, or a range's the walk split off.
    if (params.starting_after === undefined) stats.rangeStarts += 1;
    // Now and then a turn of the event loop, so a walk that never ended could still be timed out.
    if (stats.requests % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    // Microtask ticks, not event-loop turns: pages still interleave, and timers that other test files
    // of the same worker left running (this suite shares processes) cannot stretch a walk of thousands
    // of ticks past the 30 s timeout (seen twice in full embedded runs; alone the file takes 0.5 s).
    for (let ticks = Math.floor(random() * 4); ticks > 0; ticks -= 1) await Promise.resolve();
    stats.inFlight -= 1;
    const from = params.starting_after === undefined ? 0 : position.get(params.starting_after)! + 1;
    const { gte, lt } = params.created ?? {};
    const matching = all
      .slice(from)
      .filter((o) => (gte === undefined || o.created >= gte) && (lt === undefined || o.created < lt));
    return {
      object: 'list',
      url: '/v1/things',
      has_more: matching.length > params.limit,
      data: matching.slice(0, params.limit),
    };
  }
  return { all, page, stats };
}

const passThrough: StripeCall = (_label, fn) => fn();

/** A repeatable stream of numbers in [0, 1): the same interleaving of pages on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

/**
 * Seconds between consecutive objects. Dense lists (bursts within one second, every second used)
 * put objects right at each split boundary; sparse ones have long quiet stretches between bursts.
 */
const step = (long: boolean) =>
  fc.oneof(
    { weight: 30, arbitrary: fc.constant(0) },
    { weight: 10, arbitrary: fc.constant(1) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 5 }) },
    { weight: long ? 1 : 0, arbitrary: fc.integer({ min: 100, max: 100_000 }) },
  );
const gaps = fc.oneof(
  ...[false, true].map((long) => fc.array(step(long), { minLength: 0, maxLength: 1500, size: 'max' })),
);

function createdFrom(steps: number[]): number[] {
  let t = 1_700_000_000;
  return steps.map((step) => (t += step));
}

describe('listByCreatedRanges', () => {
  it('returns exactly the list one cursor walk returns, in the same order, with at most `concurrency` pages in flight', async () => {
    await fc.assert(
      fc.asyncProperty(
        gaps,
        fc.integer({ min: 2, max: 8 }),
        fc.integer(),
        async (steps, concurrency, seed) => {
          const list = fakeList(createdFrom(steps), seeded(seed));
          const got = await listByCreatedRanges(passThrough, 'things.list', list.page, { concurrency });
          expect(got.map((o) => o.id)).toEqual(list.all.map((o) => o.id));
          expect(list.stats.maxInFlight).toBeLessThanOrEqual(concurrency);
          const pages = Math.max(1, Math.ceil(list.all.length / 100));
          // A list of ≤ 3 pages is one walk at its page count; splitting costs about one partial page per range.
          if (pages <= 3) expect(list.stats.requests).toBe(pages);
          // Each range ends on at most one partial (or empty) page: the split costs one request per
          // range at most. (A sparse list, quiet for days between bursts, can be split into many.)
          expect(list.stats.requests).toBeLessThanOrEqual(pages + list.stats.rangeStarts);
        },
      ),
      // No shrinking: each run is microtask-bound, and shrinking a 1,500-element counterexample ran
      // for ten minutes in a full suite (a failure prints its seed; rerun with it to shrink).
      { numRuns: 150, endOnFailure: true },
    );
  });

  it('reads a long list spread over time with every allowed page in flight, costing few extra requests', async () => {
    // 10,000 objects, ~700 per second as a fast import would create them.
    const created = createdFrom(Array.from({ length: 10_000 }, (_, i) => (i % 700 === 0 ? 1 : 0)));
    const list = fakeList(created, seeded(7));
    const got = await listByCreatedRanges(passThrough, 'things.list', list.page, { concurrency: 8 });
    expect(got.map((o) => o.id)).toEqual(list.all.map((o) => o.id));
    expect(list.stats.maxInFlight).toBe(8);
    expect(list.stats.requests).toBeLessThanOrEqual(100 + 16);
  });

  it("asks for a walk's next page before handing a page on, so the consumer's work overlaps the request", async () => {
    // 250 objects: three pages, one walk (a list this short is not split).
    const list = fakeList(createdFrom(Array.from({ length: 250 }, () => 0)), seeded(3));
    const askedWhenHanded: number[] = [];
    await listByCreatedRanges(passThrough, 'things.list', list.page, {
      concurrency: 1,
      onPage: async () => {
        askedWhenHanded.push(list.stats.requests);
      },
    });
    // Pages 1 and 2 were handed on with the next one asked for already; the last has none after it.
    expect(askedWhenHanded).toEqual([2, 3, 3]);
    expect(list.stats.requests).toBe(3);
  });

  it('rejects with the first failure and starts no page after it', async () => {
    const created = createdFrom(Array.from({ length: 2_000 }, (_, i) => (i % 50 === 0 ? 1 : 0)));
    const list = fakeList(created, seeded(11));
    let calls = 0;
    const failing: StripeCall = async (label, fn) => {
      calls += 1;
      if (calls === 8) throw new Error('stripe down');
      return fn();
    };
    await expect(listByCreatedRanges(failing, 'things.list', list.page, { concurrency: 4 })).rejects.toThrow(
      'stripe down',
    );
    const after = calls;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(after);
    expect(calls).toBeLessThan(20);
  });
});
