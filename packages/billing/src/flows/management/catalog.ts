import { Prisma, type PrismaClient } from '@packages/db';
import { combineProblem, featureKeyProblem, overLimitProblem } from '../../io/catalog/index.js';
import { usageRulesIssues, usageRulesOf, type UsageRules } from '../../core/usage.js';
import { invalidateDatabaseCatalog } from '../../io/catalog/registry.js';
import { FeatureAlreadyExistsError, FeatureNotFoundError } from '../../core/errors.js';
import { inTransaction, type Tx } from '../../io/tenant-store/index.js';
import type { AuditSourceName, CombineRule, FeatureDefinition, OverLimitPolicy } from '../../core/types.js';
import { auditOf, isUniqueViolation, rejectIssues, type ManagementOptions } from './common.js';

/**
 * Managing the feature catalog (the `feature_catalog` table): the only way a key becomes known.
 * Keys are added with their type, described, and deprecated; never removed or retyped, because
 * stored tenant features and Stripe metadata may hold them.
 */

export interface CatalogEntry extends FeatureDefinition {
  deprecatedAt: Date | null;
  /** Null unless the key is metered. */
  usage: UsageRules | null;
  combine: CombineRule;
  overLimit: OverLimitPolicy;
  createdAt: Date;
  updatedAt: Date;
}

export interface AddFeatureInput {
  key: string;
  type: 'boolean' | 'number';
  description: string;
  /** Makes a number key metered: usage is counted against each tenant's value (docs/usage.md). */
  usage?: UsageRules | null;
  /** Number keys: how grants combine across items and subscriptions (default `max`). */
  combine?: CombineRule;
  /** Number keys: what follows when usage is above a lowered limit (default `block_new`). */
  overLimit?: OverLimitPolicy;
}

/** The rules of a number key that may change after it was added. */
export interface FeatureRules {
  combine?: CombineRule;
  overLimit?: OverLimitPolicy;
}

function ruleIssues(type: unknown, rules: FeatureRules | undefined): { path: string; message: string }[] {
  const combine = combineProblem(type, rules?.combine);
  const overLimit = overLimitProblem(type, rules?.overLimit);
  return [
    ...(combine ? [{ path: 'combine', message: combine.replace(/^has /, '') }] : []),
    ...(overLimit ? [{ path: 'overLimit', message: overLimit.replace(/^has /, '') }] : []),
  ];
}

export const MAX_FEATURE_DESCRIPTION_LENGTH = 500;

function descriptionIssues(description: unknown): { path: string; message: string }[] {
  if (typeof description !== 'string') return [{ path: 'description', message: 'must be a string' }];
  const trimmed = description.trim();
  if (trimmed === '') return [{ path: 'description', message: 'must not be empty' }];
  if (trimmed.length > MAX_FEATURE_DESCRIPTION_LENGTH)
    return [{ path: 'description', message: `must be at most ${MAX_FEATURE_DESCRIPTION_LENGTH} characters` }];
  return [];
}

type CatalogRow = {
  key: string;
  type: 'boolean' | 'number';
  description: string;
  deprecatedAt: Date | null;
  usage: unknown;
  combine: string;
  overLimit: string;
  createdAt: Date;
  updatedAt: Date;
};

const toEntry = (row: CatalogRow): CatalogEntry => ({
  key: row.key,
  type: row.type,
  description: row.description,
  deprecatedAt: row.deprecatedAt,
  usage: usageRulesOf(row.usage),
  combine: row.combine as CombineRule,
  overLimit: row.overLimit as OverLimitPolicy,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

const snapshot = (entry: CatalogEntry) => ({
  type: entry.type,
  description: entry.description,
  deprecatedAt: entry.deprecatedAt?.toISOString() ?? null,
  ...(entry.usage
    ? {
        usage: {
          reset: entry.usage.reset,
          overage: entry.usage.overage,
          ...(entry.usage.thresholds ? { thresholds: entry.usage.thresholds } : {}),
          ...(entry.usage.stripeMeter
            ? {
                stripeMeter: entry.usage.stripeMeter,
                stripeMeterReport: entry.usage.stripeMeterReport ?? 'usage',
              }
            : {}),
        },
      }
    : {}),
  combine: entry.combine,
  overLimit: entry.overLimit,
});

async function audit(
  tx: Tx,
  key: string,
  who: { actor: string; source: AuditSourceName },
  action: string,
  before: CatalogEntry | null,
  after: CatalogEntry,
): Promise<void> {
  await tx.featureCatalogAuditLog.create({
    data: {
      key,
      actor: who.actor,
      source: who.source,
      action,
      before: before ? (snapshot(before) as Prisma.InputJsonValue) : undefined,
      after: snapshot(after),
    },
  });
}

/** Locks the catalog row for the rest of the transaction (so the audit's `before` is what was replaced). */
async function lockEntry(tx: Tx, key: string): Promise<CatalogEntry> {
  const rows = await tx.$queryRaw<CatalogRow[]>`
    SELECT key, type::text AS type, description, deprecated_at AS "deprecatedAt", usage,
           combine, over_limit AS "overLimit", created_at AS "createdAt", updated_at AS "updatedAt"
    FROM feature_catalog WHERE key = ${key} FOR UPDATE`;
  const row = rows[0];
  if (!row) throw new FeatureNotFoundError(key);
  return toEntry(row);
}

/** Registers a key. Malformed input → ValidationError; the key (or one differing only in case) exists → FeatureAlreadyExistsError. */
export async function addFeature(
  prisma: PrismaClient,
  input: AddFeatureInput,
  options: ManagementOptions = {},
): Promise<CatalogEntry> {
  const keyProblem = featureKeyProblem(input?.key);
  const issues = [
    ...(keyProblem ? [{ path: 'key', message: keyProblem }] : []),
    ...(input?.type === 'boolean' || input?.type === 'number'
      ? []
      : [{ path: 'type', message: 'must be "boolean" or "number"' }]),
    ...descriptionIssues(input?.description),
    ...usageRulesIssues(input?.usage, input?.type),
    ...ruleIssues(input?.type, input),
  ];
  rejectIssues('feature', issues);
  const usage = usageRulesOf(input.usage);
  const who = auditOf(options);
  const key = input.key;
  try {
    const entry = await inTransaction(prisma, async (tx) => {
      const clash = await tx.featureCatalog.findFirst({
        where: { key: { equals: key, mode: 'insensitive' } },
        select: { key: true },
      });
      if (clash) throw new FeatureAlreadyExistsError(key, clash.key);
      const created = toEntry(
        await tx.featureCatalog.create({
          data: {
            key,
            type: input.type,
            description: input.description.trim(),
            ...(usage ? { usage: { ...usage } } : {}),
            ...(input.combine ? { combine: input.combine } : {}),
            ...(input.overLimit ? { overLimit: input.overLimit } : {}),
          },
        }),
      );
      await audit(tx, key, who, 'feature_added', null, created);
      return created;
    });
    invalidateDatabaseCatalog(prisma);
    return entry;
  } catch (error) {
    // A concurrent add of the same key (or a case variant) loses on the unique indexes.
    if (isUniqueViolation(error)) {
      const existing = await prisma.featureCatalog.findFirst({
        where: { key: { equals: key, mode: 'insensitive' } },
        select: { key: true },
      });
      throw new FeatureAlreadyExistsError(key, existing?.key ?? key);
    }
    throw error;
  }
}

/** Changes a key's description (its type never changes). Unknown key → FeatureNotFoundError. */
export async function describeFeature(
  prisma: PrismaClient,
  key: string,
  description: string,
  options: ManagementOptions = {},
): Promise<CatalogEntry> {
  rejectIssues('feature description', descriptionIssues(description));
  const who = auditOf(options);
  const entry = await inTransaction(prisma, async (tx) => {
    const before = await lockEntry(tx, key);
    if (before.description === description.trim()) return before;
    const after = toEntry(
      await tx.featureCatalog.update({ where: { key }, data: { description: description.trim() } }),
    );
    await audit(tx, key, who, 'feature_described', before, after);
    return after;
  });
  invalidateDatabaseCatalog(prisma);
  return entry;
}

/**
 * Makes a number key metered, changes its rules, or (null) stops metering it; counters already
 * recorded stay. A boolean key → ValidationError; unknown key → FeatureNotFoundError.
 */
export async function setFeatureUsage(
  prisma: PrismaClient,
  key: string,
  usage: UsageRules | null,
  options: ManagementOptions = {},
): Promise<CatalogEntry> {
  const who = auditOf(options);
  const entry = await inTransaction(prisma, async (tx) => {
    const before = await lockEntry(tx, key);
    rejectIssues('feature usage', usageRulesIssues(usage, before.type));
    const next = usageRulesOf(usage);
    if (JSON.stringify(before.usage) === JSON.stringify(next)) return before;
    const after = toEntry(
      await tx.featureCatalog.update({
        where: { key },
        data: { usage: next ? { ...next } : Prisma.DbNull },
      }),
    );
    await audit(tx, key, who, next ? 'feature_metered' : 'feature_unmetered', before, after);
    return after;
  });
  invalidateDatabaseCatalog(prisma);
  return entry;
}

/**
 * Changes a number key's combine rule and over-limit policy (only the ones given). A boolean key has
 * neither; the type never changes. Unknown key → FeatureNotFoundError; a bad rule → ValidationError.
 */
export async function setFeatureRules(
  prisma: PrismaClient,
  key: string,
  rules: FeatureRules,
  options: ManagementOptions = {},
): Promise<CatalogEntry> {
  const who = auditOf(options);
  const entry = await inTransaction(prisma, async (tx) => {
    const before = await lockEntry(tx, key);
    rejectIssues('feature rules', ruleIssues(before.type, rules));
    const data = {
      ...(rules.combine && rules.combine !== before.combine ? { combine: rules.combine } : {}),
      ...(rules.overLimit && rules.overLimit !== before.overLimit ? { overLimit: rules.overLimit } : {}),
    };
    if (Object.keys(data).length === 0) return before;
    const after = toEntry(await tx.featureCatalog.update({ where: { key }, data }));
    await audit(tx, key, who, 'feature_rules_changed', before, after);
    return after;
  });
  invalidateDatabaseCatalog(prisma);
  return entry;
}

/**
 * Deprecates a key: tenants keep the values they have and Stripe plans that grant it keep working,
 * but new overrides refuse it (DeprecatedFeatureError). Deprecating twice changes nothing.
 */
export async function deprecateFeature(
  prisma: PrismaClient,
  key: string,
  options: ManagementOptions = {},
): Promise<CatalogEntry> {
  const who = auditOf(options);
  const entry = await inTransaction(prisma, async (tx) => {
    const before = await lockEntry(tx, key);
    if (before.deprecatedAt) return before;
    const after = toEntry(
      await tx.featureCatalog.update({ where: { key }, data: { deprecatedAt: new Date() } }),
    );
    await audit(tx, key, who, 'feature_deprecated', before, after);
    return after;
  });
  invalidateDatabaseCatalog(prisma);
  return entry;
}

/** Every key, sorted; deprecated ones included unless `includeDeprecated: false`. */
export async function listFeatures(
  prisma: PrismaClient,
  options: { includeDeprecated?: boolean } = {},
): Promise<CatalogEntry[]> {
  const rows = await prisma.featureCatalog.findMany({
    where: options.includeDeprecated === false ? { deprecatedAt: null } : {},
    orderBy: { key: 'asc' },
  });
  return rows.map(toEntry);
}
