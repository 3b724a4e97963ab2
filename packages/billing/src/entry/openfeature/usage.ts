import { TenantNotFoundError } from '../../core/errors.js';
import type { UsageService } from '../../flows/usage/index.js';
import type { RemainingOf } from './evaluation.js';

/**
 * OpenFeature over the usage service: a metered key evaluates to the amount left this period
 * (`limit - used - reserved`), and `track(key, { targetingKey }, { value })` counts usage.
 * Reading the usage costs the usage service's read per evaluation, and a metered answer is never
 * a 304 (the amount moves without a new version), so wire it only where metered keys are read.
 */
export function remainingFromUsage(
  usage: Pick<UsageService, 'getUsage'>,
): (tenantId: string) => Promise<RemainingOf | undefined> {
  return async (tenantId) => {
    let meters;
    try {
      ({ meters } = await usage.getUsage(tenantId));
    } catch (error) {
      // A tenant the usage service does not know has nothing metered; evaluation says the rest.
      if (error instanceof TenantNotFoundError) return undefined;
      throw error;
    }
    if (meters.length === 0) return undefined;
    // Unlimited (`remaining: null`) reads as the plan's value.
    const left = new Map(meters.map((m) => [m.key, m.remaining]));
    return (key) => left.get(key) ?? undefined;
  };
}
