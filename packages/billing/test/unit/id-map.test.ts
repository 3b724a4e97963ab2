import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createIdMap } from '../../src/io/id-map.js';

describe('createIdMap', () => {
  it('answers as a Map of the same ids would, through growth, long ids and ids beyond Latin-1', () => {
    const id = fc.oneof(
      { weight: 8, arbitrary: fc.stringMatching(/^cus_[A-Za-z0-9]{1,14}$/) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
      { weight: 1, arbitrary: fc.string({ minLength: 250, maxLength: 300 }) },
    );
    const value = fc.oneof(fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.double({ noNaN: true }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), id, value), { maxLength: 3000 }), (ops) => {
        const map = createIdMap(4);
        const model = new Map<string, number>();
        for (const [write, key, v] of ops) {
          if (write) {
            map.set(key, v);
            model.set(key, v);
          } else expect(map.get(key)).toBe(model.get(key));
        }
        expect(map.size).toBe(model.size);
        for (const [key, v] of model) expect(map.get(key)).toBe(v);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps 200,000 ids through its growth', () => {
    const map = createIdMap();
    for (let i = 0; i < 200_000; i += 1) map.set(`cus_${i.toString(36).padStart(14, '0')}`, i * 4 + 1);
    expect(map.size).toBe(200_000);
    expect(map.get(`cus_${(123_456).toString(36).padStart(14, '0')}`)).toBe(123_456 * 4 + 1);
    expect(map.get('cus_absent')).toBeUndefined();
  });
});
