import type { FeatureMap, FeatureValue } from './types.js';

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
export function combineFeatures(base: FeatureMap, top: FeatureMap): FeatureMap {
  const merged = new Map<string, FeatureValue>(Object.entries(base));
  for (const [k, v] of Object.entries(top)) merged.set(k, v);
  return featureMapOf(merged);
}

export function copyFeatures(map: FeatureMap): FeatureMap {
  return featureMapOf(Object.entries(map));
}

export function featureMapOf(entries: Iterable<readonly [string, FeatureValue]>): FeatureMap {
  return Object.fromEntries<FeatureValue>(entries);
}
