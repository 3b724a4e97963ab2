import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURE_CATALOG, createFeatureCatalog } from '../src/io/catalog/index.js';
import { EntitlementFeatureError } from '../src/core/errors.js';
import { resolvePlanDefaults } from '../src/io/metadata/index.js';
import {
  featuresFromEntitlements,
  readsEntitlementFeatures,
  readsMetadataFeatures,
  type EntitlementFeatureLike,
  type PlanSource,
} from '../src/io/plan-source/index.js';
import type { FeatureCatalog, FeatureDefinition } from '../src/core/types.js';

const catalog = DEFAULT_FEATURE_CATALOG;
let n = 0;
const feature = (lookup_key: string, metadata: Record<string, string> = {}, active = true) =>
  ({ id: `feat_test_${++n}`, lookup_key, metadata, active }) satisfies EntitlementFeatureLike;

/** The merge rule in one place: what resolvePlanDefaults yields for a plan in each source mode. */
function planFeatures(
  source: PlanSource,
  productMetadata: Record<string, string>,
  attached: EntitlementFeatureLike[],
  priceMetadata: Record<string, string> = {},
) {
  const product = { id: 'prod_1', name: 'Pro', metadata: productMetadata };
  const price = { id: 'price_1', metadata: priceMetadata };
  return resolvePlanDefaults(product, price, catalog, {
    metadata: readsMetadataFeatures(source),
    entitlements: readsEntitlementFeatures(source)
      ? featuresFromEntitlements(product.id, attached, catalog)
      : null,
  }).features;
}

describe('features from attached Stripe Features', () => {
  it('reads booleans from lookup_key and numbers from metadata "value"; archived Features grant nothing', () => {
    expect(
      featuresFromEntitlements(
        'prod_1',
        [
          feature('sso'),
          feature('max_users#pro', { value: '25' }),
          feature('api_rate_limit', { value: ' 600 ' }),
          feature('white_label', {}, false),
        ],
        catalog,
      ),
    ).toEqual({ api_rate_limit: 600, max_users: 25, sso: true });
  });

  const cases: Array<[string, EntitlementFeatureLike[], RegExp]> = [
    ['an invalid key', [feature('Not A Key')], /"Not A Key" is not a valid feature key/],
    [
      'a key outside the catalog',
      [feature('teleport')],
      /feature key "teleport" is not in the feature catalog/,
    ],
    [
      'a number feature without value',
      [feature('max_users')],
      /number feature; put its limit in metadata "value"/,
    ],
    [
      'a value that is not a number',
      [feature('max_users', { value: 'lots' })],
      /must be a whole number .* got "lots"/,
    ],
    ['a negative or fractional value', [feature('max_users', { value: '2.5' })], /whole number/],
    [
      'a number on a boolean feature',
      [feature('sso', { value: '3' })],
      /numeric metadata "value", but it is a boolean/,
    ],
    [
      'two Features for one key',
      [feature('max_users#a', { value: '5' }), feature('max_users#b', { value: '6' })],
      /"max_users" is also granted by feat_test_\d+ \(lookup_key "max_users#a"\)/,
    ],
  ];
  it.each(cases)('rejects %s with an error naming the product and the Feature', (_name, attached, reason) => {
    let error: unknown;
    try {
      featuresFromEntitlements('prod_42', attached, catalog);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EntitlementFeatureError);
    const e = error as EntitlementFeatureError;
    expect(e.code).toBe('invalid_entitlement_feature');
    expect(e.productId).toBe('prod_42');
    expect(e.featureId).toBe(attached.at(-1)!.id);
    expect(e.message).toContain(`attached to product prod_42`);
    expect(e.message).toMatch(reason);
  });

  it('rejects a key the catalog marks deprecated', () => {
    const defs: FeatureDefinition[] = [{ key: 'sso', type: 'boolean', description: 'SSO' }];
    const withDeprecation: FeatureCatalog = new Map(
      [...createFeatureCatalog(defs)].map(([k, d]) => [k, { ...d, deprecatedAt: new Date() }]),
    );
    expect(() => featuresFromEntitlements('prod_1', [feature('sso')], withDeprecation)).toThrow(
      /feature key "sso" is deprecated/,
    );
  });
});

describe('plan sources and their merge rule', () => {
  const metadata = { features: 'api_access,sso', featuresJson: '{"max_users":10}', bundle: 'pro' };
  const attached = [feature('sso'), feature('webhooks'), feature('max_users#pro', { value: '25' })];

  it('metadata (default): attached Features are not read at all', () => {
    expect(planFeatures('metadata', metadata, [feature('not a key')])).toEqual({
      api_access: true,
      max_users: 10,
      sso: true,
    });
  });

  it('entitlements: only attached Features, product feature metadata ignored (even when broken)', () => {
    expect(planFeatures('entitlements', { ...metadata, featuresJson: '{broken' }, attached)).toEqual({
      max_users: 25,
      sso: true,
      webhooks: true,
    });
  });

  it('both: union; a key defined by both takes the attached Feature value', () => {
    expect(planFeatures('both', metadata, attached)).toEqual({
      api_access: true,
      max_users: 25,
      sso: true,
      webhooks: true,
    });
  });

  it('both: an explicit metadata false is kept unless a Feature grants the key', () => {
    expect(planFeatures('both', { featuresJson: '{"sso":false,"white_label":false}' }, attached)).toEqual({
      max_users: 25,
      sso: true,
      webhooks: true,
      white_label: false,
    });
  });

  it('price metadata refines the plan in every mode, over both product sources', () => {
    const price = { features: '{"max_users":500,"sso":false}' };
    for (const source of ['metadata', 'entitlements', 'both'] as const) {
      const features = planFeatures(source, metadata, attached, price);
      expect(features).toMatchObject({ max_users: 500, sso: false });
    }
  });

  it('bundle, scrape interval and custom come from metadata in every mode', () => {
    const product = { id: 'prod_1', metadata: { bundle: 'pro', scrapeIntervalHours: '6', custom: 'true' } };
    const plan = resolvePlanDefaults(product, null, catalog, {
      metadata: false,
      entitlements: { sso: true },
    });
    expect(plan).toMatchObject({
      bundle: 'pro',
      scrapeIntervalHours: 6,
      custom: true,
      features: { sso: true },
    });
  });
});
