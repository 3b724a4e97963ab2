import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mergePlanIntoTenant } from '../../src/core/index.js';
import type { FeatureMap } from '../../src/core/types.js';

/**
 * docs/metadata.md's "Merge strategies" table, row by row: its example through mergePlanIntoTenant,
 * and each row's documented result. The rows are read from the markdown, so the doc and the code
 * cannot drift apart.
 */
const doc = readFileSync(new URL('../../docs/metadata.md', import.meta.url), 'utf8');

/** `{ api_access: true, max_users: 50 }` as written in the doc → a feature map. */
const literal = (text: string): FeatureMap =>
  JSON.parse(text.replace(/`/g, '').replace(/([A-Za-z_][\w.]*)\s*:/g, '"$1":')) as FeatureMap;

const section = doc.slice(doc.indexOf('### Merge strategies'));
const example =
  /Example: current `features (\{[^}]*\})`, `overrides\s+(\{[^}]*\})`; new plan `(\{[^}]*\})`/.exec(section);
const rows = section
  .split('\n')
  .filter((line) => /^\| `(merge|replace|preserve)`/.test(line))
  .map((line) => {
    const cells = line.split('|').map((c) => c.trim());
    return {
      strategy: /`(\w+)`/.exec(cells[1]!)![1] as 'merge' | 'replace' | 'preserve',
      features: literal(cells[3]!),
      overrides: cells[4] as 'kept' | 'cleared',
    };
  });

describe('docs/metadata.md merge strategies', () => {
  it('documents an example and one row per strategy', () => {
    expect(example).not.toBeNull();
    expect(rows.map((r) => r.strategy).sort()).toEqual(['merge', 'preserve', 'replace']);
  });

  const [, features, overrides, plan] = example ?? [];
  const current = { features: literal(features!), planFeatures: {}, overrides: literal(overrides!) };

  it.each(rows)('$strategy: the documented features and overrides', (row) => {
    const result = mergePlanIntoTenant({ current, plan: literal(plan!), strategy: row.strategy });
    expect(result.features).toEqual(row.features);
    expect(result.overrides).toEqual(row.overrides === 'kept' ? current.overrides : {});
    // In every strategy planFeatures becomes the new plan.
    expect(result.planFeatures).toEqual(literal(plan!));
  });
});
