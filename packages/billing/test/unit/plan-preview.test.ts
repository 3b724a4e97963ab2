import { describe, expect, it } from 'vitest';
import { keyChanges, overLimitKeys, previewTenantPlan } from '../../src/core/index.js';
import { plan, tenantState } from './state-builder.js';

/** The preview's decision is the sync's (decidePlanChange) on one tenant; these pin what it reports. */
describe('previewTenantPlan', () => {
  it('reports each key the plan moves, with overrides on top (merge)', () => {
    const preview = previewTenantPlan(
      tenantState(),
      plan({ features: { sso: false, max_users: 20, api: true } }),
    );
    expect(preview).toEqual({
      tenantId: 't_1',
      outcome: 'change',
      changes: [
        { key: 'api', before: null, after: true },
        { key: 'sso', before: true, after: false },
      ],
    });
  });

  it('a plan that leaves the features as they are is unchanged, even if other fields move', () => {
    expect(previewTenantPlan(tenantState(), plan({ bundle: 'pro-2024' }))).toEqual({
      tenantId: 't_1',
      outcome: 'unchanged',
    });
  });

  it("a tenant without access keeps every value off: the new plan's keys appear switched off", () => {
    const state = tenantState({ accessActive: false, features: { sso: false, max_users: 0 } });
    expect(previewTenantPlan(state, plan({ features: { sso: true, max_users: 10, api: true } }))).toEqual({
      tenantId: 't_1',
      outcome: 'change',
      changes: [{ key: 'api', before: null, after: false }],
    });
  });

  it("the sync's skips: a custom config, a plan meant for another tenant", () => {
    const custom = tenantState({ source: 'custom', stripePriceId: 'price_custom' });
    expect(previewTenantPlan(custom, plan())).toEqual({
      tenantId: 't_1',
      outcome: 'skip',
      reason: 'custom_config',
    });
    expect(previewTenantPlan(tenantState(), plan({ tenantId: 't_2' }))).toMatchObject({
      reason: 'plan_for_other_tenant',
    });
  });
});

describe('overLimitKeys', () => {
  const metered = new Set(['calls']);
  const counters = new Map([['calls', { used: 50, reserved: 5 }]]);
  it('a metered key whose count is above the new limit; at the limit, unlimited or unmetered is not', () => {
    const changes = keyChanges({ calls: 100, seats: 10 }, { calls: 40, seats: 1 });
    expect(overLimitKeys(changes, metered, counters)).toEqual([
      { key: 'calls', used: 50, reserved: 5, limitBefore: 100, limitAfter: 40 },
    ]);
    expect(overLimitKeys(keyChanges({ calls: 100 }, { calls: 50 }), metered, counters)).toEqual([]);
    expect(overLimitKeys(keyChanges({ calls: 10 }, { calls: true }), metered, counters)).toEqual([]);
    // Taken away: not entitled is a limit of 0.
    expect(overLimitKeys(keyChanges({ calls: true }, {}), metered, counters)).toMatchObject([
      { limitBefore: null, limitAfter: 0 },
    ]);
  });
});
