import {
  applyDecision,
  decidePlanReapply,
  type EventFacts,
  type TenantFeatureState,
} from '../../core/index.js';
import { BillingError } from '../../core/errors.js';
import { stateFromJson } from '../../io/tenant-store/index.js';
import type { PlanDefaults } from '../../core/types.js';
import { idOf, type VerifiedEvent } from './event.js';
import { finishEvents, type ClaimedQueue, type FinishRow } from './inbox.js';
import { AUDIT, describe, type ClaimContext, type QueueOutcome } from './claim-context.js';

/**
 * product.updated / product.deleted / price.updated / price.deleted (queued one per event): the plan
 * cache forgets the object; with `reapplyOnPlanChange`, every tenant on that plan gets the new
 * defaults (each tenant's write on its current state, as a single-tenant apply would make it).
 */
export async function processPlanEvent(
  ctx: ClaimContext,
  claim: ClaimedQueue,
  event: VerifiedEvent,
): Promise<QueueOutcome> {
  const finish = async (row: Omit<FinishRow, 'eventId'>): Promise<QueueOutcome> => {
    const finished = await finishEvents(ctx.prisma, claim.ticket, [{ eventId: event.id, ...row }]);
    if (finished !== 1) return { kind: 'released' };
    const { id: eventId, type, created } = event;
    return {
      kind: 'done',
      events: [{ eventId, type, status: row.status, action: row.action, tenantId: null, created }],
    };
  };
  const objectId = idOf(event.object.id);
  if (!objectId) return finish({ status: 'ignored', action: 'no_object_id', tenantId: null });
  await ctx.featureSync.stripeSync.invalidatePlan(objectId);
  if (!ctx.reapplyOnPlanChange || event.type.endsWith('.deleted'))
    return finish({ status: 'processed', action: 'plan_invalidated', tenantId: null });

  const errors = await reapplyPlan(ctx, claim, event, objectId);
  return finish({
    status: 'processed',
    action: 'plan_reapplied',
    tenantId: null,
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
  });
}

/** Writes the plan's defaults to every tenant on it; returns the plans that could not be resolved. */
async function reapplyPlan(
  ctx: ClaimContext,
  claim: ClaimedQueue,
  event: VerifiedEvent,
  objectId: string,
): Promise<string[]> {
  const configs = event.type.startsWith('product.')
    ? await ctx.prisma.$queryRaw<{ config: unknown }[]>`
        SELECT row_to_json(c) AS config FROM tenant_feature_configs c
        WHERE c.stripe_product_id = ${objectId} ORDER BY c.tenant_id`
    : await ctx.prisma.$queryRaw<{ config: unknown }[]>`
        SELECT row_to_json(c) AS config FROM tenant_feature_configs c
        WHERE c.stripe_price_id = ${objectId} ORDER BY c.tenant_id`;
  // A plan that cannot be resolved is remembered as its error, so every tenant on it is skipped.
  const plans = new Map<string, PlanDefaults | BillingError>();
  const errors: string[] = [];
  for (const { config } of configs) {
    const start = stateFromJson(config);
    const planId = start.stripePriceId ?? start.stripeProductId;
    if (!planId) continue;
    let plan = plans.get(planId);
    if (!plan) {
      try {
        plan = await ctx.featureSync.stripeSync.getPlanDefaultsFromStripe(planId);
      } catch (error) {
        // Broken metadata will not fix itself on a retry; the fix arrives as a new product.updated.
        // Only the tenants on *that* plan are skipped.
        if (!(error instanceof BillingError)) throw error;
        plan = error;
        errors.push(describe(error));
      }
      plans.set(planId, plan);
    }
    if (!(plan instanceof BillingError)) await reapplyToTenant(ctx, claim, event, start, plan);
  }
  return errors;
}

async function reapplyToTenant(
  ctx: ClaimContext,
  claim: ClaimedQueue,
  event: VerifiedEvent,
  start: TenantFeatureState,
  plan: PlanDefaults,
): Promise<void> {
  const tenantId = start.tenantId;
  // Anything but a written state ends it: a newer read of this tenant (its subscription, with the
  // plan read afresh) is already stored, the tenant is gone, or it kept changing.
  const result = await ctx.writes.writeOnCurrent(tenantId, start, (state) => {
    if (!state) return null;
    const f: EventFacts = {
      tenantId,
      eventId: event.id,
      eventType: event.type,
      created: event.created,
      now: ctx.now(),
      graceMs: ctx.graceMs,
    };
    const decision = decidePlanReapply(state, plan, f);
    if ('skip' in decision) return null;
    const applied = applyDecision(tenantId, state, decision, event.id);
    if (!applied.changed) return null;
    return {
      tenantId,
      ticket: claim.ticket,
      expectedVersion: state.version,
      next: applied.step.after,
      audits: applied.step.audited ? [applied.step] : [],
      ...AUDIT,
    };
  });
  if (result.status === 'written' && result.state) await ctx.writes.publish(result.state);
}
