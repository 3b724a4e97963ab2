import type { PrismaClient } from '@packages/db';
import { createNoCache } from '../cache/index.js';
import { createFeatureReader, type FeatureReader } from './feature-reader.js';

/**
 * The reader of a service built without one (the spec's argument lists, such as
 * `createFeatureSyncService(prisma, stripeSync)` and `createCustomPlanService(stripe, prisma)`): it
 * caches nothing, so services built apart never read a value older than another's last commit, and
 * nothing is shared behind the caller's back. A cache is shared by passing it: build the services
 * through `createBillingContext`, or give each the same `featureReader`.
 */
export function uncachedFeatureReader(prisma: PrismaClient): FeatureReader {
  return createFeatureReader(prisma, createNoCache());
}
