import type { FeatureMap, FeatureValue, MergeStrategy, PlanDefaults } from './types.js';
import { meteredLimit } from './usage.js';
import { decidePlanChange, type PlanChangeSkip } from './plan-change.js';
import type { TenantFeatureState } from './tenant-state.js';

/** One key of a tenant that a plan change would move: null where the key is absent. */
export interface KeyChange {
  key: string;
  before: FeatureValue | null;
  after: FeatureValue | null;
}

/** A metered key whose count this period would be above the limit the change leaves. */
export interface OverLimit {
  key: string;
  used: number;
  reserved: number;
  /** null: unlimited. */
  limitBefore: number | null;
  limitAfter: number;
}

/**
 * What applying a plan would do to one tenant, decided as the sync decides it (decidePlanChange):
 * `change` with the keys that move, `unchanged` when the features stay (other fields may still be
 * written), or the sync's skip reason (a custom config, a plan for another tenant).
 */
export type TenantPlanPreview =
  | { tenantId: string; outcome: 'change'; changes: KeyChange[] }
  | { tenantId: string; outcome: 'unchanged' }
  | { tenantId: string; outcome: 'skip'; reason: PlanChangeSkip };

/** The preview of `plan` for a tenant in `state`, with the merge strategy the sync would use. */
export function previewTenantPlan(
  state: TenantFeatureState,
  plan: PlanDefaults,
  strategy: MergeStrategy = 'merge',
): TenantPlanPreview {
  const { tenantId } = state;
  // No subscription: a plan edit moves no subscription, so the tenant's access state stands.
  const decision = decidePlanChange(state, tenantId, plan, { mergeStrategy: strategy });
  if ('skip' in decision) {
    return decision.skip === 'up_to_date'
      ? { tenantId, outcome: 'unchanged' }
      : { tenantId, outcome: 'skip', reason: decision.skip };
  }
  const changes = keyChanges(state.features, decision.patch.features ?? state.features);
  return changes.length === 0 ? { tenantId, outcome: 'unchanged' } : { tenantId, outcome: 'change', changes };
}

/** Keys whose value differs, in key order. */
export function keyChanges(before: FeatureMap, after: FeatureMap): KeyChange[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .map((key) => ({
      key,
      before: Object.hasOwn(before, key) ? before[key]! : null,
      after: Object.hasOwn(after, key) ? after[key]! : null,
    }))
    .filter((c) => c.before !== c.after);
}

/**
 * Metered keys among `changes` whose count this period (`used`) would be above the new limit,
 * the rule usage answers with `overLimit` (further use is refused under `reject`).
 */
export function overLimitKeys(
  changes: readonly KeyChange[],
  metered: ReadonlySet<string>,
  counters: ReadonlyMap<string, { used: number; reserved: number }>,
): OverLimit[] {
  const out: OverLimit[] = [];
  for (const change of changes) {
    if (!metered.has(change.key)) continue;
    const after = meteredLimit(change.after ?? undefined).limit;
    if (after === null) continue;
    const counter = counters.get(change.key) ?? { used: 0, reserved: 0 };
    if (counter.used <= after) continue;
    out.push({
      key: change.key,
      used: counter.used,
      reserved: counter.reserved,
      limitBefore: meteredLimit(change.before ?? undefined).limit,
      limitAfter: after,
    });
  }
  return out;
}
