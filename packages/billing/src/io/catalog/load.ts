import type { PrismaClient } from '@packages/db';
import type { CombineRule, FeatureCatalog, FeatureDefinition, OverLimitPolicy } from '../../core/types.js';
import { createFeatureCatalog } from './feature-catalog.js';

/**
 * Reads the catalog table. Throws ValidationError if a row is invalid (e.g. inserted by hand with
 * a bad key) rather than skipping it, so the problem surfaces at startup instead of per request.
 */
export async function loadFeatureCatalog(prisma: PrismaClient): Promise<FeatureCatalog> {
  const rows = await prisma.featureCatalog.findMany({ orderBy: { key: 'asc' } });
  return createFeatureCatalog(
    rows.map((row) => ({
      key: row.key,
      type: row.type,
      description: row.description,
      deprecatedAt: row.deprecatedAt,
      usage: row.usage as FeatureDefinition['usage'],
      combine: row.combine as CombineRule,
      overLimit: row.overLimit as OverLimitPolicy,
    })),
  );
}
