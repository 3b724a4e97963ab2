import { describe, expect, it } from 'vitest';
import { createFeatureCatalog, DEFAULT_FEATURE_CATALOG } from '../../src/io/catalog/feature-catalog.js';
import { EntitlementFeatureError } from '../../src/core/errors.js';
import { featuresFromEntitlements, type EntitlementFeatureLike } from '../../src/io/plan-source/index.js';
import type { FeatureCatalog } from '../../src/core/types.js';
import { codeSpans, documentedText, readDoc, tableAfter } from './doc-tables.js';

/**
 * docs/metadata.md's table of bad Stripe Features (EntitlementFeatureError), row by row, against
 * featuresFromEntitlements; the keys and values each row's reason quotes are the input, so the
 * doc and the code cannot drift apart.
 */
const doc = readDoc('metadata.md');
const section = doc.slice(doc.indexOf('Bad Features throw `EntitlementFeatureError`'));
const rows = tableAfter(section, section.split('\n')[0]!).map(([problem, reason]) => ({
  problem: problem!,
  reason: codeSpans(reason!)[0]!,
}));

/** The strings a documented reason quotes, in order: `"teleport"`, `"lots"`, ... */
const quoted = (reason: string) => [...reason.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);

const feature = (id: string, lookupKey: string, value?: string): EntitlementFeatureLike => ({
  id,
  lookup_key: lookupKey,
  active: true,
  metadata: value === undefined ? {} : { value },
});

const deprecatedCatalog = (key: string): FeatureCatalog =>
  createFeatureCatalog(
    [...DEFAULT_FEATURE_CATALOG.values()].map((def) =>
      def.key === key ? { ...def, deprecatedAt: new Date('2026-01-01') } : def,
    ),
  );

/** The attached Features (and catalog) each problem is made of; keys and values come from its reason. */
const cases: Record<
  string,
  (reason: string) => { features: EntitlementFeatureLike[]; catalog?: FeatureCatalog }
> = {
  'lookup_key is not a feature key': (reason) => ({ features: [feature('feat_1', quoted(reason)[0]!)] }),
  'key not in the catalog': (reason) => ({ features: [feature('feat_1', quoted(reason)[0]!)] }),
  'key deprecated in the catalog': (reason) => ({
    features: [feature('feat_1', quoted(reason)[0]!)],
    catalog: deprecatedCatalog(quoted(reason)[0]!),
  }),
  'number feature without `value`': () => ({ features: [feature('feat_1', 'max_users')] }),
  '`value` not a whole number in range': (reason) => ({
    features: [feature('feat_1', 'max_users', quoted(reason).at(-1))],
  }),
  '`value` on a boolean feature': () => ({ features: [feature('feat_1', 'sso', '5')] }),
  'two attached Features for one key': (reason) => {
    const [key, first] = [quoted(reason)[0]!, quoted(reason)[1]!];
    return {
      features: [feature('feat_a', first, '5'), feature('feat_b', `${key}#b`, '25')],
    };
  },
};
const caseOf = (problem: string) => Object.entries(cases).find(([start]) => problem.startsWith(start))?.[1];

function thrown(features: EntitlementFeatureLike[], catalog: FeatureCatalog): EntitlementFeatureError {
  try {
    featuresFromEntitlements('prod_doc', features, catalog);
  } catch (error) {
    expect(error).toBeInstanceOf(EntitlementFeatureError);
    return error as EntitlementFeatureError;
  }
  throw new Error(`${JSON.stringify(features)} granted features without an error`);
}

describe('docs/metadata.md: bad Stripe Features', () => {
  it('has a case for every documented problem and documents every case', () => {
    expect(rows.filter((row) => !caseOf(row.problem)).map((row) => row.problem)).toEqual([]);
    expect(Object.keys(cases).filter((start) => !rows.some((r) => r.problem.startsWith(start)))).toEqual([]);
  });

  it.each(rows)('$problem: EntitlementFeatureError with the documented reason', ({ problem, reason }) => {
    const { features, catalog = DEFAULT_FEATURE_CATALOG } = caseOf(problem)!(reason);
    const error = thrown(features, catalog);
    expect(error).toMatchObject({ code: 'invalid_entitlement_feature', productId: 'prod_doc' });
    expect(error.reason).toMatch(documentedText(reason));
  });

  it('the documented message names the Feature, its lookup_key and the product', () => {
    const example = /e\.g\. `(Invalid Stripe Feature [^`]*)`/s.exec(section)?.[1]?.replace(/\s*\n\s*/g, ' ');
    expect(example).toBeDefined();
    const error = thrown([feature('feat_doc', 'max_users')], DEFAULT_FEATURE_CATALOG);
    expect(error.message).toMatch(documentedText(example!));
  });
});
