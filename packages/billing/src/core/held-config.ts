import type { TenantFeatureState } from './tenant-state.js';

/** Manual configs, and custom configs for a price other than the one Stripe bills, are not overwritten by plans. */
export function isHeldConfig(state: TenantFeatureState, priceId: string | null): boolean {
  return state.source === 'manual' || (state.source === 'custom' && state.stripePriceId !== priceId);
}
