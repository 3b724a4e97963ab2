import type { TenantFeaturePatch, TenantFeatureState } from './tenant-state.js';

/** What a decision knows about the event it handles (and the clock and grace policy it runs under). */
export interface EventFacts {
  tenantId: string;
  eventId: string;
  eventType: string;
  /** Stripe `created` of the event. */
  created: Date;
  now: Date;
  graceMs: number;
}

/**
 * lastStripeEventAt/Id only ever move forward. Ties (Stripe's `created` has one-second
 * resolution) keep the first event seen, so redeliveries cannot make the id flap.
 */
export function watermark(base: TenantFeatureState, facts: EventFacts): TenantFeaturePatch {
  if (base.lastStripeEventAt && base.lastStripeEventAt.getTime() >= facts.created.getTime()) return {};
  return { lastStripeEventAt: facts.created, lastStripeEventId: facts.eventId };
}
