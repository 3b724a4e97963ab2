import type { PrismaClient } from '@packages/db';
import { featureKeyProblem } from '../../io/catalog/index.js';
import {
  restrictFeatures,
  usageRulesOf,
  type TenantFeatureState,
  type UsageRules,
} from '../../core/index.js';
import { DeprecatedFeatureError, TenantNotFoundError, UnknownFeatureError } from '../../core/errors.js';
import { featureValueProblem } from '../../io/metadata/values.js';
import { inTransaction, updateTenantFeatures, wroteVersion, type Tx } from '../../io/tenant-store/index.js';
import type { FeatureMap, FeatureValue } from '../../core/types.js';
import { auditOf, rejectIssues, type TenantManagementOptions } from './common.js';

/**
 * Manual overrides: a value set for one tenant that wins over its plan. Overrides live in the
 * config's `overrides` map, so plan changes treat them exactly as the merge strategies document
 * (`merge` and `preserve` keep them, `replace` drops them). The config's source is left as it is:
 * an override is not a reason to stop applying plan changes.
 */

export interface OverrideResult {
  tenantId: string;
  /** False when the override already had this value (set) or did not exist (clear): nothing written. */
  changed: boolean;
  features: FeatureMap;
  overrides: FeatureMap;
  version: number;
}

/** Reads the key's catalog row under a share lock, so a concurrent deprecation cannot slip in between. */
async function catalogType(
  tx: Tx,
  key: string,
): Promise<{ type: 'boolean' | 'number'; usage: UsageRules | null }> {
  const rows = await tx.$queryRaw<
    { type: 'boolean' | 'number'; deprecatedAt: Date | null; usage: unknown }[]
  >`
    SELECT type::text AS type, deprecated_at AS "deprecatedAt", usage FROM feature_catalog WHERE key = ${key} FOR SHARE`;
  const row = rows[0];
  if (!row) throw new UnknownFeatureError(key, 'override');
  if (row.deprecatedAt) throw new DeprecatedFeatureError(key, 'override');
  return { type: row.type, usage: usageRulesOf(row.usage) };
}

function withKey(map: FeatureMap, key: string, value: FeatureValue | undefined): FeatureMap {
  const entries = Object.entries(map).filter(([k]) => k !== key);
  if (value !== undefined) entries.push([key, value]);
  return Object.fromEntries<FeatureValue>(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What the tenant gets for `key`: the value itself while access is on, its restricted form while off. */
function effective(
  state: Pick<TenantFeatureState, 'accessActive'>,
  value: FeatureValue | undefined,
): FeatureValue | undefined {
  if (value === undefined) return undefined;
  return state.accessActive ? value : restrictFeatures({ v: value }).v;
}

async function writeOverride(
  prisma: PrismaClient,
  tenantId: string,
  key: string,
  value: FeatureValue | undefined,
  options: TenantManagementOptions,
): Promise<OverrideResult> {
  const who = auditOf(options);
  const outcome = await inTransaction(prisma, async (tx) => {
    if (value !== undefined) {
      const problem = featureValueProblem(await catalogType(tx, key), value);
      if (problem)
        rejectIssues('override', [{ path: `overrides.${key}`, message: `feature "${key}" ${problem}` }]);
    }
    return updateTenantFeatures(
      tx,
      tenantId,
      (current) => {
        const state = current;
        if (value === undefined && (!state || !Object.hasOwn(state.overrides, key)))
          return { skip: 'no_override' };
        const base: Pick<TenantFeatureState, 'features' | 'planFeatures' | 'overrides' | 'accessActive'> =
          state ?? { features: {}, planFeatures: {}, overrides: {}, accessActive: true };
        // Clearing falls back to the plan's value for the key, or removes it when the plan has none.
        const fallback = Object.hasOwn(base.planFeatures, key) ? base.planFeatures[key] : undefined;
        const next = value ?? fallback;
        return {
          action: value === undefined ? 'override_cleared' : 'override_set',
          patch: {
            overrides: withKey(base.overrides, key, value),
            features: withKey(base.features, key, effective(base, next)),
          },
        };
      },
      who,
    );
  });
  if (outcome.status === 'tenant_not_found') throw new TenantNotFoundError(tenantId);
  if (wroteVersion(outcome))
    // Without a reader there is no cache of ours to update: every reader built apart reads the row.
    await options.featureReader?.publish([outcome.after]);
  const state = outcome.status === 'skipped' ? outcome.state : outcome.after;
  return {
    tenantId,
    changed: outcome.status === 'updated',
    features: state?.features ?? {},
    overrides: state?.overrides ?? {},
    version: state?.version ?? 0,
  };
}

/**
 * Sets one feature for one tenant, winning over its plan. The key must be in the catalog and not
 * deprecated, the value of the key's type; otherwise a typed error and nothing is written.
 */
export async function setFeatureOverride(
  prisma: PrismaClient,
  tenantId: string,
  key: string,
  value: FeatureValue,
  options: TenantManagementOptions = {},
): Promise<OverrideResult> {
  const problem = featureKeyProblem(key);
  if (problem) rejectIssues('override', [{ path: 'key', message: problem }]);
  return writeOverride(prisma, tenantId, key, value, options);
}

/** Removes one override: the tenant gets its plan's value for the key again (or loses the key). */
export async function clearFeatureOverride(
  prisma: PrismaClient,
  tenantId: string,
  key: string,
  options: TenantManagementOptions = {},
): Promise<OverrideResult> {
  const problem = featureKeyProblem(key);
  if (problem) rejectIssues('override', [{ path: 'key', message: problem }]);
  return writeOverride(prisma, tenantId, key, undefined, options);
}
