import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { paginate } from '../src/list.js';
import type { Params } from '../src/params.js';
import { Table, type Obj } from '../src/store.js';

/**
 * Lists walk an ordered store from the position a cursor or a `created` bound gives, over the whole
 * table or one index group. Checked against the plain definition: every live row newest first,
 * filtered, then cut at the cursor, whatever inserts and deletes came before.
 */
type Op =
  | { kind: 'insert'; customer: string; tick: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'status'; pick: number; status: string }
  | {
      kind: 'list';
      customer?: string;
      cursor?: 'after' | 'before';
      pick: number;
      limit: number;
      range: number[];
      status?: string;
    };

/** The subscriptions route's status filter: no status = not ended, `all`, `ended`, or one status. */
const STATUSES = ['active', 'past_due', 'canceled', 'incomplete_expired'];
const ENDED = ['canceled', 'incomplete_expired'];
const statusMatches = (wanted: string | undefined, s: string) =>
  wanted === 'all' ||
  (wanted === 'ended' ? ENDED.includes(s) : wanted === undefined ? !ENDED.includes(s) : s === wanted);

const customers = ['cus_a', 'cus_b', 'cus_c'];
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      customer: fc.constantFrom(...customers),
      tick: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      pick: fc.nat(),
      status: fc.constantFrom(...STATUSES),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        kind: fc.constant('list' as const),
        customer: fc.constantFrom(...customers),
        cursor: fc.constantFrom('after' as const, 'before' as const),
        pick: fc.nat(),
        limit: fc.integer({ min: 1, max: 7 }),
        range: fc.array(fc.integer({ min: -2, max: 40 }), { maxLength: 2 }),
        status: fc.constantFrom('all', 'ended', ...STATUSES),
      },
      { requiredKeys: ['kind', 'pick', 'limit', 'range'] },
    ),
  },
);

describe('emulator list paging over the ordered store', () => {
  it('every page equals the filter-then-cut definition, across inserts, deletes and status changes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300, size: 'max' }), (ops) => {
        let seq = 0;
        const table = new Table<Obj>(() => ++seq, { customer: (r) => r.customer });
        // The reference: ids oldest first, and every id ever inserted (cursors may name deleted ones).
        const live: Obj[] = [];
        const everInserted: string[] = [];
        let created = 1_000;
        for (const o of ops) {
          if (o.kind === 'insert') {
            created += o.tick;
            const row = { id: `obj_${everInserted.length}`, customer: o.customer, created, status: 'active' };
            table.insert(row);
            live.push(row);
            everInserted.push(row.id);
          } else if (o.kind === 'delete') {
            if (live.length === 0) continue;
            const [row] = live.splice(o.pick % live.length, 1);
            table.delete(row!.id);
          } else if (o.kind === 'status') {
            if (live.length === 0) continue;
            // As the routes change a stored subscription: in place, its position unchanged.
            table.get(live[o.pick % live.length]!.id)!.status = o.status;
          } else {
            if (everInserted.length === 0) continue;
            const params: Params = { limit: String(o.limit) };
            const cursorId = everInserted[o.pick % everInserted.length]!;
            if (o.cursor === 'after') params.starting_after = cursorId;
            if (o.cursor === 'before') params.ending_before = cursorId;
            const [a, b] = o.range.map((n) => 1_000 + n);
            if (a !== undefined)
              params.created = b === undefined ? { gte: String(a) } : { gt: String(a), lte: String(b) };
            const inRange = (c: number) => a === undefined || (b === undefined ? c >= a : c > a && c <= b);
            const opts = {
              url: '/v1/things',
              kind: 'thing',
              ...(o.customer ? { scope: table.scope('customer', o.customer) } : {}),
              filter: (row: Obj) => statusMatches(o.status, row.status as string),
            };
            const cursorIndex = live.findIndex((r) => r.id === cursorId);
            if (o.cursor && cursorIndex < 0) {
              expect(() => paginate(table, params, opts)).toThrow(/No such thing/);
              continue;
            }
            const newestFirst = live
              .map((row, i) => ({ row, i }))
              .filter(
                ({ row }) =>
                  (!o.customer || row.customer === o.customer) &&
                  inRange(row.created) &&
                  statusMatches(o.status, row.status),
              )
              .reverse();
            let expected: Obj[];
            let more: boolean;
            if (o.cursor === 'after') {
              const rest = newestFirst.filter(({ i }) => i < cursorIndex);
              expected = rest.slice(0, o.limit).map((x) => x.row);
              more = rest.length > o.limit;
            } else if (o.cursor === 'before') {
              const rest = newestFirst.filter(({ i }) => i > cursorIndex);
              expected = rest.slice(Math.max(0, rest.length - o.limit)).map((x) => x.row);
              more = rest.length > o.limit;
            } else {
              expected = newestFirst.slice(0, o.limit).map((x) => x.row);
              more = newestFirst.length > o.limit;
            }
            const page = paginate(table, params, opts);
            expect(page.data.map((r) => r.id)).toEqual(expected.map((r) => r.id));
            expect(page.has_more).toBe(more);
          }
        }
        expect(table.values().map((r) => r.id)).toEqual(live.map((r) => r.id).reverse());
        for (const c of customers) {
          expect(table.where('customer', c).map((r) => r.id)).toEqual(
            live
              .filter((r) => r.customer === c)
              .map((r) => r.id)
              .reverse(),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a page deep in a 200,000-row table visits the rows of the page, not the table', () => {
    let seq = 0;
    const table = new Table<Obj>(() => ++seq, { customer: (r) => r.customer });
    for (let i = 0; i < 200_000; i++) {
      table.insert({ id: `obj_${i}`, customer: `cus_${i % 50_000}`, created: 1_000 + Math.floor(i / 300) });
    }
    let visited = 0;
    const counting = (row: Obj) => {
      visited += 1;
      return row.id !== '';
    };
    const page = paginate(
      table,
      { limit: '100', starting_after: 'obj_100000', created: { gte: '1100', lt: '1400' } },
      { url: '/v1/things', kind: 'thing', filter: counting },
    );
    expect(page.data[0]!.id).toBe('obj_99999');
    expect(page.has_more).toBe(true);
    expect(visited).toBe(101);
    visited = 0;
    const one = paginate(
      table,
      { limit: '10' },
      { url: '/v1/things', kind: 'thing', filter: counting, scope: table.scope('customer', 'cus_7') },
    );
    expect(one.data.map((r) => r.id)).toEqual(['obj_150007', 'obj_100007', 'obj_50007', 'obj_7']);
    expect(visited).toBe(4);
  });
});
