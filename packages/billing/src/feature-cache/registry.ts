import type { PrismaClient } from '@packages/db';
import { createMemoryCache } from '../cache/index.js';
import { createFeatureReader, type FeatureReader } from './feature-reader.js';

/**
 * One feature reader per database (PrismaClient), so services built separately — the spec's
 * `createFeatureSyncService(prisma, stripeSync)` and `createCustomPlanService(stripe, prisma)` —
 * read and publish through the same cache: what one commits, the other reads next.
 */
const readers = new WeakMap<PrismaClient, FeatureReader>();

/** The reader registered for `prisma`, or a new in-memory one registered on first use. */
export function featureReaderFor(prisma: PrismaClient): FeatureReader {
  let reader = readers.get(prisma);
  if (!reader) {
    reader = createFeatureReader(prisma, createMemoryCache());
    readers.set(prisma, reader);
  }
  return reader;
}

/** Makes `reader` the one services built on `prisma` without their own use (the composition root's Redis-backed reader). */
export function registerFeatureReader(prisma: PrismaClient, reader: FeatureReader): void {
  readers.set(prisma, reader);
}
