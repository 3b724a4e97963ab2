import { describe, expect, it } from 'vitest';
import { createFeatureCatalog, DEFAULT_FEATURE_CATALOG } from '../../src/io/catalog/feature-catalog.js';
import { ACCESS_GRANTING_STATUSES, decideLimit, graceDaysOf } from '../../src/core/index.js';
import { MetadataError } from '../../src/core/errors.js';
import {
  combineSubscriptions,
  parsePlanUnits,
  type ItemGrant,
  type SubscriptionGrants,
} from '../../src/io/metadata/index.js';
import type { CombineRule, FeatureCatalog, FeatureMap, OverLimitPolicy } from '../../src/core/types.js';
import { codeSpans, readDoc, tableAfter } from './doc-tables.js';
import { plan } from './state-builder.js';

/**
 * docs/metadata.md "Add-ons, seats and several subscriptions", table by table, against the pure
 * combination: the two product flags, every combining case as written, and which statuses count.
 */
const doc = readDoc('metadata.md');
const HEADING = '### Add-ons, seats and several subscriptions';
const section = doc.slice(doc.indexOf(HEADING));

/** The tables of the section, in order (the helper reads the first one after a heading line). */
function tables(): string[][][] {
  const out: string[][][] = [];
  let rest = section;
  for (;;) {
    const at = rest.search(/\n\| /);
    if (at === -1 || rest.slice(0, at).includes('\n### ')) return out;
    const marker = '@@table@@';
    const text = `${marker}\n${rest.slice(at + 1)}`;
    out.push(tableAfter(text, marker));
    const end = rest.slice(at + 1).search(/\n[^|]/);
    rest = rest.slice(at + 1 + end + 1);
  }
}
const [flagRows, caseRows, statusRows] = tables();

/** `addon {"max_projects":5} ×3` → an item grant. */
function itemOf(text: string, index: number): ItemGrant {
  const match = /^(plan|addon|perUnit) (\{.*\})(?: ×(\d+))?$/.exec(text);
  if (!match) throw new Error(`cannot read item ${JSON.stringify(text)}`);
  const [, kind, features, quantity] = match;
  return {
    plan: plan({ productId: `prod_${index}`, features: JSON.parse(features!) as FeatureMap }),
    addon: kind === 'addon',
    perUnit: kind === 'perUnit',
    quantity: quantity === undefined ? 1 : Number(quantity),
    carriesPlan: true,
  };
}

/** `max_projects: sum` → the default catalog with that key's rule. */
function catalogOf(cell: string): FeatureCatalog {
  const rules = new Map(
    codeSpans(cell).map((span) => span.split(':').map((part) => part.trim()) as [string, CombineRule]),
  );
  return createFeatureCatalog(
    [...DEFAULT_FEATURE_CATALOG.values()].map((def) => ({ ...def, combine: rules.get(def.key) ?? 'max' })),
  );
}

describe('docs/metadata.md "Add-ons, seats and several subscriptions"', () => {
  it('has the flag, case and status tables', () => {
    expect(flagRows?.length).toBeGreaterThan(0);
    expect(caseRows?.length).toBeGreaterThan(0);
    expect(statusRows?.length).toBeGreaterThan(0);
  });

  it.each(flagRows ?? [])('flag %s: absent or blank reads false, a bad value is a MetadataError', (key) => {
    const field = codeSpans(key)[0]! as 'addon' | 'perUnit';
    expect(parsePlanUnits({ id: 'prod_doc', metadata: {} })[field]).toBe(false);
    expect(parsePlanUnits({ id: 'prod_doc', metadata: { [field]: '  ' } })[field]).toBe(false);
    expect(parsePlanUnits({ id: 'prod_doc', metadata: { [field]: 'TRUE' } })[field]).toBe(true);
    expect(() => parsePlanUnits({ id: 'prod_doc', metadata: { [field]: 'yes' } })).toThrow(MetadataError);
  });

  it.each(caseRows ?? [])('%s', (_name, items, rules, result) => {
    const grants = codeSpans(items).map(itemOf);
    const combined = combineSubscriptions([{ status: 'active', items: grants }], catalogOf(rules));
    expect(combined?.plan.features).toEqual(JSON.parse(codeSpans(result)[0]!));
    // The plan item keeps its identity; an add-on is the plan item only when nothing else is there.
    const planAt = grants.findIndex((g) => !g.addon);
    expect(combined?.item).toBe(planAt === -1 ? 0 : planAt);
  });

  it('documents every status once, and exactly the access-granting ones contribute', () => {
    const rows = (statusRows ?? []).map(([status, contributes]) => ({
      status: codeSpans(status!)[0]!,
      contributes: contributes!.startsWith('yes'),
    }));
    expect(rows.filter((r) => r.contributes).map((r) => r.status)).toEqual([...ACCESS_GRANTING_STATUSES]);
    for (const { status, contributes } of rows) {
      const subscriptions: SubscriptionGrants[] = [
        { status: 'active', items: [itemOf('plan {"max_projects":10}', 0)] },
        { status, items: [itemOf('addon {"max_projects":5,"white_label":true} ×2', 1)] },
      ];
      const combined = combineSubscriptions(subscriptions, catalogOf('`max_projects: sum`'));
      expect(combined?.plan.features).toEqual(
        contributes ? { max_projects: 20, white_label: true } : { max_projects: 10 },
      );
      expect(combined).toMatchObject({ subscription: 0, item: 0 });
    }
  });
});

describe('combineSubscriptions: the plan item', () => {
  it('is the first plan-carrying item that is no add-on, across subscriptions in ranking order', () => {
    const addonSub: SubscriptionGrants = {
      status: 'active',
      items: [itemOf('addon {"white_label":true}', 0)],
    };
    const bare = { ...itemOf('plan {}', 1), carriesPlan: false };
    const base = itemOf('plan {"sso":true}', 2);
    const combined = combineSubscriptions([addonSub, { status: 'active', items: [bare, base] }]);
    expect(combined).toMatchObject({ subscription: 1, item: 1 });
    expect(combined?.plan.productId).toBe('prod_2');
    expect(combined?.plan.features).toEqual({ sso: true, white_label: true });
  });

  it('is none when no subscription grants access', () => {
    const items = [itemOf('plan {"sso":true}', 0)];
    expect(combineSubscriptions([{ status: 'canceled', items }])).toBeNull();
    expect(combineSubscriptions([])).toBeNull();
  });

  it('true wins over numbers (a metered key granted unlimited); without a catalog numbers keep the highest', () => {
    const combined = combineSubscriptions([
      {
        status: 'active',
        items: [
          itemOf('addon {"beta":5,"max_users":4} ×2', 0),
          itemOf('plan {"beta":true,"max_users":3}', 1),
        ],
      },
    ]);
    expect(combined?.plan.features).toEqual({ beta: true, max_users: 8 });
  });
});

describe('docs/metadata.md "Over the limit after a downgrade"', () => {
  const rows = tableAfter(doc, '### Over the limit after a downgrade').map(([policy, , allowed]) => ({
    policy: codeSpans(policy!)[0] as OverLimitPolicy,
    allowed: allowed!,
  }));
  const since = new Date('2026-11-01T00:00:00Z');
  const day = (n: number) => new Date(since.getTime() + n * 86_400_000);

  it('documents the three policies, block_new as the default', () => {
    expect(rows.map((r) => r.policy.replace(/:\d+$/, ''))).toEqual(['block_new', 'grace', 'allow']);
    expect(decideLimit({ limit: 10, used: 12, since, now: since }).policy).toBe('block_new');
  });

  it.each(rows)('$policy: one more allowed $allowed', ({ policy, allowed }) => {
    const at = (now: Date) => decideLimit({ limit: 10, used: 12, policy, since, now });
    expect(at(day(1))).toMatchObject({ overLimit: true, since, policy, limit: 10, remaining: 0 });
    const days = graceDaysOf(policy);
    if (allowed === 'no') expect([at(day(0)).allowed, at(day(400)).allowed]).toEqual([false, false]);
    if (allowed === 'yes') expect([at(day(0)).allowed, at(day(400)).allowed]).toEqual([true, true]);
    if (allowed.startsWith('yes, until day')) {
      expect(days).toBe(Number(/day (\d+)/.exec(allowed)![1]));
      expect(at(day(days! - 1))).toMatchObject({ allowed: true, graceEndsAt: day(days!) });
      expect(at(day(days!)).allowed).toBe(false);
    }
  });

  it('at or under the limit the answer is as before: no over-limit fields, whatever the policy', () => {
    for (const policy of rows.map((r) => r.policy)) {
      expect(decideLimit({ limit: 10, used: 10, policy, since, now: since })).toEqual({
        allowed: false,
        limit: 10,
        remaining: 0,
      });
      expect(decideLimit({ limit: 10, used: 3, policy, now: since })).toEqual({
        allowed: true,
        limit: 10,
        remaining: 7,
      });
    }
  });
});
