import type { EventFacts } from './event-facts.js';
import { restrictedFeatures } from './restriction.js';
import type { Decision, TenantFeatureState } from './tenant-state.js';

/** How long a tenant keeps access after its first unpaid invoice, unless configured otherwise. */
export const DEFAULT_GRACE_PERIOD_DAYS = 7;
const DAY_MS = 86_400_000;

/** The grace period in milliseconds: the one conversion every path (webhook, cron, reconcile) uses. */
export function gracePeriodMs(gracePeriodDays: number = DEFAULT_GRACE_PERIOD_DAYS): number {
  return gracePeriodDays * DAY_MS;
}

export function graceExpired(
  paymentFailedAt: Date | null,
  facts: Pick<EventFacts, 'now' | 'graceMs'>,
): boolean {
  return paymentFailedAt !== null && facts.now.getTime() - paymentFailedAt.getTime() >= facts.graceMs;
}

/** The cron side of the grace policy: same predicate as the webhook path. */
export function decideGraceEnforcement(
  current: TenantFeatureState | null,
  facts: Pick<EventFacts, 'now' | 'graceMs'>,
): Decision {
  if (!current || !current.accessActive || !graceExpired(current.paymentFailedAt, facts))
    return { skip: 'within_grace' };
  return {
    patch: { accessActive: false, features: restrictedFeatures(current) },
    action: 'payment_grace_expired',
  };
}
