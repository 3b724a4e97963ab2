import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { PrismaClient } from '@packages/db';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FEATURE_CATALOG,
  createFeatureCatalog,
  loadFeatureCatalog,
} from '../src/io/catalog/index.js';
import { MetadataError, UnknownFeatureError, ValidationError } from '../src/core/errors.js';
import {
  buildPriceMetadata,
  buildProductMetadata,
  parsePriceMetadata,
  parseProductMetadata,
  resolvePlanDefaults,
  validateFeatureMap,
} from '../src/io/metadata/index.js';
import type { FeatureDefinition } from '../src/core/types.js';

const catalog = DEFAULT_FEATURE_CATALOG;

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function expectMetadataError(
  fn: () => unknown,
  expected: { objectType: 'product' | 'price'; objectId: string; field: string; reason?: RegExp },
): MetadataError {
  const error = catchError(fn);
  expect(error).toBeInstanceOf(MetadataError);
  const e = error as MetadataError;
  expect(e.objectType).toBe(expected.objectType);
  expect(e.objectId).toBe(expected.objectId);
  expect(e.field).toBe(expected.field);
  expect(e.code).toBe('invalid_metadata');
  if (expected.reason) expect(e.reason).toMatch(expected.reason);
  expect(e.message).toContain(expected.objectId);
  return e;
}

const product = (
  metadata: Record<string, string> | null | undefined,
  extra: { name?: string | null } = {},
) => ({
  id: 'prod_1',
  metadata,
  ...extra,
});
const price = (
  metadata: Record<string, string> | null | undefined,
  extra: { lookup_key?: string | null } = {},
) => ({
  id: 'price_1',
  metadata,
  ...extra,
});

describe('feature catalog', () => {
  it('DEFAULT_FEATURE_CATALOG matches the seed migration exactly', () => {
    const sqlPath = fileURLToPath(
      new URL(
        '../../db/prisma/migrations/20261125000100_seed_feature_catalog/migration.sql',
        import.meta.url,
      ),
    );
    const sql = readFileSync(sqlPath, 'utf8');
    const seeded = [...sql.matchAll(/\('([a-z0-9_]+)', '(boolean|number)', '([^']*)'\)/g)].map((m) => ({
      key: m[1],
      type: m[2],
      description: m[3],
    }));
    expect(seeded.length).toBe(15);
    expect([...DEFAULT_FEATURE_CATALOG.values()].map((d) => ({ ...d }))).toEqual(seeded);
  });

  it('creates a catalog keyed by feature key', () => {
    const c = createFeatureCatalog([{ key: 'a1', type: 'number', description: 'x' }]);
    expect(c.get('a1')).toEqual({ key: 'a1', type: 'number', description: 'x' });
    expect(c.size).toBe(1);
  });

  it.each([
    [
      'duplicate',
      [
        { key: 'sso', type: 'boolean', description: '' },
        { key: 'sso', type: 'boolean', description: '' },
      ],
    ],
    ['empty segment', [{ key: 'platform..whiteLabel', type: 'boolean', description: '' }]],
    ['leading dot', [{ key: '.sso', type: 'boolean', description: '' }]],
    ['trailing dot', [{ key: 'sso.', type: 'boolean', description: '' }]],
    ['segment starting with a digit', [{ key: 'google.1reviews', type: 'boolean', description: '' }]],
    ['hyphen', [{ key: 'white-label', type: 'boolean', description: '' }]],
    ['space', [{ key: 'white label', type: 'boolean', description: '' }]],
    ['leading digit', [{ key: '1x', type: 'boolean', description: '' }]],
    ['too long', [{ key: `a${'b'.repeat(64)}`, type: 'boolean', description: '' }]],
    ['empty', [{ key: '', type: 'boolean', description: '' }]],
    ['__proto__', [{ key: '__proto__', type: 'boolean', description: '' }]],
    ['constructor', [{ key: 'constructor', type: 'boolean', description: '' }]],
    ['prototype', [{ key: 'prototype', type: 'boolean', description: '' }]],
    ['bad type', [{ key: 'x', type: 'string', description: '' }]],
  ])('rejects %s keys/definitions with ValidationError', (_name, defs) => {
    const error = catchError(() => createFeatureCatalog(defs as FeatureDefinition[]));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.length).toBeGreaterThan(0);
  });

  it("accepts the spec's namespaced camelCase keys next to snake_case ones", () => {
    const keys = [
      'google.reviews',
      'facebook.overview',
      'twitter.alerts',
      'platform.whiteLabel',
      'platform.customIntegrations',
      'platform.prioritySupport',
      'max_users',
      'a.b_c.D9',
    ];
    const catalog = createFeatureCatalog(keys.map((key) => ({ key, type: 'boolean', description: '' })));
    expect([...catalog.keys()]).toEqual(keys);
  });

  it('accepts the longest allowed key (64 chars)', () => {
    const key = `a${'b'.repeat(63)}`;
    expect(createFeatureCatalog([{ key, type: 'boolean', description: '' }]).has(key)).toBe(true);
  });

  it('loadFeatureCatalog reads the featureCatalog table', async () => {
    const calls: unknown[] = [];
    const prisma = {
      featureCatalog: {
        findMany: async (args: unknown) => {
          calls.push(args);
          return [
            { key: 'max_users', type: 'number', description: 'Seats', createdAt: new Date() },
            { key: 'sso', type: 'boolean', description: 'SSO', createdAt: new Date() },
          ];
        },
      },
    } as unknown as PrismaClient;
    const loaded = await loadFeatureCatalog(prisma);
    expect(calls).toHaveLength(1);
    expect([...loaded.keys()]).toEqual(['max_users', 'sso']);
    expect(loaded.get('sso')?.type).toBe('boolean');
  });

  it('loadFeatureCatalog fails loudly on a corrupt row', async () => {
    const prisma = {
      featureCatalog: { findMany: async () => [{ key: 'Bad Key', type: 'boolean', description: '' }] },
    } as unknown as PrismaClient;
    await expect(loadFeatureCatalog(prisma)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('parseProductMetadata: fields', () => {
  it('returns defaults for absent, null and empty metadata', () => {
    const empty = { bundle: null, features: {}, scrapeIntervalHours: null, custom: false };
    expect(parseProductMetadata(product(undefined), catalog)).toEqual(empty);
    expect(parseProductMetadata(product(null), catalog)).toEqual(empty);
    expect(parseProductMetadata(product({}), catalog)).toEqual(empty);
  });

  it('ignores metadata keys it does not know', () => {
    expect(
      parseProductMetadata(product({ owner: 'sales', tenantId: 't1', basePlanId: 'pro' }), catalog).features,
    ).toEqual({});
  });

  it('bundle: trimmed, blank → null', () => {
    expect(parseProductMetadata(product({ bundle: '  pro ' }), catalog).bundle).toBe('pro');
    expect(parseProductMetadata(product({ bundle: '   ' }), catalog).bundle).toBeNull();
    expect(parseProductMetadata(product({ bundle: '' }), catalog).bundle).toBeNull();
  });

  it('features: comma list turns each key on, trimming whitespace and skipping empties/duplicates', () => {
    const parsed = parseProductMetadata(
      product({ features: ' api_access, sso ,,sso,\tbulk_export ,' }),
      catalog,
    );
    expect(parsed.features).toEqual({ api_access: true, bulk_export: true, sso: true });
  });

  it('features: a list of only commas/blanks is empty', () => {
    expect(parseProductMetadata(product({ features: ' , ,' }), catalog).features).toEqual({});
  });

  it('featuresJson: booleans and numbers', () => {
    const parsed = parseProductMetadata(
      product({ featuresJson: '{"sso":false,"max_users":25,"data_retention_days":0,"api_rate_limit":1e3}' }),
      catalog,
    );
    expect(parsed.features).toEqual({
      sso: false,
      max_users: 25,
      data_retention_days: 0,
      api_rate_limit: 1000,
    });
  });

  it('featuresJson wins over features for the same key and merges otherwise', () => {
    const parsed = parseProductMetadata(
      product({ features: 'api_access, sso', featuresJson: '{"sso": false, "max_projects": 10}' }),
      catalog,
    );
    expect(parsed.features).toEqual({ api_access: true, sso: false, max_projects: 10 });
  });

  it('featuresJson: -0 is normalised to 0 and the upper bound 1e9 is accepted', () => {
    const parsed = parseProductMetadata(
      product({ featuresJson: '{"max_users":-0,"max_projects":1000000000}' }),
      catalog,
    );
    expect(Object.is(parsed.features.max_users, 0)).toBe(true);
    expect(parsed.features.max_projects).toBe(1_000_000_000);
  });

  it('featuresJson: empty object is fine', () => {
    expect(parseProductMetadata(product({ featuresJson: '{}' }), catalog).features).toEqual({});
  });

  it.each([
    ['24', 24],
    ['1', 1],
    ['8760', 8760],
    [' 12 ', 12],
    ['0024', 24],
  ])('scrapeIntervalHours %j → %d', (raw, expected) => {
    expect(parseProductMetadata(product({ scrapeIntervalHours: raw }), catalog).scrapeIntervalHours).toBe(
      expected,
    );
  });

  it('scrapeIntervalHours: blank → null', () => {
    expect(
      parseProductMetadata(product({ scrapeIntervalHours: ' ' }), catalog).scrapeIntervalHours,
    ).toBeNull();
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    ['True', true],
    [' false ', false],
    ['FaLsE', false],
  ])('custom %j → %s', (raw, expected) => {
    expect(parseProductMetadata(product({ custom: raw }), catalog).custom).toBe(expected);
  });

  it('custom: absent → false', () => {
    expect(parseProductMetadata(product({}), catalog).custom).toBe(false);
  });

  it('returned feature maps are plain objects', () => {
    const parsed = parseProductMetadata(product({ features: 'sso' }), catalog);
    expect(Object.getPrototypeOf(parsed.features)).toBe(Object.prototype);
  });
});

describe('parseProductMetadata: bad input', () => {
  const p = (metadata: Record<string, string>) => () => parseProductMetadata(product(metadata), catalog);
  const err = { objectType: 'product' as const, objectId: 'prod_1' };

  it.each([
    ['{not json', /not valid JSON/],
    ['', null],
    ['[]', /got an array/],
    ['[{"sso":true}]', /got an array/],
    ['null', /got null/],
    ['"sso"', /got the string/],
    ['42', /got 42/],
    ['true', /got boolean/],
  ])('featuresJson %j', (raw, reason) => {
    if (reason === null) {
      expect(parseProductMetadata(product({ featuresJson: raw }), catalog).features).toEqual({});
      return;
    }
    expectMetadataError(p({ featuresJson: raw }), { ...err, field: 'featuresJson', reason });
  });

  it.each([
    ['{"nope":true}', /unknown feature key "nope"/],
    ['{"__proto__":true}', /unknown feature key "__proto__"/],
    ['{"constructor":true}', /unknown feature key "constructor"/],
    ['{"prototype":true}', /unknown feature key "prototype"/],
    ['{"SSO":true}', /unknown feature key "SSO"/],
    ['{"sso":"true"}', /"sso" must be a boolean.*got the string "true"/],
    ['{"sso":1}', /"sso" must be a boolean.*got 1/],
    ['{"sso":null}', /"sso" must be a boolean.*got null/],
    ['{"max_users":true}', /"max_users" must be an integer.*got boolean/],
    ['{"max_users":"10"}', /"max_users" must be an integer/],
    ['{"max_users":-1}', /"max_users" must be an integer.*got -1/],
    ['{"max_users":1.5}', /got 1.5/],
    ['{"max_users":1e400}', /got Infinity/],
    ['{"max_users":1000000001}', /from 0 to 1000000000/],
    ['{"max_users":{"a":1}}', /got an object/],
    ['{"max_users":[1]}', /got an array/],
    [`{"sso":${'['.repeat(200)}${']'.repeat(200)}}`, /got an array/],
  ])('featuresJson %s', (raw, reason) => {
    expectMetadataError(p({ featuresJson: raw }), { ...err, field: 'featuresJson', reason });
  });

  it('does not pollute Object.prototype via featuresJson', () => {
    catchError(p({ featuresJson: '{"__proto__":{"polluted":true}}' }));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['api_access, nope', /unknown feature key "nope"/],
    ['__proto__', /unknown feature key "__proto__"/],
    ['constructor', /unknown feature key "constructor"/],
    ['api access', /unknown feature key "api access"/],
    ['sso=true', /unknown feature key "sso=true"/],
    ['max_users', /number feature/],
  ])('features %j', (raw, reason) => {
    expectMetadataError(p({ features: raw }), { ...err, field: 'features', reason });
  });

  it.each(['0', '-1', '1.5', 'abc', '1e3', '+4', '0x10', '8761', '99999999999999999999', '12h', 'Infinity'])(
    'scrapeIntervalHours %j',
    (raw) => {
      expectMetadataError(p({ scrapeIntervalHours: raw }), {
        ...err,
        field: 'scrapeIntervalHours',
        reason: /whole number of hours from 1 to 8760/,
      });
    },
  );

  it.each(['yes', '1', '0', 'no', 'truee', 't'])('custom %j', (raw) => {
    expectMetadataError(p({ custom: raw }), { ...err, field: 'custom', reason: /must be "true" or "false"/ });
  });

  it.each(['bundle', 'features', 'featuresJson', 'scrapeIntervalHours', 'custom'])(
    'rejects %s values over 500 chars',
    (field) => {
      expectMetadataError(p({ [field]: 'x'.repeat(501) }), { ...err, field, reason: /501 characters/ });
    },
  );

  it('rejects non-string metadata values', () => {
    const md = { bundle: 42 } as unknown as Record<string, string>;
    expectMetadataError(p(md), { ...err, field: 'bundle', reason: /must be a string, got 42/ });
  });

  it('rejects metadata that is not an object', () => {
    const md = 'bundle=pro' as unknown as Record<string, string>;
    expectMetadataError(p(md), { ...err, field: 'metadata' });
    expectMetadataError(p(['x'] as unknown as Record<string, string>), { ...err, field: 'metadata' });
  });

  it('ignores inherited properties', () => {
    const md = Object.create({ custom: 'maybe', features: 'nope' }) as Record<string, string>;
    expect(parseProductMetadata(product(md), catalog)).toEqual({
      bundle: null,
      features: {},
      scrapeIntervalHours: null,
      custom: false,
    });
  });

  it('truncates huge hostile keys in the error message', () => {
    const e = expectMetadataError(p({ featuresJson: JSON.stringify({ ['k'.repeat(400)]: true }) }), {
      ...err,
      field: 'featuresJson',
    });
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('parsePriceMetadata', () => {
  const err = { objectType: 'price' as const, objectId: 'price_1' };
  const p = (metadata: Record<string, string>) => () => parsePriceMetadata(price(metadata), catalog);

  it('defaults', () => {
    expect(parsePriceMetadata(price(undefined), catalog)).toEqual({
      tenantId: null,
      custom: null,
      features: {},
    });
    expect(parsePriceMetadata(price({}), catalog)).toEqual({ tenantId: null, custom: null, features: {} });
  });

  it('reads tenantId, custom and features JSON', () => {
    expect(
      parsePriceMetadata(
        price({ tenantId: ' t_42 ', custom: 'TRUE', features: '{"max_users":100,"sso":true}' }),
        catalog,
      ),
    ).toEqual({
      tenantId: 't_42',
      custom: true,
      features: { max_users: 100, sso: true },
    });
    expect(parsePriceMetadata(price({ custom: 'false', tenantId: '' }), catalog)).toEqual({
      tenantId: null,
      custom: false,
      features: {},
    });
  });

  it.each([
    ['{oops', /not valid JSON/],
    ['[]', /got an array/],
    ['null', /got null/],
    ['"x"', /got the string/],
    ['api_access, sso', /not valid JSON/],
    ['{"nope":1}', /unknown feature key "nope"/],
    ['{"__proto__":true}', /unknown feature key "__proto__"/],
    ['{"sso":"true"}', /must be a boolean/],
    ['{"max_users":false}', /must be an integer/],
    ['{"max_users":NaN}', /not valid JSON/],
  ])('features %j', (raw, reason) => {
    expectMetadataError(p({ features: raw }), { ...err, field: 'features', reason });
  });

  it('custom', () => {
    expectMetadataError(p({ custom: 'nah' }), { ...err, field: 'custom' });
  });

  it('tenantId over 500 chars', () => {
    expectMetadataError(p({ tenantId: 't'.repeat(501) }), { ...err, field: 'tenantId' });
  });
});

describe('resolvePlanDefaults', () => {
  const prod = {
    id: 'prod_pro',
    name: 'Pro',
    metadata: {
      bundle: 'pro',
      features: 'api_access, sso, webhooks',
      featuresJson: '{"max_users":10,"max_projects":5}',
      scrapeIntervalHours: '12',
      custom: 'false',
    },
  };

  it('uses product metadata alone when there is no price', () => {
    expect(resolvePlanDefaults(prod, null, catalog)).toEqual({
      productId: 'prod_pro',
      productName: 'Pro',
      priceId: null,
      lookupKey: null,
      bundle: 'pro',
      features: { api_access: true, max_projects: 5, max_users: 10, sso: true, webhooks: true },
      scrapeIntervalHours: 12,
      custom: false,
      tenantId: null,
    });
  });

  it('price features override product features key by key; price custom and tenantId apply', () => {
    const resolved = resolvePlanDefaults(
      prod,
      {
        id: 'price_x',
        lookup_key: 'pro_monthly',
        metadata: {
          tenantId: 'acme',
          custom: 'true',
          features: '{"max_users":500,"sso":false,"priority_support":true}',
        },
      },
      catalog,
    );
    expect(resolved).toMatchObject({
      priceId: 'price_x',
      lookupKey: 'pro_monthly',
      custom: true,
      tenantId: 'acme',
      bundle: 'pro',
      scrapeIntervalHours: 12,
    });
    expect(resolved.features).toEqual({
      api_access: true,
      max_projects: 5,
      max_users: 500,
      priority_support: true,
      sso: false,
      webhooks: true,
    });
  });

  it("a price without custom keeps the product's flag", () => {
    const customProduct = { ...prod, metadata: { ...prod.metadata, custom: 'true' } };
    expect(resolvePlanDefaults(customProduct, { id: 'price_y', metadata: {} }, catalog).custom).toBe(true);
    expect(
      resolvePlanDefaults(customProduct, { id: 'price_y', metadata: { custom: 'false' } }, catalog).custom,
    ).toBe(false);
  });

  it('ignores tenantId on the product; only the price names the tenant', () => {
    const withTenant = { ...prod, metadata: { ...prod.metadata, tenantId: 'acme' } };
    expect(resolvePlanDefaults(withTenant, { id: 'price_y', metadata: {} }, catalog).tenantId).toBeNull();
  });

  it('falls back to the product id for a missing name and null for blank lookup keys', () => {
    const resolved = resolvePlanDefaults(
      { id: 'prod_z', name: null },
      { id: 'price_z', lookup_key: '' },
      catalog,
    );
    expect(resolved.productName).toBe('prod_z');
    expect(resolved.lookupKey).toBeNull();
    expect(resolved.features).toEqual({});
  });

  it('propagates metadata errors from the price with the price id', () => {
    expectMetadataError(
      () => resolvePlanDefaults(prod, { id: 'price_bad', metadata: { features: '[]' } }, catalog),
      {
        objectType: 'price',
        objectId: 'price_bad',
        field: 'features',
      },
    );
  });
});

describe('validateFeatureMap', () => {
  it('accepts and copies valid maps', () => {
    const input = { sso: true, max_users: 0, api_rate_limit: 1_000_000_000 };
    const out = validateFeatureMap(input, catalog, 'body.features');
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });

  it('accepts null-prototype objects', () => {
    const input = Object.assign(Object.create(null) as Record<string, unknown>, { sso: false });
    expect(validateFeatureMap(input, catalog, 'x')).toEqual({ sso: false });
  });

  it.each([null, undefined, [], 'sso', 42, true, new Date(), new Map([['sso', true]])])(
    'rejects non-object %j with ValidationError',
    (input) => {
      const error = catchError(() => validateFeatureMap(input, catalog, 'body.features'));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues[0]?.path).toBe('body.features');
    },
  );

  it.each(['nope', '__proto__', 'constructor', 'prototype'])(
    'rejects unknown key %s with UnknownFeatureError',
    (key) => {
      const input = JSON.parse(`{${JSON.stringify(key)}: true}`) as unknown;
      const error = catchError(() => validateFeatureMap(input, catalog, 'body.features'));
      expect(error).toBeInstanceOf(UnknownFeatureError);
      expect((error as UnknownFeatureError).featureKey).toBe(key);
      expect((error as UnknownFeatureError).context).toBe('body.features');
    },
  );

  it('collects every wrong-typed value into one ValidationError', () => {
    const error = catchError(() =>
      validateFeatureMap(
        {
          sso: 'true',
          api_access: 1,
          max_users: true,
          max_projects: -1,
          max_scrapers: 1.5,
          api_rate_limit: Number.NaN,
          data_retention_days: Infinity,
          webhooks: true,
          bulk_export: null,
          white_label: {},
          priority_support: [],
        },
        catalog,
        'body',
      ),
    );
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        'api_access',
        'api_rate_limit',
        'bulk_export',
        'data_retention_days',
        'max_projects',
        'max_scrapers',
        'max_users',
        'priority_support',
        'sso',
        'white_label',
      ].map((k) => `body.${k}`),
    );
  });

  it('rejects numbers above 1e9', () => {
    expect(catchError(() => validateFeatureMap({ max_users: 1_000_000_001 }, catalog, 'x'))).toBeInstanceOf(
      ValidationError,
    );
  });
});

describe('buildProductMetadata / buildPriceMetadata', () => {
  it('writes enabled booleans as a list and the rest as JSON, sorted', () => {
    const md = buildProductMetadata({
      bundle: ' pro ',
      features: { sso: true, api_access: true, white_label: false, max_users: 10 },
      scrapeIntervalHours: 24,
      custom: true,
      tenantId: 'acme',
      basePlanId: 'prod_pro',
    });
    expect(md).toEqual({
      bundle: 'pro',
      features: 'api_access, sso',
      featuresJson: '{"max_users":10,"white_label":false}',
      scrapeIntervalHours: '24',
      custom: 'true',
      tenantId: 'acme',
      basePlanId: 'prod_pro',
    });
    expect(parseProductMetadata({ id: 'p', metadata: md }, catalog)).toEqual({
      bundle: 'pro',
      features: { sso: true, api_access: true, white_label: false, max_users: 10 },
      scrapeIntervalHours: 24,
      custom: true,
    });
  });

  it('omits absent fields', () => {
    expect(buildProductMetadata({ features: {} })).toEqual({});
    expect(
      buildProductMetadata({ features: {}, bundle: '  ', custom: false, scrapeIntervalHours: null }),
    ).toEqual({ custom: 'false' });
    expect(buildPriceMetadata({})).toEqual({});
  });

  it('price metadata round-trips', () => {
    const md = buildPriceMetadata({ tenantId: 'acme', custom: false, features: { sso: true, max_users: 3 } });
    expect(md).toEqual({ tenantId: 'acme', custom: 'false', features: '{"max_users":3,"sso":true}' });
    expect(parsePriceMetadata({ id: 'pr', metadata: md }, catalog)).toEqual({
      tenantId: 'acme',
      custom: false,
      features: { sso: true, max_users: 3 },
    });
  });

  it('throws a clear ValidationError when featuresJson would exceed 500 chars', () => {
    const features = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`limit_number_${String(i).padStart(2, '0')}`, 1_000_000]),
    );
    const error = catchError(() => buildProductMetadata({ features }));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(
      /featuresJson would be \d+ characters; Stripe metadata values are limited to 500/,
    );
    expect((error as ValidationError).issues[0]?.path).toBe('featuresJson');
    expect(catchError(() => buildPriceMetadata({ features }))).toBeInstanceOf(ValidationError);
  });

  it.each([
    [{ features: { sso: 'yes' } }, 'features.sso'],
    [{ features: { max_users: -1 } }, 'features.max_users'],
    [{ features: { max_users: 0.5 } }, 'features.max_users'],
    [{ features: { 'Bad Key': true } }, 'features.Bad Key'],
    [{ features: JSON.parse('{"__proto__":true}') }, 'features.__proto__'],
    [{ features: [] }, 'features'],
    [{ features: {}, scrapeIntervalHours: 0 }, 'scrapeIntervalHours'],
    [{ features: {}, scrapeIntervalHours: 1.5 }, 'scrapeIntervalHours'],
    [{ features: {}, scrapeIntervalHours: 8761 }, 'scrapeIntervalHours'],
    [{ features: {}, bundle: 'b'.repeat(501) }, 'bundle'],
    [{ features: {}, custom: 'true' }, 'custom'],
  ])('rejects bad product input %#', (input, path) => {
    const error = catchError(() => buildProductMetadata(input as never));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toContain(path);
  });

  it('rejects a bad tenantId on price', () => {
    expect(catchError(() => buildPriceMetadata({ tenantId: 'x'.repeat(501) }))).toBeInstanceOf(
      ValidationError,
    );
  });

  it('stays within Stripe key limits', () => {
    const md = buildProductMetadata({
      bundle: 'b',
      features: { sso: true, max_users: 1 },
      scrapeIntervalHours: 1,
      custom: true,
      tenantId: 't',
      basePlanId: 'b',
    });
    expect(Object.keys(md).length).toBeLessThanOrEqual(50);
    for (const [k, v] of Object.entries(md)) {
      expect(k.length).toBeLessThanOrEqual(40);
      expect(v.length).toBeLessThanOrEqual(500);
    }
  });
});
