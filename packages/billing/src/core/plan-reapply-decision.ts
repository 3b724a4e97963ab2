import type { PlanDefaults } from './types.js';
import { type EventFacts, watermark } from './event-facts.js';
import { isHeldConfig } from './held-config.js';
import { planPatch } from './plan-patch.js';
import type { Decision, TenantFeatureState } from './tenant-state.js';

/** product/price updated with reapplyOnPlanChange: new plan defaults, access state untouched. */
export function decidePlanReapply(
  current: TenantFeatureState | null,
  plan: PlanDefaults,
  facts: EventFacts,
): Decision {
  if (!current) return { skip: 'no_config' };
  if (plan.tenantId && plan.tenantId !== facts.tenantId) return { skip: 'plan_for_other_tenant' };
  if (isHeldConfig(current, plan.priceId)) return { skip: 'custom_config' };
  return {
    patch: {
      ...watermark(current, facts),
      ...planPatch(current, plan, { strategy: 'merge', accessActive: current.accessActive }),
      // The tenant stays on the product/price it is billed for; only what the plan grants changes.
      stripeProductId: current.stripeProductId,
      stripePriceId: current.stripePriceId,
    },
    action: 'plan_updated',
  };
}
