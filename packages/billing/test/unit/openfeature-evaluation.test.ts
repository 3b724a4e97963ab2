import { describe, expect, it } from 'vitest';
import { createFeatureCatalog } from '../../src/io/catalog/index.js';
import type { TenantFeatures } from '../../src/io/feature-cache/index.js';
import { evaluateAll, evaluateFlag, OFREP_ERROR_CODES } from '../../src/entry/openfeature/http.js';
import { readDoc, tableAfter } from './doc-tables.js';

const catalog = createFeatureCatalog([
  { key: 'sso', type: 'boolean', description: 'SSO' },
  { key: 'api_access', type: 'boolean', description: 'API' },
  { key: 'max_users', type: 'number', description: 'Users' },
  { key: 'seats', type: 'number', description: 'Seats' },
]);

function tenant(overrides: Partial<TenantFeatures> = {}): TenantFeatures {
  return {
    tenantId: 'acme',
    features: { api_access: true, max_users: 25 },
    bundle: 'pro',
    scrapeIntervalHours: null,
    accessActive: true,
    subscriptionStatus: 'active',
    source: 'plan',
    version: 4,
    overridden: [],
    ...overrides,
  };
}

describe('features as OpenFeature flags (docs/openfeature.md, "How a feature becomes a flag")', () => {
  it('a plan value is a TARGETING_MATCH with the tier as variant', () => {
    expect(evaluateFlag('max_users', tenant(), catalog)).toEqual({
      key: 'max_users',
      value: 25,
      reason: 'TARGETING_MATCH',
      variant: 'pro',
      metadata: {
        source: 'plan',
        bundle: 'pro',
        configured: true,
        version: 4,
        accessActive: true,
        subscriptionStatus: 'active',
      },
    });
  });

  it('an override says so; an entry cached before `overridden` existed reads as plan', () => {
    expect(evaluateFlag('api_access', tenant({ overridden: ['api_access'] }), catalog)).toMatchObject({
      variant: 'override',
      metadata: { source: 'override' },
    });
    const { overridden: _gone, ...old } = tenant();
    expect(evaluateFlag('api_access', old, catalog)).toMatchObject({ metadata: { source: 'plan' } });
  });

  it('without access every value is off and DISABLED', () => {
    const cut = tenant({ accessActive: false, features: { api_access: false, max_users: 0 } });
    expect(evaluateFlag('max_users', cut, catalog)).toMatchObject({ value: 0, reason: 'DISABLED' });
    // Even a stored value left on reads as off while access is off.
    const stale = tenant({ accessActive: false });
    expect(evaluateFlag('api_access', stale, catalog)).toMatchObject({ value: false, variant: 'restricted' });
  });

  it('a catalog key the plan lacks is off by its type; a tenant without config reads everything off', () => {
    expect(evaluateFlag('sso', tenant(), catalog)).toMatchObject({ value: false, reason: 'STATIC' });
    expect(evaluateFlag('seats', null, catalog)).toMatchObject({
      value: 0,
      reason: 'STATIC',
      metadata: { configured: false, source: 'none' },
    });
  });

  it('a key in neither is FLAG_NOT_FOUND; without a catalog only the tenant keys exist', () => {
    expect(evaluateFlag('nope', tenant(), catalog)).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
    expect(evaluateFlag('sso', tenant(), undefined)).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
    expect(evaluateAll(tenant(), undefined).map((f) => f.key)).toEqual(['api_access', 'max_users']);
    expect(evaluateAll(tenant(), catalog).map((f) => f.key)).toEqual([
      'api_access',
      'max_users',
      'seats',
      'sso',
    ]);
  });

  it('a metered key reads as the amount left, with its limit in the metadata', () => {
    const left = evaluateFlag('max_users', tenant(), catalog, (key, limit) =>
      key === 'max_users' ? limit - 20 : undefined,
    );
    expect(left).toMatchObject({ value: 5, metadata: { limit: 25, metered: true } });
  });

  it('the docs list exactly the OFREP error codes answered', () => {
    const rows = tableAfter(readDoc('openfeature.md'), '### Errors');
    expect(rows.map((row) => row[1]!.replace(/`/g, '')).sort()).toEqual([...OFREP_ERROR_CODES].sort());
  });
});
