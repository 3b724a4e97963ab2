import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The decisions and parsers the doc-bound unit tests run are pure: following their imports (types
 * aside) never reaches a package or a Node module, so they cannot read a database, Stripe, Redis
 * or the environment, and the tests beside this one need none of them.
 */
const src = fileURLToPath(new URL('../../src/', import.meta.url));
const PURE_ROOTS = [
  ...readdirSync(join(src, 'core')).map((f) => `core/${f}`),
  ...readdirSync(join(src, 'io/metadata')).map((f) => `io/metadata/${f}`),
  'io/plan-source/index.ts',
  ...readdirSync(join(src, 'flows/webhooks/events')).map((f) => `flows/webhooks/events/${f}`),
];

/** Every module `file` imports at run time, followed through relative imports. */
function runtimeImports(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const text = readFileSync(join(src, file), 'utf8');
  const specifiers = [...text.matchAll(/^(?:import|export) (?!type\b)[^;]*? from '([^']+)';/gms)].map(
    (m) => m[1]!,
  );
  seen.set(file, specifiers);
  for (const spec of specifiers.filter((s) => s.startsWith('.'))) {
    runtimeImports(relative(src, join(src, dirname(file), spec)).replace(/\.js$/, '.ts'), seen);
  }
  return seen;
}

describe('pure modules', () => {
  it.each(PURE_ROOTS)('%s imports no package and no Node module', (root) => {
    const outside = [...runtimeImports(root)].flatMap(([file, specs]) =>
      specs.filter((s) => !s.startsWith('.')).map((s) => `${file} → ${s}`),
    );
    expect(outside).toEqual([]);
  });
});
