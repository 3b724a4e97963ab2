import type { PrismaClient } from '@packages/db';
import { decidePlanChange, isNoOp, type PlanChangeOptions } from '../../core/index.js';
import {
  BillingError,
  ConcurrencyError,
  EntitlementFeatureError,
  MetadataError,
  PlanNotFoundError,
  TenantNotFoundError,
} from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import { validateFeatureMap } from '../../io/metadata/index.js';
import type { StripeSyncService } from '../../io/stripe-sync/index.js';
import {
  applyDecision,
  readForTicketedWrite,
  readTenantState,
  updateTenantFeatures,
  writeTicketed,
  wroteVersion,
  type Tx,
  type UpdateOutcome,
} from '../../io/tenant-store/index.js';
import type {
  AuditSourceName,
  FeatureCatalog,
  FeatureMap,
  MergeStrategy,
  PlanDefaults,
} from '../../core/types.js';

export interface ApplyPlanDefaultsOptions {
  force?: boolean;
  mergeStrategy?: MergeStrategy;
  /** Compute before/after without opening a transaction. */
  dryRun?: boolean;
  actor?: string;
  source?: AuditSourceName;
}

export interface ApplyPlanResult {
  success: boolean;
  /** tenant_not_found | plan_not_found | invalid_metadata | invalid_entitlement_feature | unknown_feature | custom_config | plan_for_other_tenant | up_to_date */
  reason?: string;
  tenantId: string;
  planId: string;
  before: FeatureMap | null;
  after: FeatureMap | null;
  changed: boolean;
  version?: number;
}

export interface ApplyInTransactionOptions extends PlanChangeOptions {
  actor: string;
  source: AuditSourceName;
  /** Record this Stripe customer on the tenant if it has none yet (same transaction as the config). */
  linkCustomerId?: string;
}

/**
 * The transactional core for callers that own the transaction (the webhook handler commits its
 * event row with the change). The caller must `publish` the outcome's `after` once committed.
 */
export async function applyPlanInTransaction(
  tx: Tx,
  tenantId: string,
  plan: PlanDefaults,
  options: ApplyInTransactionOptions,
): Promise<UpdateOutcome> {
  const outcome = await updateTenantFeatures(
    tx,
    tenantId,
    (current) => decidePlanChange(current, tenantId, plan, options),
    {
      actor: options.actor,
      source: options.source,
      stripeEventId: options.stripeEventId ?? null,
    },
  );
  if (options.linkCustomerId && outcome.status !== 'tenant_not_found') {
    // Only fills a gap: a tenant already bound to another customer is never re-pointed by a sync.
    await tx.tenant.updateMany({
      where: { id: tenantId, stripeCustomerId: null },
      data: { stripeCustomerId: options.linkCustomerId },
    });
  }
  return outcome;
}

export { wroteVersion };

export function checkPlanAgainstCatalog(plan: PlanDefaults, catalog: FeatureCatalog | undefined): void {
  if (catalog) validateFeatureMap(plan.features, catalog, `plan ${plan.priceId ?? plan.productId}`);
}

/**
 * A lost round is never wasted work by nobody: a stale version or ticket means another writer's write
 * committed in between. So these bounds only need to exceed the writers one tenant sees at once: of ten
 * concurrent applies, one can lose up to nine rounds in a row, and with a bound of 3 it then failed
 * with ConcurrencyError (feature-sync's concurrent-applies test, on a loaded machine) although every
 * round it lost was another writer's progress.
 */
const MAX_VERSION_RETRIES = 10;
const MAX_TICKET_ROUNDS = 10;

/** Skip reasons that are a successful no-op rather than a refusal. */
const SUCCESSFUL_SKIPS = new Set(['up_to_date']);

export function createPlanApplier(deps: {
  prisma: PrismaClient;
  stripeSync: StripeSyncService;
  reader: FeatureReader;
  catalog?: FeatureCatalog;
}) {
  const { prisma, stripeSync, reader } = deps;

  /**
   * Throws TenantNotFoundError, PlanNotFoundError, MetadataError (plan metadata unusable) and
   * Stripe errors; refusals (custom_config, plan_for_other_tenant) and no-ops come back as results.
   */
  async function applyPlanDefaultsToTenantOrThrow(
    tenantId: string,
    planId: string,
    options: ApplyPlanDefaultsOptions = {},
  ): Promise<ApplyPlanResult> {
    const {
      force = false,
      mergeStrategy = 'merge',
      dryRun = false,
      actor = 'system',
      source = 'sync',
    } = options;
    // Round trip 1: a read ticket, the tenant and its config. The tenant is checked before Stripe is
    // asked (a typo costs no Stripe call); the ticket is taken before the plan is read, so this
    // write cannot overwrite the result of a Stripe read that started after it (see ticketed-write.ts).
    for (let round = 1; ; round += 1) {
      const read = await readForTicketedWrite(prisma, tenantId);
      if (!read.tenant) throw new TenantNotFoundError(tenantId);
      const plan = await stripeSync.getPlanDefaultsFromStripe(planId);
      checkPlanAgainstCatalog(plan, deps.catalog);
      let current = read.state;
      for (let tries = 0; ; tries += 1) {
        const base = { tenantId, planId, before: current?.features ?? null };
        const decision = decidePlanChange(current, tenantId, plan, { force, mergeStrategy });
        if ('skip' in decision) {
          return {
            ...base,
            success: SUCCESSFUL_SKIPS.has(decision.skip),
            reason: decision.skip,
            after: current?.features ?? null,
            changed: false,
            version: current?.version,
          };
        }
        if (dryRun) {
          const changed = current === null || !isNoOp(current, decision.patch);
          return {
            ...base,
            success: true,
            after: decision.patch.features ?? null,
            changed,
            version: current?.version,
            ...(changed ? {} : { reason: 'up_to_date' }),
          };
        }
        const { changed, step } = applyDecision(tenantId, current, decision, null);
        if (!changed) {
          return {
            ...base,
            success: true,
            after: current!.features,
            changed: false,
            version: current!.version,
            reason: 'up_to_date',
          };
        }
        // Round trip 2: config, version, ticket and audit row in one statement.
        const result = await writeTicketed(prisma, {
          tenantId,
          ticket: read.ticket,
          expectedVersion: current?.version ?? 0,
          next: step.after,
          audits: step.audited ? [step] : [],
          actor,
          source,
        });
        if (result.status === 'written') {
          const after = result.state!;
          await reader.publish([after]);
          return {
            ...base,
            success: true,
            after: after.features,
            changed: step.audited,
            version: after.version,
            ...(step.audited ? {} : { reason: 'up_to_date' }),
          };
        }
        if (result.status === 'tenant_not_found') throw new TenantNotFoundError(tenantId);
        if (result.status === 'stale_ticket') break;
        if (result.status !== 'stale_version' || tries >= MAX_VERSION_RETRIES)
          throw new ConcurrencyError(tenantId, tries + 1);
        // Another writer (an override, say) changed the config: decide again on it, same plan read.
        current = (await readTenantState(prisma, tenantId))?.state ?? null;
      }
      // A Stripe read that started after ours was written first: read the plan again, with a new ticket.
      if (round >= MAX_TICKET_ROUNDS) throw new ConcurrencyError(tenantId, round);
    }
  }

  /** Same, but unknown tenant/plan and unusable metadata come back as `success: false` with a reason. */
  async function applyPlanDefaultsToTenant(
    tenantId: string,
    planId: string,
    options: ApplyPlanDefaultsOptions = {},
  ): Promise<ApplyPlanResult> {
    try {
      return await applyPlanDefaultsToTenantOrThrow(tenantId, planId, options);
    } catch (error) {
      const expected =
        error instanceof TenantNotFoundError ||
        error instanceof PlanNotFoundError ||
        error instanceof MetadataError ||
        error instanceof EntitlementFeatureError ||
        (error instanceof BillingError &&
          (error.code === 'unknown_feature' || error.code === 'validation_error'));
      if (!expected) throw error;
      return {
        success: false,
        reason: error.code,
        tenantId,
        planId,
        before: null,
        after: null,
        changed: false,
      };
    }
  }

  return { applyPlanDefaultsToTenant, applyPlanDefaultsToTenantOrThrow };
}
