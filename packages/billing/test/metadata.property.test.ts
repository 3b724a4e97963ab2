import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG } from '../src/io/catalog/index.js';
import { featuresEqual, mergePlanIntoTenant } from '../src/core/index.js';
import { MetadataError, UnknownFeatureError, ValidationError } from '../src/core/errors.js';
import {
  MAX_FEATURE_NUMBER,
  buildPriceMetadata,
  buildProductMetadata,
  parsePriceMetadata,
  parseProductMetadata,
  resolvePlanDefaults,
  validateFeatureMap,
} from '../src/io/metadata/index.js';
import type { FeatureMap } from '../src/core/types.js';

const catalog = DEFAULT_FEATURE_CATALOG;
const catalogKeys = [...catalog.keys()];
const EXPECTED_ERRORS = [MetadataError, UnknownFeatureError, ValidationError];
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'polluted',
];
const FIELDS = ['bundle', 'features', 'featuresJson', 'scrapeIntervalHours', 'custom', 'tenantId'];

/** A value for one catalog key, of the right type. */
const featureValueFor = (key: string) =>
  catalog.get(key)?.type === 'boolean' ? fc.boolean() : fc.integer({ min: 0, max: MAX_FEATURE_NUMBER });

const validFeatureMap: fc.Arbitrary<FeatureMap> = fc
  .subarray(catalogKeys)
  .chain((keys) => fc.tuple(...keys.map((k) => featureValueFor(k).map((v) => [k, v] as const))))
  .map((entries): FeatureMap => Object.fromEntries(entries));

const anyFeatureMap: fc.Arbitrary<FeatureMap> = fc.dictionary(
  fc.constantFrom(...catalogKeys, 'a', 'b', 'c'),
  fc.oneof(fc.boolean(), fc.nat(1000)),
);

const hostileKey = fc.oneof(
  fc.constantFrom(...catalogKeys, ...HOSTILE_KEYS, ...FIELDS),
  fc.string({ maxLength: 20 }),
);
const jsonish = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 3 })).map((o) => JSON.stringify(o)),
  fc
    .dictionary(hostileKey, fc.oneof(fc.boolean(), fc.integer(), fc.double(), fc.constant(null)))
    .map((o) => JSON.stringify(o)),
  fc.constantFrom(
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '[[[[[[]]]]]]',
    '{',
  ),
);
const metadataValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  validFeatureMap.map((m) => JSON.stringify(m)),
  fc.subarray(catalogKeys).map((keys) => keys.join(', ')),
  jsonish,
  fc
    .array(fc.oneof(fc.constantFrom(...catalogKeys, ...HOSTILE_KEYS), fc.string({ maxLength: 8 })), {
      maxLength: 6,
    })
    .map((a) => a.join(',')),
  fc.oneof(fc.integer(), fc.double()).map(String),
  fc.constantFrom('true', 'FALSE', 'yes', '', ' ', '24', '0', '-1', '1.5', '8761'),
  fc.string({ minLength: 490, maxLength: 520 }),
);
const rawHostileMetadata = fc.dictionary(
  fc.oneof(fc.constantFrom(...FIELDS, ...HOSTILE_KEYS), fc.string({ maxLength: 12 })),
  metadataValue,
  {
    maxKeys: 8,
  },
);
/** Valid metadata with hostile keys mixed in, so parses succeed often enough to check their output. */
const nearValidMetadata = fc
  .tuple(
    fc.record(
      {
        features: fc
          .subarray(catalogKeys.filter((k) => catalog.get(k)?.type === 'boolean'))
          .map((keys) => keys.join(',')),
        featuresJson: validFeatureMap.map((m) => JSON.stringify(m)),
        scrapeIntervalHours: fc.integer({ min: 1, max: 8760 }).map(String),
        custom: fc.constantFrom('true', 'false', 'TRUE'),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.constantFrom(...HOSTILE_KEYS), metadataValue, { maxKeys: 3 }),
  )
  .map(([valid, extra]) => ({ ...extra, ...valid }));
const hostileMetadata = fc.oneof(rawHostileMetadata, nearValidMetadata);

function expectOnlyKnownErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!EXPECTED_ERRORS.some((E) => error instanceof E)) throw error;
  }
}

function expectCatalogKeysOnly(features: FeatureMap): void {
  for (const [key, value] of Object.entries(features)) {
    const def = catalog.get(key);
    expect(def).toBeDefined();
    expect(typeof value).toBe(def!.type);
  }
}

afterEach(() => {
  expect(Object.prototype).not.toHaveProperty('polluted');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

describe('hostile metadata', () => {
  it('product parsing only throws library errors and returns catalog keys', () => {
    let parsedWithFeatures = 0;
    fc.assert(
      fc.property(hostileMetadata, (metadata) => {
        expectOnlyKnownErrors(() => {
          const parsed = parseProductMetadata({ id: 'prod_h', metadata }, catalog);
          expectCatalogKeysOnly(parsed.features);
          expect(parsed.custom === true || parsed.custom === false).toBe(true);
          if (Object.keys(parsed.features).length > 0) parsedWithFeatures += 1;
        });
      }),
      { numRuns: 1000 },
    );
    expect(parsedWithFeatures).toBeGreaterThan(100);
  });

  it('price parsing and resolution only throw library errors and return catalog keys', () => {
    fc.assert(
      fc.property(hostileMetadata, hostileMetadata, (pm, prm) => {
        expectOnlyKnownErrors(() =>
          expectCatalogKeysOnly(parsePriceMetadata({ id: 'price_h', metadata: prm }, catalog).features),
        );
        expectOnlyKnownErrors(() =>
          expectCatalogKeysOnly(
            resolvePlanDefaults({ id: 'prod_h', metadata: pm }, { id: 'price_h', metadata: prm }, catalog)
              .features,
          ),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('metadata errors always name the object and a field', () => {
    fc.assert(
      fc.property(hostileMetadata, (metadata) => {
        try {
          parseProductMetadata({ id: 'prod_h', metadata }, catalog);
        } catch (error) {
          expect(error).toBeInstanceOf(MetadataError);
          const e = error as MetadataError;
          expect(e.objectId).toBe('prod_h');
          expect([...FIELDS, 'metadata']).toContain(e.field);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('validateFeatureMap only throws library errors on arbitrary JSON input', () => {
    fc.assert(
      fc.property(jsonish, (raw) => {
        let input: unknown;
        try {
          input = JSON.parse(raw);
        } catch {
          return;
        }
        expectOnlyKnownErrors(() => expectCatalogKeysOnly(validateFeatureMap(input, catalog, 'prop')));
      }),
      { numRuns: 500 },
    );
  });
});

describe('round trip', () => {
  it('buildProductMetadata → parseProductMetadata', () => {
    const input = fc.record({
      bundle: fc.option(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => s.trim() === s && s !== '')),
      features: validFeatureMap,
      scrapeIntervalHours: fc.option(fc.integer({ min: 1, max: 8760 })),
      custom: fc.boolean(),
    });
    fc.assert(
      fc.property(input, (x) => {
        const metadata = buildProductMetadata(x);
        const parsed = parseProductMetadata({ id: 'prod_rt', metadata }, catalog);
        expect(parsed).toEqual(x);
        expect(featuresEqual(parsed.features, x.features)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('buildPriceMetadata → parsePriceMetadata', () => {
    const input = fc.record({
      tenantId: fc.option(
        fc.string({ minLength: 1, maxLength: 30 }).filter((s) => s.trim() === s && s !== ''),
      ),
      custom: fc.option(fc.boolean()),
      features: validFeatureMap,
    });
    fc.assert(
      fc.property(input, (x) => {
        const metadata = buildPriceMetadata({ ...x, custom: x.custom ?? undefined });
        expect(parsePriceMetadata({ id: 'price_rt', metadata }, catalog)).toEqual(x);
      }),
      { numRuns: 300 },
    );
  });

  it('valid feature maps pass validateFeatureMap unchanged', () => {
    fc.assert(fc.property(validFeatureMap, (m) => featuresEqual(validateFeatureMap(m, catalog, 'x'), m)));
  });
});

describe('merge properties', () => {
  const state = fc.record({ features: anyFeatureMap, planFeatures: anyFeatureMap, overrides: anyFeatureMap });

  it("'replace' yields exactly the plan", () => {
    fc.assert(
      fc.property(fc.option(state), anyFeatureMap, (current, plan) => {
        const r = mergePlanIntoTenant({ current, plan, strategy: 'replace' });
        expect(featuresEqual(r.features, plan)).toBe(true);
        expect(r.overrides).toEqual({});
      }),
    );
  });

  it("'merge' result contains every override and otherwise only plan keys", () => {
    fc.assert(
      fc.property(fc.option(state), anyFeatureMap, (current, plan) => {
        const r = mergePlanIntoTenant({ current, plan, strategy: 'merge' });
        const overrides = current?.overrides ?? {};
        for (const [k, v] of Object.entries(overrides)) expect(r.features[k]).toBe(v);
        for (const k of Object.keys(r.features))
          expect(Object.hasOwn(overrides, k) || Object.hasOwn(plan, k)).toBe(true);
        expect(r.overrides).toEqual(overrides);
        expect(featuresEqual(r.planFeatures, plan)).toBe(true);
      }),
    );
  });

  it("'preserve' never changes or removes an existing value", () => {
    fc.assert(
      fc.property(fc.option(state), anyFeatureMap, (current, plan) => {
        const r = mergePlanIntoTenant({ current, plan, strategy: 'preserve' });
        const before = current?.features ?? {};
        for (const [k, v] of Object.entries(before)) expect(r.features[k]).toBe(v);
        for (const k of Object.keys(plan)) expect(Object.hasOwn(r.features, k)).toBe(true);
      }),
    );
  });
});
