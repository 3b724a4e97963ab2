import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntryList, type Entry, type Obj, type WalkBounds } from '../src/store.js';

/**
 * The ordered index under every table and index group, alone: a walk from any bounds, either way,
 * equals filtering the live entries of a plain array, whether `created` stays in order (bisected) or
 * not (scanned), across drops and the compaction that follows them.
 */
type Op =
  | { kind: 'add'; step: number; withoutCreated: boolean }
  | { kind: 'drop'; pick: number }
  | { kind: 'walk'; bounds: WalkBounds; newest: boolean };

// Each bound absent half the time; seqs and `created` values span what up to 300 adds produce.
const bound = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: undefined, freq: 2 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      // Mostly in order, sometimes the same second, rarely older than the last (a foreign row).
      step: fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 0, max: 2 }) },
        { weight: 1, arbitrary: fc.constant(-3) },
      ),
      withoutCreated: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('walk' as const),
      newest: fc.boolean(),
      bounds: fc.record({
        afterSeq: bound(220),
        beforeSeq: bound(220),
        minCreated: bound(200),
        maxCreated: bound(200),
      }),
    }),
  },
);

function naive(all: Entry<Obj>[], b: WalkBounds, newest: boolean): number[] {
  const out = all.filter((e) => {
    if (e.removed) return false;
    if (b.afterSeq !== undefined && e.seq <= b.afterSeq) return false;
    if (b.beforeSeq !== undefined && e.seq >= b.beforeSeq) return false;
    const c = e.row.created;
    if (typeof c !== 'number') return true;
    return (
      (b.minCreated === undefined || c >= b.minCreated) && (b.maxCreated === undefined || c <= b.maxCreated)
    );
  });
  const seqs = out.map((e) => e.seq);
  return newest ? seqs.reverse() : seqs;
}

const defined = (b: WalkBounds): WalkBounds =>
  Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined));

describe('EntryList (the ordered index)', () => {
  it('walks equal a filter of the live entries, ordered or not, across drops and compaction', () => {
    fc.assert(
      // Half the runs keep `created` in order (the emulator's clock: walks bisect), half do not (walks scan).
      fc.property(fc.array(op, { maxLength: 300, size: 'max' }), fc.boolean(), (ops, disorder) => {
        const list = new EntryList<Obj>();
        const all: Entry<Obj>[] = [];
        let created = 10;
        for (const o of ops) {
          if (o.kind === 'add') {
            created += disorder ? o.step : Math.max(0, o.step);
            const row = disorder && o.withoutCreated ? {} : { created };
            const entry: Entry<Obj> = { row, seq: all.length + 1 };
            list.add(entry);
            all.push(entry);
          } else if (o.kind === 'drop') {
            const live = all.filter((e) => !e.removed);
            if (live.length === 0) continue;
            live[o.pick % live.length]!.removed = true;
            list.drop();
          } else {
            const bounds = defined(o.bounds);
            const walked = [...(o.newest ? list.newestFirst(bounds) : list.oldestFirst(bounds))].map(
              (e) => e.seq,
            );
            expect(walked).toEqual(naive(all, bounds, o.newest));
          }
          expect(list.length).toBe(all.filter((e) => !e.removed).length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('after most of the list is dropped (compacted), walks keep order and bounds', () => {
    const list = new EntryList<Obj>();
    const entries: Entry<Obj>[] = Array.from({ length: 100 }, (_, i) => ({
      row: { created: i },
      seq: i + 1,
    }));
    for (const e of entries) list.add(e);
    for (const e of entries.slice(0, 60)) {
      e.removed = true;
      list.drop();
    }
    expect(list.length).toBe(40);
    expect([...list.newestFirst({ minCreated: 55 })].map((e) => e.seq)).toEqual(
      Array.from({ length: 40 }, (_, i) => 100 - i),
    );
    expect([...list.oldestFirst({ afterSeq: 95 })].map((e) => e.seq)).toEqual([96, 97, 98, 99, 100]);
  });
});
