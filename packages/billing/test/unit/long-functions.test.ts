import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeFunction,
  functionsIn,
  LINE_LIMIT,
  longFunctions,
  SOURCE_ROOTS,
} from '../../../../scripts/long-functions.mjs';

/**
 * No function in the packages' src/ trees is longer than LINE_LIMIT lines (issue 25, "the house"):
 * a factory returning an object of closures counts as one function holding them, so a long one is
 * split into named groups of closures that take what they share as parameters.
 * `node scripts/long-functions.mjs` prints the same list.
 */
describe('function length', () => {
  it(`no function in ${SOURCE_ROOTS.join(', ')} is over ${LINE_LIMIT} lines`, () => {
    expect(longFunctions().map(describeFunction)).toEqual([]);
  });

  it('the checker measures declarations, arrow functions, methods and function expressions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'long-functions-'));
    try {
      const file = join(dir, 'sample.ts');
      const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join('\n');
      writeFileSync(
        file,
        [
          `export function declared() {\n${body(3)}\n}`, // 5 lines
          `const arrow = () => {\n${body(1)}\n};`, // 3 lines
          `class Holder {\n  method() {\n${body(2)}\n  }\n}`, // method: 4 lines
          `const expression = function () {\n  return () => 1;\n};`, // 3 lines, holding a 1-line arrow
          `call(async () => {\n${body(1)}\n});`, // 3 lines
        ].join('\n'),
      );
      expect(functionsIn(file).map((fn) => [fn.name, fn.line, fn.lines])).toEqual([
        ['declared', 1, 5],
        ['arrow', 6, 3],
        ['method', 10, 4],
        ['expression', 15, 3],
        ['(anonymous)', 16, 1],
        ['(callback of call)', 18, 3],
      ]);
      expect(longFunctions({ limit: 4, roots: [dir] }).map((fn) => fn.name)).toEqual(['declared']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
