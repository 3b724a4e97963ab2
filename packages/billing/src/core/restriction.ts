import type { FeatureMap } from './types.js';
import { featureMapOf } from './feature-map.js';
import type { TenantFeatureState } from './tenant-state.js';

/** Every boolean off and every limit 0, keeping the keys so the UI can still show what was lost. */
export function restrictFeatures(features: FeatureMap): FeatureMap {
  return featureMapOf(Object.entries(features).map(([k, v]) => [k, typeof v === 'boolean' ? false : 0]));
}

/** Every key the tenant could have, switched off; kept visible so the UI can show what was lost. */
export function restrictedFeatures(state: TenantFeatureState): FeatureMap {
  return restrictFeatures(
    Object.fromEntries([
      ...Object.entries(state.features),
      ...Object.entries(state.planFeatures),
      ...Object.entries(state.overrides),
    ]),
  );
}

/** The unrestricted feature map: plan defaults with the tenant's overrides on top. */
export function derivedFeatures(state: TenantFeatureState): FeatureMap {
  return Object.fromEntries([...Object.entries(state.planFeatures), ...Object.entries(state.overrides)]);
}
