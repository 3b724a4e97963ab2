import { describe, expect, it } from 'vitest';
import { renderFeatureTypes } from '../../src/io/catalog/declaration.js';
import { createFeatureCatalog } from '../../src/io/catalog/index.js';
import {
  crossedThresholds,
  decideGrant,
  meterReportOf,
  usageRulesIssues,
  usageRulesOf,
  type UsageOveragePolicy,
} from '../../src/core/index.js';
import { readDoc, tableAfter } from './doc-tables.js';

/** docs/usage.md "How much is granted", row by row through decideGrant (the rule `check` answers with). */
const rows = tableAfter(readDoc('usage.md'), '### How much is granted').map((cells) => ({
  policy: cells[0]!.replace(/`/g, '') as UsageOveragePolicy,
  limit: cells[1] === 'null' ? null : Number(cells[1]),
  used: Number(cells[2]),
  reserved: Number(cells[3]),
  amount: Number(cells[4]),
  allowed: cells[5] === 'yes',
  granted: Number(cells[6]),
  overage: Number(cells[7]),
}));

describe('docs/usage.md: how much is granted', () => {
  it('documents every policy', () => {
    expect(new Set(rows.map((r) => r.policy))).toEqual(new Set(['reject', 'cap', 'allow']));
  });
  it.each(rows)('$policy limit $limit used $used reserved $reserved amount $amount', (row) => {
    expect(decideGrant(row)).toEqual({ allowed: row.allowed, granted: row.granted, overage: row.overage });
  });
});

describe('finalize: the held amount is always granted', () => {
  it('after a downgrade left no room', () => {
    expect(decideGrant({ policy: 'reject', limit: 10, used: 20, reserved: 0, amount: 5, held: 5 })).toEqual({
      allowed: true,
      granted: 5,
      overage: 5,
    });
    expect(
      decideGrant({ policy: 'reject', limit: 10, used: 20, reserved: 0, amount: 6, held: 5 }).granted,
    ).toBe(5);
  });
});

describe('crossedThresholds', () => {
  it('reports each threshold once, when a change crosses it', () => {
    expect(crossedThresholds(100, 79, 80, [80, 100])).toEqual([80]);
    expect(crossedThresholds(100, 10, 150, [80, 100])).toEqual([80, 100]);
    expect(crossedThresholds(100, 80, 90, [80, 100])).toEqual([]);
    expect(crossedThresholds(null, 0, 1e9, [80, 100])).toEqual([]);
  });
});

describe('typed keys: the generated declaration lists the metered keys', () => {
  it('adds MeteredFeatureKeyTypes only when the catalog has metered keys', () => {
    const catalog = createFeatureCatalog([
      {
        key: 'api.calls',
        type: 'number',
        description: 'Calls',
        usage: { reset: 'month', overage: 'reject' },
      },
      { key: 'seats', type: 'number', description: 'Seats' },
    ]);
    const text = renderFeatureTypes(catalog);
    expect(text).toContain('  interface MeteredFeatureKeyTypes {\n    "api.calls": true;\n  }\n');
    expect(
      renderFeatureTypes(createFeatureCatalog([{ key: 'seats', type: 'number', description: 'S' }])),
    ).not.toContain('MeteredFeatureKeyTypes');
  });
});

describe('usage rules: a Stripe meter', () => {
  it('takes an event name and what to report; refuses a report mode without a meter', () => {
    const rules = {
      reset: 'month',
      overage: 'allow',
      stripeMeter: 'ai_tokens',
      stripeMeterReport: 'overage',
    };
    expect(usageRulesIssues(rules, 'number')).toEqual([]);
    expect(usageRulesOf(rules)).toEqual(rules);
    expect(meterReportOf(usageRulesOf(rules)!)).toBe('overage');
    expect(meterReportOf({ reset: 'month', overage: 'reject', stripeMeter: 'x' })).toBe('usage');
    expect(meterReportOf({ reset: 'month', overage: 'reject' })).toBeNull();
    expect(
      usageRulesIssues({ reset: 'month', overage: 'allow', stripeMeterReport: 'overage' }, 'number'),
    ).toEqual([{ path: 'usage.stripeMeterReport', message: 'needs stripeMeter' }]);
    expect(
      usageRulesIssues({ reset: 'month', overage: 'allow', stripeMeter: 'has space' }, 'number').map(
        (i) => i.path,
      ),
    ).toEqual(['usage.stripeMeter']);
  });
});
