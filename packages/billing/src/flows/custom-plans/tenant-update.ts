import type { PrismaClient } from '@packages/db';
import { restrictFeatures, type TenantFeatureState } from '../../core/index.js';
import { CustomPlanError, TenantNotFoundError } from '../../core/errors.js';
import {
  inTransaction,
  raiseReadTicket,
  updateTenantFeatures,
  type Tx,
} from '../../io/tenant-store/index.js';
import type { FeatureMap } from '../../core/types.js';
import { checkoutColumns, type StoredCheckout } from './checkout.js';
import type { Lease } from './ledger.js';

/** The features a custom plan grants: base plan features, overrides on top. */
export function mergeFeatures(base: FeatureMap, overrides: FeatureMap): FeatureMap {
  const merged = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(overrides)) merged.set(key, value);
  return Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Switches the tenant to the custom plan inside `tx` (row lock, version bump, audit row). */
export async function updateTenantForCustomPlan(
  tx: Tx,
  plan: {
    tenantId: string;
    features: FeatureMap;
    overrides: FeatureMap;
    bundle: string | null;
    scrapeIntervalHours: number | null;
    productId: string;
    priceId: string;
    actor: string;
  },
): Promise<TenantFeatureState | null> {
  const outcome = await updateTenantFeatures(
    tx,
    plan.tenantId,
    (current) => {
      // Earlier tenant overrides survive, except where this plan sets the key: the newest explicit
      // decision about a feature wins, or a raised limit could stay hidden behind an old override.
      const kept = Object.fromEntries(
        Object.entries(current?.overrides ?? {}).filter(([key]) => !Object.hasOwn(plan.overrides, key)),
      );
      const effective = mergeFeatures(plan.features, kept);
      // A tenant without access keeps the keys but not the values until a subscription restores it.
      const accessActive = current?.accessActive ?? true;
      return {
        action: 'custom_plan_applied',
        patch: {
          planFeatures: plan.features,
          overrides: kept,
          features: accessActive ? effective : restrictFeatures(effective),
          bundle: plan.bundle,
          scrapeIntervalHours: plan.scrapeIntervalHours,
          source: 'custom',
          stripeProductId: plan.productId,
          stripePriceId: plan.priceId,
        },
      };
    },
    { actor: plan.actor, source: 'custom_plan' },
  );
  if (outcome.status === 'tenant_not_found') throw new TenantNotFoundError(plan.tenantId);
  return outcome.status === 'skipped' ? null : outcome.after;
}

/**
 * In one transaction: the pending row is locked and checked, the tenant switched, the row marked
 * active. Returns the tenant's committed state (null when nothing changed).
 */
export async function activateCustomPlan(
  prisma: PrismaClient,
  lease: Lease,
  plan: Parameters<typeof updateTenantForCustomPlan>[1],
  checkout: StoredCheckout | null,
): Promise<TenantFeatureState | null> {
  return inTransaction(prisma, async (tx) => {
    const rowId = lease.rowId;
    // Serialises with a concurrent resume of the same row: only the attempt holding the lease may activate it.
    await tx.$queryRaw`SELECT id FROM custom_plans WHERE id = ${rowId} FOR UPDATE`;
    const locked = await tx.customPlan.findUnique({
      where: { id: rowId },
      select: { status: true, updatedAt: true },
    });
    if (locked?.status !== 'pending' || locked.updatedAt.getTime() !== lease.at.getTime()) {
      throw new CustomPlanError(
        'custom_plan_state_changed',
        `Custom plan ${rowId} is no longer this request's to activate`,
        'tenant_update',
      );
    }
    const outcome = await updateTenantForCustomPlan(tx, plan);
    // The tenant now reflects Stripe after this plan's own Stripe steps (the subscription switch
    // included): a webhook whose read began before now must not overwrite it.
    if (outcome) await raiseReadTicket(tx, plan.tenantId, 'now');
    await tx.customPlan.update({
      where: { id: rowId },
      data: {
        status: 'active',
        stripeProductId: plan.productId,
        stripePriceId: plan.priceId,
        ...checkoutColumns(checkout),
        error: null,
      },
    });
    return outcome;
  });
}
