import { describe, expect, it } from 'vitest';
import { diffFeatures, featuresEqual, mergePlanIntoTenant, restrictFeatures } from '../src/core/index.js';
import type { FeatureMap } from '../src/core/types.js';

const current = {
  features: { sso: true, max_users: 50, white_label: true, bulk_export: true },
  planFeatures: { sso: true, max_users: 10, white_label: true },
  overrides: { max_users: 50, bulk_export: true },
};
const plan: FeatureMap = { sso: true, max_users: 20, api_access: true };

describe('mergePlanIntoTenant', () => {
  describe("'merge'", () => {
    const result = mergePlanIntoTenant({ current, plan, strategy: 'merge' });

    it('applies plan defaults with overrides on top', () => {
      expect(result.features).toEqual({ sso: true, max_users: 50, api_access: true, bulk_export: true });
    });

    it('removes keys of the old plan the new plan lacks', () => {
      expect(result.features).not.toHaveProperty('white_label');
    });

    it('keeps an old-plan key the new plan lacks when it is overridden', () => {
      const r = mergePlanIntoTenant({
        current: { features: { sso: false }, planFeatures: { sso: true }, overrides: { sso: false } },
        plan: { api_access: true },
        strategy: 'merge',
      });
      expect(r.features).toEqual({ api_access: true, sso: false });
    });

    it('keeps overrides and records the plan', () => {
      expect(result.overrides).toEqual(current.overrides);
      expect(result.planFeatures).toEqual(plan);
    });

    it('an override can turn a plan feature off', () => {
      const r = mergePlanIntoTenant({
        current: { features: {}, planFeatures: {}, overrides: { sso: false } },
        plan,
        strategy: 'merge',
      });
      expect(r.features.sso).toBe(false);
    });

    it('plan upgrades flow through for keys without overrides', () => {
      const r = mergePlanIntoTenant({
        current: result,
        plan: { ...plan, sso: false, max_users: 99 },
        strategy: 'merge',
      });
      expect(r.features.sso).toBe(false);
      expect(r.features.max_users).toBe(50);
    });
  });

  describe("'replace'", () => {
    const result = mergePlanIntoTenant({ current, plan, strategy: 'replace' });
    it('sets features to exactly the plan and clears overrides', () => {
      expect(result).toEqual({ features: plan, planFeatures: plan, overrides: {} });
    });
  });

  describe("'preserve'", () => {
    const result = mergePlanIntoTenant({ current, plan, strategy: 'preserve' });
    it('only adds missing keys and never overwrites or removes', () => {
      expect(result.features).toEqual({
        sso: true,
        max_users: 50,
        white_label: true,
        bulk_export: true,
        api_access: true,
      });
    });
    it('does not overwrite a value the plan disagrees with', () => {
      const r = mergePlanIntoTenant({
        current: { features: { sso: false }, planFeatures: {}, overrides: {} },
        plan: { sso: true },
        strategy: 'preserve',
      });
      expect(r.features).toEqual({ sso: false });
    });
    it('keeps overrides and records the plan', () => {
      expect(result.overrides).toEqual(current.overrides);
      expect(result.planFeatures).toEqual(plan);
    });
  });

  it.each(['merge', 'replace', 'preserve'] as const)(
    'null current behaves like an empty tenant (%s)',
    (strategy) => {
      const r = mergePlanIntoTenant({ current: null, plan, strategy });
      expect(r).toEqual({ features: plan, planFeatures: plan, overrides: {} });
      expect(r).toEqual(
        mergePlanIntoTenant({ current: { features: {}, planFeatures: {}, overrides: {} }, plan, strategy }),
      );
    },
  );

  it('doc-comment example holds', () => {
    const c = {
      features: { sso: true, max_users: 50, white_label: true },
      planFeatures: { sso: true, max_users: 10, white_label: true },
      overrides: { max_users: 50 },
    };
    const p = { sso: true, max_users: 20, api_access: true };
    expect(mergePlanIntoTenant({ current: c, plan: p, strategy: 'merge' }).features).toEqual({
      api_access: true,
      max_users: 50,
      sso: true,
    });
    expect(mergePlanIntoTenant({ current: c, plan: p, strategy: 'replace' }).features).toEqual({
      api_access: true,
      max_users: 20,
      sso: true,
    });
    expect(mergePlanIntoTenant({ current: c, plan: p, strategy: 'preserve' }).features).toEqual({
      api_access: true,
      max_users: 50,
      sso: true,
      white_label: true,
    });
  });

  it('neither mutates nor aliases its inputs', () => {
    const snapshot = structuredClone({ current, plan });
    for (const strategy of ['merge', 'replace', 'preserve'] as const) {
      const r = mergePlanIntoTenant({ current, plan, strategy });
      expect(r.features).not.toBe(plan);
      expect(r.planFeatures).not.toBe(plan);
      expect(r.overrides).not.toBe(current.overrides);
      r.features.mutated = true;
      r.planFeatures.mutated = true;
      r.overrides.mutated = true;
    }
    expect({ current, plan }).toEqual(snapshot);
  });
});

describe('restrictFeatures', () => {
  it('turns booleans off and numbers to 0, keeping keys', () => {
    expect(restrictFeatures({ sso: true, api_access: false, max_users: 50, max_projects: 0 })).toEqual({
      sso: false,
      api_access: false,
      max_users: 0,
      max_projects: 0,
    });
    expect(restrictFeatures({})).toEqual({});
  });
});

describe('diffFeatures / featuresEqual', () => {
  it('reports added, removed and changed keys, sorted', () => {
    expect(
      diffFeatures(
        { sso: true, max_users: 5, b: true, a: true },
        { sso: false, max_users: 5, z: 1, c: true },
      ),
    ).toEqual({
      added: ['c', 'z'],
      removed: ['a', 'b'],
      changed: ['sso'],
    });
  });

  it('a type change counts as changed', () => {
    expect(diffFeatures({ x: 0 }, { x: false }).changed).toEqual(['x']);
  });

  it('inherited names are not treated as present', () => {
    expect(diffFeatures({}, { constructor: true }).added).toEqual(['constructor']);
    expect(diffFeatures({ toString: true }, {}).removed).toEqual(['toString']);
  });

  it('featuresEqual ignores key order', () => {
    expect(featuresEqual({ a: true, b: 2 }, { b: 2, a: true })).toBe(true);
    expect(featuresEqual({ a: true }, { a: true, b: 2 })).toBe(false);
    expect(featuresEqual({ a: true, b: 2 }, { a: true })).toBe(false);
    expect(featuresEqual({ a: 1 }, { a: true })).toBe(false);
    expect(featuresEqual({}, {})).toBe(true);
  });
});
