import { decodeVersioned } from '../cache/index.js';
import type { TenantFeatureState } from '../../core/index.js';
import type { FeatureMap } from '../../core/types.js';

/** A tenant's features as the reader caches and answers them, and the change messages that carry them. */

/** What the application reads to decide what a tenant may do. */
export interface TenantFeatures {
  tenantId: string;
  features: FeatureMap;
  bundle: string | null;
  scrapeIntervalHours: number | null;
  accessActive: boolean;
  subscriptionStatus: string | null;
  source: TenantFeatureState['source'];
  version: number;
  /**
   * Keys whose value is a tenant override rather than the plan's (sorted); OpenFeature answers
   * carry it as the value's source. Absent on entries cached before it was added: read as none.
   */
  overridden?: string[];
}

export function toTenantFeatures(state: TenantFeatureState): TenantFeatures {
  return {
    tenantId: state.tenantId,
    features: state.features,
    bundle: state.bundle,
    scrapeIntervalHours: state.scrapeIntervalHours,
    accessActive: state.accessActive,
    subscriptionStatus: state.subscriptionStatus,
    source: state.source,
    version: state.version,
    overridden: Object.keys(state.overrides).sort(),
  };
}

/**
 * Estimated heap bytes of one cached TenantFeatures: the object and its fields, and per feature its
 * key (two bytes a character) and its slot. Measured against the heap in bench/lookups.ts; errs high.
 */
export function estimateFeaturesBytes(entry: TenantFeatures): number {
  let bytes = 240 + 2 * entry.tenantId.length + 2 * (entry.bundle?.length ?? 0);
  // Values are booleans and numbers, held inline.
  for (const key in entry.features) bytes += 48 + 2 * key.length;
  return bytes;
}

/** A cached entry as the in-process cache keeps it once parsed: frozen, since every hit shares it. */
export function decodeEntry(raw: string): TenantFeatures | null {
  const versioned = decodeVersioned(raw);
  if (!versioned) return null;
  const features = JSON.parse(versioned.value) as TenantFeatures;
  Object.freeze(features.features);
  return Object.freeze(features);
}

/** A change as a reader reports it: committed versions (`put`), or tenants to read again (`drop`). */
export type FeatureChange = { put: TenantFeatures[] } | { drop: string[] };
export type FeatureChangeListener = (change: FeatureChange) => void;

/** What travels on the bus: committed versions to adopt, or tenants to forget. */
export type ChangeMessage = { put: TenantFeatures[] } | { drop: string[] };
