import type { PrismaClient } from '@packages/db';
import type { FeatureCatalog } from '../types.js';
import { loadFeatureCatalog } from './load.js';

/**
 * The database's feature catalog as the services see it: loaded once per PrismaClient and shared
 * by every service built on that client, reloaded when older than `maxAgeMs`, when this process
 * changed the catalog, or on demand (a key the cached copy does not know may have been added by
 * another process). Keys are only ever added, described or deprecated, never removed or retyped,
 * so a cached copy can lack a key but never holds a wrong one.
 */
export interface CatalogSource {
  current(): Promise<FeatureCatalog>;
  /** Reads the table now (concurrent callers share one read). */
  refresh(): Promise<FeatureCatalog>;
}

export interface CatalogSourceOptions {
  maxAgeMs?: number;
  now?: () => number;
}

const sources = new WeakMap<PrismaClient, CatalogSource & { invalidate(): void }>();

export function databaseCatalog(prisma: PrismaClient, options: CatalogSourceOptions = {}): CatalogSource {
  const existing = sources.get(prisma);
  if (existing) return existing;
  const maxAgeMs = options.maxAgeMs ?? 30_000;
  const now = options.now ?? Date.now;
  let loaded: { catalog: FeatureCatalog; at: number } | null = null;
  let inFlight: Promise<FeatureCatalog> | null = null;
  const refresh = (): Promise<FeatureCatalog> => {
    inFlight ??= loadFeatureCatalog(prisma)
      .then((catalog) => {
        loaded = { catalog, at: now() };
        return catalog;
      })
      .finally(() => {
        inFlight = null;
      });
    return inFlight;
  };
  const source = {
    refresh,
    async current() {
      return loaded && now() - loaded.at < maxAgeMs ? loaded.catalog : refresh();
    },
    invalidate() {
      loaded = null;
    },
  };
  sources.set(prisma, source);
  return source;
}

/** Called by catalog management after a commit, so this process never reads its own change late. */
export function invalidateDatabaseCatalog(prisma: PrismaClient): void {
  sources.get(prisma)?.invalidate();
}
