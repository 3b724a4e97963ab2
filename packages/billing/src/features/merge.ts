import type { FeatureMap, FeatureValue, MergeStrategy } from '../types.js';

export interface TenantFeatureState {
  /** What the tenant effectively has. */
  features: FeatureMap;
  /** The plan defaults last applied, kept so a later plan change knows what came from the plan. */
  planFeatures: FeatureMap;
  /** Values set explicitly for this tenant (admin/custom deals); they outlive plan changes. */
  overrides: FeatureMap;
}

export interface MergePlanInput {
  current: TenantFeatureState | null;
  plan: FeatureMap;
  strategy: MergeStrategy;
}

/**
 * Applies a plan's feature defaults to a tenant. Always returns fresh objects (inputs are never
 * mutated or aliased), so callers can diff `current` against the result.
 *
 * Example: current = { features: { sso: true, max_users: 50, white_label: true },
 *                      planFeatures: { sso: true, max_users: 10, white_label: true },
 *                      overrides: { max_users: 50 } }
 *          plan    = { sso: true, max_users: 20, api_access: true }
 *
 * - 'merge' (default; plan change): features = plan, then overrides on top. white_label came only
 *   from the old plan, so it disappears.
 *     → features { api_access: true, max_users: 50, sso: true }, overrides { max_users: 50 }
 * - 'replace' (reset to plan): overrides are discarded.
 *     → features { api_access: true, max_users: 20, sso: true }, overrides {}
 * - 'preserve' (backfill): only keys the tenant lacks are added; nothing is changed or removed.
 *     → features { api_access: true, max_users: 50, sso: true, white_label: true }, overrides { max_users: 50 }
 *
 * In every strategy planFeatures becomes a copy of `plan`. A null `current` is an empty tenant.
 */
export function mergePlanIntoTenant(input: MergePlanInput): TenantFeatureState {
  const current = input.current ?? { features: {}, planFeatures: {}, overrides: {} };
  const plan = copy(input.plan);
  switch (input.strategy) {
    case 'replace':
      return { features: copy(plan), planFeatures: plan, overrides: {} };
    case 'preserve':
      return {
        features: combine(plan, current.features),
        planFeatures: plan,
        overrides: copy(current.overrides),
      };
    case 'merge':
    default:
      // The old plan's keys are not consulted: features are derived from plan + overrides alone,
      // which is exactly "old-plan keys the new plan lacks are removed unless overridden".
      return {
        features: combine(plan, current.overrides),
        planFeatures: plan,
        overrides: copy(current.overrides),
      };
  }
}

/**
 * A feature map read back from a JSON column: only boolean and number values are features, so
 * anything else a hand edit left there is dropped rather than trusted.
 */
export function asFeatureMap(value: unknown): FeatureMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: FeatureMap = {};
  for (const [key, v] of Object.entries(value))
    if (typeof v === 'boolean' || typeof v === 'number') out[key] = v;
  return out;
}

/** Every boolean off and every limit 0, keeping the keys so the UI can still show what was lost. */
export function restrictFeatures(features: FeatureMap): FeatureMap {
  return fromEntries(Object.entries(features).map(([k, v]) => [k, typeof v === 'boolean' ? false : 0]));
}

export function diffFeatures(
  before: FeatureMap,
  after: FeatureMap,
): { added: string[]; removed: string[]; changed: string[] } {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const key of Object.keys(after)) {
    if (!Object.hasOwn(before, key)) added.push(key);
    else if (before[key] !== after[key]) changed.push(key);
  }
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) removed.push(key);
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

export function featuresEqual(a: FeatureMap, b: FeatureMap): boolean {
  const d = diffFeatures(a, b);
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

/** `top` wins per key. Built with fromEntries so a "__proto__" key stays a plain own property. */
function combine(base: FeatureMap, top: FeatureMap): FeatureMap {
  const merged = new Map<string, FeatureValue>(Object.entries(base));
  for (const [k, v] of Object.entries(top)) merged.set(k, v);
  return fromEntries(merged);
}

function copy(map: FeatureMap): FeatureMap {
  return fromEntries(Object.entries(map));
}

function fromEntries(entries: Iterable<readonly [string, FeatureValue]>): FeatureMap {
  return Object.fromEntries(entries) as FeatureMap;
}
