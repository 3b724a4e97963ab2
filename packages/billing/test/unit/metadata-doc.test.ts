import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../../src/io/catalog/feature-catalog.js';
import { MetadataError } from '../../src/core/errors.js';
import {
  parsePriceMetadata,
  parseProductMetadata,
  resolvePlanDefaults,
} from '../../src/io/metadata/index.js';
import {
  PLAN_SOURCES,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type PlanSource,
} from '../../src/io/plan-source/index.js';
import type { FeatureCatalog, FeatureMap } from '../../src/core/types.js';
import { codeSpans, documentedText, readDoc, tableAfter } from './doc-tables.js';

/**
 * docs/metadata.md's tables, row by row, against the pure parsers: the errors table, what an
 * absent or blank key reads as, the precedence example and the plan sources. The rows are read
 * from the markdown, so the doc and the code cannot drift apart.
 */
const doc = readDoc('metadata.md');

/** Metadata of a Stripe object; tests also pass what Stripe could not hold (a number), as hostile input. */
type Metadata = Record<string, unknown>;

/** What the parser of `object`'s metadata reads. */
function parse(
  object: 'product' | 'price',
  metadata: Metadata,
  catalog: FeatureCatalog | undefined,
): Record<string, unknown> {
  const stripeObject = { id: `${object}_doc`, metadata: metadata as Record<string, string> };
  return object === 'product'
    ? { ...parseProductMetadata(stripeObject, catalog) }
    : { ...parsePriceMetadata(stripeObject, catalog) };
}

/** Parses `metadata` as the named object's and returns the MetadataError it throws. */
function metadataError(
  object: 'product' | 'price',
  metadata: Metadata,
  catalog: FeatureCatalog | undefined,
): MetadataError {
  try {
    parse(object, metadata, catalog);
  } catch (error) {
    expect(error).toBeInstanceOf(MetadataError);
    return error as MetadataError;
  }
  throw new Error(`${object} metadata ${JSON.stringify(metadata)} parsed without an error`);
}

describe('docs/metadata.md "Errors"', () => {
  const rows = tableAfter(doc, '### Errors').map(([problem, examples, reasons]) => ({
    problem: problem!,
    examples: codeSpans(examples!),
    reasons: codeSpans(reasons!),
  }));

  /** JSON values as a feature's value in product `featuresJson`. */
  const asLimit = (value: string) => ({ featuresJson: `{"max_users":${value}}` });

  /**
   * How each problem's examples reach a parser, and where the error must point. A row of the doc
   * without an entry here fails, as does an entry the doc lost.
   */
  const cases: Record<
    string,
    (row: { examples: string[]; problem: string }) => {
      field: string;
      inputs: { object: 'product' | 'price'; metadata: Metadata; catalog?: FeatureCatalog }[];
    }
  > = {
    'Malformed JSON': ({ examples }) => ({
      field: 'featuresJson',
      inputs: examples.map((e) => ({ object: 'product', metadata: { featuresJson: e } })),
    }),
    'JSON that is not an object': ({ examples }) => ({
      field: 'features',
      inputs: examples.map((e) => ({ object: 'price', metadata: { features: e } })),
    }),
    'Unknown feature key': ({ examples, problem }) => ({
      field: 'featuresJson',
      inputs: [
        ...examples,
        // The keys the problem names, and a known key in the wrong case.
        ...codeSpans(problem).map((key) => `{"${key}":true}`),
        '{"SSO":true}',
      ].map((e) => ({ object: 'product', metadata: { featuresJson: e } })),
    }),
    'Malformed feature key': ({ examples }) => ({
      field: 'featuresJson',
      inputs: examples.map((key) => ({
        object: 'product',
        metadata: { featuresJson: `{"${key}":true}` },
        catalog: undefined,
      })),
    }),
    'Wrong value type': ({ examples }) => ({
      field: 'featuresJson',
      inputs: examples.map((e) => ({ object: 'product', metadata: { featuresJson: e } })),
    }),
    'Bad number': ({ examples }) => ({
      field: 'featuresJson',
      inputs: [
        ...examples.map((e) => (e.startsWith('> ') ? String(Number(e.slice(2)) + 1) : e)),
        // "nested objects/arrays"
        '{"a":1}',
        '[1]',
      ].map((e) => ({ object: 'product', metadata: asLimit(e) })),
    }),
    'Number feature in the `features` list': ({ examples }) => ({
      field: 'features',
      inputs: examples.map((e) => ({ object: 'product', metadata: { features: `api_access, ${e}` } })),
    }),
    'Bad interval': ({ examples }) => ({
      field: 'scrapeIntervalHours',
      inputs: examples.map((e) => ({ object: 'product', metadata: { scrapeIntervalHours: e } })),
    }),
    'Bad flag': ({ examples }) => ({
      field: 'custom',
      inputs: examples.flatMap((e) => [
        { object: 'product', metadata: { custom: e } },
        { object: 'price', metadata: { custom: e } },
      ]),
    }),
    'Value over 500 characters / non-string value': () => ({
      field: 'bundle',
      inputs: [
        { object: 'product', metadata: { bundle: 'x'.repeat(501) } },
        { object: 'product', metadata: { bundle: 42 } },
      ],
    }),
  };
  const caseOf = (problem: string) => Object.entries(cases).find(([start]) => problem.startsWith(start))?.[1];

  it('has a case for every documented problem and documents every case', () => {
    expect(rows.filter((row) => !caseOf(row.problem)).map((row) => row.problem)).toEqual([]);
    expect(Object.keys(cases).filter((start) => !rows.some((r) => r.problem.startsWith(start)))).toEqual([]);
  });

  it.each(rows)('$problem: each example throws MetadataError with the documented reason', (row) => {
    const { field, inputs } = caseOf(row.problem)!(row);
    expect(inputs.length).toBeGreaterThan(0);
    const reasons = row.reasons.map(documentedText);
    inputs.forEach((input, i) => {
      const error = metadataError(
        input.object,
        input.metadata,
        'catalog' in input ? input.catalog : DEFAULT_FEATURE_CATALOG,
      );
      expect(error).toMatchObject({ code: 'invalid_metadata', objectType: input.object, field });
      // The documented reason is the first example's; a row with two reasons shows one per kind.
      if (i === 0) expect(error.reason).toMatch(reasons[0]!);
      if (reasons.length > 1 && i === inputs.length - 1) expect(error.reason).toMatch(reasons.at(-1)!);
    });
  });
});

/** "Absent / blank" of the product and price tables → the value the parser reads. */
const ABSENT: Record<string, unknown> = {
  '`null`': null,
  'no features': {},
  none: {},
  '`false`': false,
  '`null` (product decides)': null,
};

describe.each([
  { heading: '### Product metadata', object: 'product' as const },
  { heading: '### Price metadata', object: 'price' as const },
])('docs/metadata.md "$heading": absent or blank keys', ({ heading, object }) => {
  const rows = tableAfter(doc, heading).map(([keys, , , absent]) => ({ keys: codeSpans(keys!), absent }));
  const read = (metadata: Metadata) => parse(object, metadata, DEFAULT_FEATURE_CATALOG);
  /** The parsed field a metadata key feeds (the product's two feature keys both feed `features`). */
  const fieldOf = (key: string) => (key === 'featuresJson' ? 'features' : key);

  it.each(rows)('$keys: $absent', ({ keys, absent }) => {
    for (const key of keys) {
      const results = [read({}), read({ [key]: '   ' })];
      if (absent === '–') {
        // Not read by the parser: the key leaves no trace in what it returns.
        for (const result of results) expect(Object.keys(result)).not.toContain(key);
        continue;
      }
      expect(Object.keys(ABSENT)).toContain(absent);
      for (const result of results) expect(result[fieldOf(key)]).toEqual(ABSENT[absent!]);
    }
  });
});

describe('docs/metadata.md "Precedence": the example', () => {
  const match =
    /Example: product `features: "([^"]*)"`, `featuresJson: ([^`]*)`; price\s+`features: ([^`]*)` → `([^`]*)`/.exec(
      doc,
    );

  it('resolves to the documented features', () => {
    expect(match).not.toBeNull();
    const [, features, featuresJson, priceFeatures, result] = match!;
    const plan = resolvePlanDefaults(
      { id: 'prod_doc', metadata: { features: features!, featuresJson: featuresJson! } },
      { id: 'price_doc', metadata: { features: priceFeatures! } },
      DEFAULT_FEATURE_CATALOG,
    );
    const expected = JSON.parse(result!.replace(/([A-Za-z_][\w.]*)\s*:/g, '"$1":')) as FeatureMap;
    expect(plan.features).toEqual(expected);
  });
});

describe('docs/metadata.md "Plan sources"', () => {
  const rows = tableAfter(doc, '### Plan sources: metadata, Stripe Features, or both').map(
    ([source, reads]) => ({
      source: codeSpans(source!)[0] as PlanSource,
      reads: reads!,
    }),
  );
  // One key each source sets differently, so the result shows which source won.
  const product = { features: 'sso', featuresJson: '{"max_users":1,"max_projects":1}' };
  const attached: FeatureMap = { max_users: 2, api_rate_limit: 2 };
  const price = { features: '{"max_projects":3}' };
  const granted = {
    metadata: { sso: true, max_users: 1, max_projects: 1 },
    entitlements: attached,
    price: { max_projects: 3 },
  };
  /** The sources a row names, in the order it names them. */
  const layersOf = (reads: string) =>
    (
      [
        ['metadata', /product (`features`|metadata)/],
        ['entitlements', /attached Stripe Features/],
        ['price', /price `features`/],
      ] as const
    )
      .map(([layer, pattern]) => ({ layer, at: reads.search(pattern) }))
      .filter(({ at }) => at !== -1)
      .sort((a, b) => a.at - b.at)
      .map(({ layer }) => layer);

  it('documents every plan source once', () => {
    expect(rows.map((r) => r.source).sort()).toEqual([...PLAN_SOURCES].sort());
  });

  it.each(rows)('$source: the sources it names, later ones winning per key', ({ source, reads }) => {
    const layers = layersOf(reads);
    expect(layers.at(-1)).toBe('price');
    const expected = Object.assign({}, ...layers.map((layer) => granted[layer])) as FeatureMap;
    const plan = resolvePlanDefaults(
      { id: 'prod_doc', metadata: product },
      { id: 'price_doc', metadata: price },
      DEFAULT_FEATURE_CATALOG,
      {
        metadata: readsMetadataFeatures(source),
        entitlements: readsEntitlementFeatures(source) ? attached : null,
      },
    );
    expect(plan.features).toEqual(expected);
  });

  it("entitlements: the product's features / featuresJson are not read (not even parsed)", () => {
    const row = rows.find((r) => r.source === 'entitlements')!;
    expect(row.reads).toContain('not even parsed');
    const broken = { id: 'prod_doc', metadata: { features: 'max_users', featuresJson: '{"sso":' } };
    expect(() =>
      resolvePlanDefaults(broken, null, DEFAULT_FEATURE_CATALOG, { metadata: false }),
    ).not.toThrow();
    expect(() => resolvePlanDefaults(broken, null, DEFAULT_FEATURE_CATALOG)).toThrow(MetadataError);
  });
});
