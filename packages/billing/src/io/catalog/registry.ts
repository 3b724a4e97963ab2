import type { PrismaClient } from '@packages/db';
import type { FeatureCatalog } from '../../core/types.js';
import { loadFeatureCatalog } from './load.js';

/**
 * The database's feature catalog as the services see it: loaded once per PrismaClient and shared
 * by every service built on that client. Keys are only ever added, described or deprecated, never
 * removed or retyped, so a cached copy can lack a key but never holds a wrong one; hence:
 * - `current()` answers from memory once loaded; a copy older than `maxAgeMs` is re-read in the
 *   background (never awaited, so a caller inside a transaction never waits for another connection);
 * - a change made through this process's management functions starts a re-read at once, and the
 *   next `current()` waits for it;
 * - `refresh()` (a plan names a key the copy lacks: another process may just have registered it)
 *   re-reads now, waiting at most `refreshWaitMs`: on the embedded single-connection database a
 *   caller holding a transaction would otherwise wait for itself.
 */
export interface CatalogSource {
  current(): Promise<FeatureCatalog>;
  /** Re-reads the table (concurrent callers share one read; at most once a second). */
  refresh(): Promise<FeatureCatalog>;
}

/** What Stripe metadata is checked against: a fixed catalog, the database's, or none (any well-formed key). */
export type PlanCatalog = FeatureCatalog | CatalogSource | undefined;

export function isCatalogSource(catalog: PlanCatalog): catalog is CatalogSource {
  return catalog !== undefined && typeof (catalog as Partial<CatalogSource>).current === 'function';
}

export interface CatalogSourceOptions {
  maxAgeMs?: number;
  refreshWaitMs?: number;
  now?: () => number;
}

const sources = new WeakMap<PrismaClient, CatalogSource & { invalidate(): void }>();

export function databaseCatalog(prisma: PrismaClient, options: CatalogSourceOptions = {}): CatalogSource {
  const existing = sources.get(prisma);
  if (existing) return existing;
  const maxAgeMs = options.maxAgeMs ?? 30_000;
  const refreshWaitMs = options.refreshWaitMs ?? 2_000;
  const now = options.now ?? Date.now;
  let loaded: { catalog: FeatureCatalog; at: number } | null = null;
  let inFlight: Promise<FeatureCatalog> | null = null;
  // Bumped by invalidate(): a read that started before a change must not be taken for one after it.
  let generation = 0;
  const reload = (): Promise<FeatureCatalog> => {
    if (inFlight) return inFlight;
    const gen = generation;
    const read: Promise<FeatureCatalog> = loadFeatureCatalog(prisma)
      .then((catalog) => {
        if (gen === generation) loaded = { catalog, at: now() };
        return catalog;
      })
      .finally(() => {
        if (inFlight === read) inFlight = null;
      });
    inFlight = read;
    return read;
  };
  const source = {
    async current() {
      if (!loaded) return reload();
      if (now() - loaded.at >= maxAgeMs) reload().catch(() => {});
      return loaded.catalog;
    },
    async refresh() {
      if (loaded && now() - loaded.at < 1_000) return loaded.catalog;
      const stale = loaded?.catalog;
      if (!stale) return reload();
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<FeatureCatalog>((resolve) => {
        timer = setTimeout(() => resolve(stale), refreshWaitMs);
        timer.unref();
      });
      try {
        return await Promise.race([reload(), waited]);
      } finally {
        clearTimeout(timer);
      }
    },
    invalidate() {
      generation += 1;
      loaded = null;
      inFlight = null;
      reload().catch(() => {});
    },
  };
  sources.set(prisma, source);
  return source;
}

/** Called by catalog management after a commit, so this process never reads its own change late. */
export function invalidateDatabaseCatalog(prisma: PrismaClient): void {
  sources.get(prisma)?.invalidate();
}
