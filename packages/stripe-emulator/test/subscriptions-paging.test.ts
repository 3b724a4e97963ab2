import fc from 'fast-check';
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { makePlan, useEmulator } from './support.js';

/**
 * `GET /v1/subscriptions` through the SDK, against the plain definition (every subscription newest
 * first, filtered by status, customer and `created`, then cut at the cursor), while subscriptions are
 * created, cancelled and moved between statuses and the clock moves: the filters that the ordered
 * index does not answer (status) stay right as rows change under it.
 */
const { emu, stripe } = await useEmulator({ resetEachTest: false });

type Status = 'active' | 'past_due' | 'unpaid' | 'paused' | 'canceled';
type Op =
  | { kind: 'create'; customer: number }
  | { kind: 'tick'; seconds: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'status'; pick: number; status: Status }
  | {
      kind: 'list';
      limit: number;
      status?: 'all' | 'ended' | Status;
      customer?: number;
      cursor?: 'after' | 'before';
      pick: number;
      since?: number;
    };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('create' as const), customer: fc.integer({ min: 0, max: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 2 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      pick: fc.nat(),
      status: fc.constantFrom<Status>('active', 'past_due', 'unpaid', 'paused', 'canceled'),
    }),
  },
  {
    weight: 3,
    // Each filter present in about half the pages, so most pages have rows to compare.
    arbitrary: fc.record({
      kind: fc.constant('list' as const),
      limit: fc.integer({ min: 1, max: 4 }),
      status: fc.option(
        fc.constantFrom('all' as const, 'ended' as const, 'active' as const, 'past_due' as const),
        {
          nil: undefined,
          freq: 3,
        },
      ),
      customer: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined, freq: 2 }),
      cursor: fc.option(fc.constantFrom('after' as const, 'before' as const), { nil: undefined, freq: 2 }),
      pick: fc.nat(),
      since: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 2 }),
    }),
  },
);

interface Model {
  id: string;
  customer: string;
  created: number;
  status: string;
}

const ENDED = ['canceled', 'incomplete_expired'];

describe('subscription pages through the SDK', () => {
  it('equal the filter-then-cut definition across creates, cancellations and status changes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40, size: 'max' }), async (ops) => {
        emu.reset();
        const { price } = await makePlan(stripe, 'Basic', 500);
        const customers = await Promise.all([0, 1, 2].map(() => stripe.customers.create()));
        const subs: Model[] = [];
        let start: number | undefined;
        for (const o of ops) {
          if (o.kind === 'create') {
            const sub = await stripe.subscriptions.create({
              customer: customers[o.customer]!.id,
              items: [{ price: price.id }],
            });
            start ??= sub.created;
            subs.push({
              id: sub.id,
              customer: sub.customer as string,
              created: sub.created,
              status: sub.status,
            });
          } else if (o.kind === 'tick') {
            emu.advanceClock(o.seconds);
          } else if (o.kind === 'cancel' || o.kind === 'status') {
            if (subs.length === 0) continue;
            const sub = subs[o.pick % subs.length]!;
            if (o.kind === 'status') {
              emu.setSubscriptionStatus(sub.id, o.status);
              sub.status = o.status;
            } else if (!ENDED.includes(sub.status)) {
              sub.status = (await stripe.subscriptions.cancel(sub.id)).status;
            }
          } else {
            if (subs.length === 0) continue;
            const cursor = subs[o.pick % subs.length]!;
            const customer = o.customer === undefined ? undefined : customers[o.customer]!.id;
            const since = o.since === undefined || start === undefined ? undefined : start + o.since;
            const params: Stripe.SubscriptionListParams = {
              limit: o.limit,
              ...(o.status ? { status: o.status } : {}),
              ...(customer ? { customer } : {}),
              ...(since === undefined ? {} : { created: { gte: since } }),
              ...(o.cursor === 'after' ? { starting_after: cursor.id } : {}),
              ...(o.cursor === 'before' ? { ending_before: cursor.id } : {}),
            };
            const matching = subs
              .map((s, i) => ({ s, i }))
              .filter(
                ({ s }) =>
                  (o.status === 'all' ||
                    (o.status === 'ended'
                      ? ENDED.includes(s.status)
                      : o.status === undefined
                        ? !ENDED.includes(s.status)
                        : s.status === o.status)) &&
                  (customer === undefined || s.customer === customer) &&
                  (since === undefined || s.created >= since),
              )
              .reverse();
            const at = subs.indexOf(cursor);
            let rest = matching;
            if (o.cursor === 'after') rest = matching.filter(({ i }) => i < at);
            if (o.cursor === 'before') rest = matching.filter(({ i }) => i > at);
            const expected =
              o.cursor === 'before' ? rest.slice(Math.max(0, rest.length - o.limit)) : rest.slice(0, o.limit);
            const page = await stripe.subscriptions.list(params);
            expect(page.data.map((s) => s.id)).toEqual(expected.map(({ s }) => s.id));
            expect(page.has_more).toBe(rest.length > o.limit);
          }
        }
        // The auto-paginating walk the sync makes sees every subscription once, newest first.
        const walked: string[] = [];
        for await (const s of stripe.subscriptions.list({ status: 'all', limit: 3 })) walked.push(s.id);
        expect(walked).toEqual(subs.map((s) => s.id).reverse());
      }),
      { numRuns: 40 },
    );
  });
});
