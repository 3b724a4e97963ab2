import { randomUUID } from 'node:crypto';
import type { CustomPlan, Prisma, PrismaClient } from '@packages/db';
import { asFeatureMap } from '../../core/index.js';
import { CustomPlanError } from '../../core/errors.js';
import type { FeatureMap } from '../../core/types.js';
import { failedKey, stripeKeyBase } from './idempotency.js';
import { checkoutColumns, type StoredCheckout } from './checkout.js';
import type { ParsedInput } from './input.js';
import type { CreatedObjects, CustomPlanStep, SwitchedSubscription } from './types.js';

/**
 * An attempt's hold on its pending row: the row's `updated_at` as this attempt last wrote it. Every
 * write is conditional on it, so an attempt taken over by a retry (it looked abandoned) finds out at
 * its next write and stops, instead of undoing or finishing what the retry now owns.
 */
export interface Lease {
  readonly rowId: string;
  at: Date;
}

export type FailureRecord = 'marked' | 'lost' | 'unreachable';

/** The `custom_plans` row of one request: its claim, progress, and outcome. */
export interface CustomPlanLedger {
  find(key: string): Promise<CustomPlan | null>;
  /** The Stripe idempotency-key base for the current attempt at `key`. */
  stripeKeyFor(key: string): Promise<string>;
  claim(key: string, input: ParsedInput, features: FeatureMap): Promise<Claim>;
  /** Refreshes the lease (and writes `data`); throws `custom_plan_state_changed` once another attempt owns the row. */
  touch(lease: Lease, data?: Prisma.CustomPlanUpdateManyMutationInput): Promise<void>;
  recordProduct(lease: Lease, productId: string): Promise<void>;
  recordPrice(lease: Lease, priceId: string): Promise<void>;
  /** Written before the subscription is moved, so the move can be undone even by a resumed attempt. */
  recordSwitch(lease: Lease, switched: SwitchedSubscription): Promise<void>;
  /** The checkout of an already active plan (no lease: the row is no longer pending). */
  recordCheckout(rowId: string, checkout: StoredCheckout): Promise<void>;
  /**
   * Marks the row failed, if this attempt still owns it: `lost` when another attempt does (which then
   * owns the Stripe objects too), `unreachable` when the database could not be written.
   */
  markFailed(
    lease: Lease,
    key: string,
    step: CustomPlanStep,
    message: string,
    ids: CreatedObjects,
  ): Promise<FailureRecord>;
  findById(rowId: string): Promise<CustomPlan | null>;
  /** Best effort: a failed row's final error, once compensation has run (with what it could not undo). */
  noteOutcome(rowId: string, message: string): Promise<void>;
}

export type Claim =
  { row: CustomPlan; stripeKey: string; lease: Lease } | { done: CustomPlan; stripeKey: string };

export function createCustomPlanLedger(
  prisma: PrismaClient,
  options: { now: () => Date; inProgressWindowMs: number },
): CustomPlanLedger {
  const { now, inProgressWindowMs } = options;
  // Strictly increasing per lease, so two writes in the same millisecond still tell attempts apart.
  const nextLeaseTime = (lease: Lease) => new Date(Math.max(now().getTime(), lease.at.getTime() + 1));

  async function touch(lease: Lease, data: Prisma.CustomPlanUpdateManyMutationInput = {}): Promise<void> {
    const at = nextLeaseTime(lease);
    const { count } = await prisma.customPlan.updateMany({
      where: { id: lease.rowId, status: 'pending', updatedAt: lease.at },
      data: { ...data, updatedAt: at },
    });
    if (count !== 1) {
      throw new CustomPlanError(
        'custom_plan_state_changed',
        `Custom plan ${lease.rowId} was taken over or finished by another request`,
        'pending',
      );
    }
    lease.at = at;
  }

  async function stripeKeyFor(key: string): Promise<string> {
    const prefix = failedKey(key, '');
    // Counted across all tenants: Stripe scopes idempotency keys to the API key, not to our tenant,
    // so a key once used for another tenant's failed attempt must not be replayed with new parameters.
    const failed = await prisma.customPlan.findMany({
      where: { status: 'failed', idempotencyKey: { startsWith: prefix } },
      select: { idempotencyKey: true },
    });
    // Filtered again here: a caller key containing LIKE wildcards (% or _) must not match other keys.
    const attempts = failed.filter((row) => row.idempotencyKey.startsWith(prefix)).length;
    return stripeKeyBase(key, attempts);
  }

  return {
    find: (key) => prisma.customPlan.findUnique({ where: { idempotencyKey: key } }),

    stripeKeyFor,

    claim: (key, input, features) =>
      claimRow(prisma, { now, inProgressWindowMs, stripeKeyFor }, key, input, features),

    touch,

    recordProduct: (lease, productId) => touch(lease, { stripeProductId: productId }),

    recordPrice: (lease, priceId) => touch(lease, { stripePriceId: priceId }),

    recordSwitch: (lease, switched) =>
      touch(lease, {
        switchedSubscriptionId: switched.subscriptionId,
        switchedItemId: switched.itemId,
        switchedFromPriceId: switched.previousPriceId,
      }),

    async recordCheckout(rowId, checkout) {
      await prisma.customPlan.update({ where: { id: rowId }, data: checkoutColumns(checkout) });
    },

    async markFailed(lease, key, step, message, ids) {
      try {
        const { count } = await prisma.customPlan.updateMany({
          where: { id: lease.rowId, status: 'pending', updatedAt: lease.at },
          data: {
            status: 'failed',
            error: `[${step}] ${message}`.slice(0, 4000),
            idempotencyKey: failedKey(key, lease.rowId),
            ...(ids.productId ? { stripeProductId: ids.productId } : {}),
            ...(ids.priceId ? { stripePriceId: ids.priceId } : {}),
          },
        });
        return count === 1 ? 'marked' : 'lost';
      } catch {
        // The pending row still names what was created, so a retry resumes it with the same objects.
        return 'unreachable';
      }
    },

    findById: (rowId) => prisma.customPlan.findUnique({ where: { id: rowId } }),

    async noteOutcome(rowId, message) {
      await prisma.customPlan
        .update({ where: { id: rowId }, data: { error: message.slice(0, 4000) } })
        .catch(() => {});
    },
  };
}

/**
 * The pending row for this key (new or resumed) and the Stripe idempotency-key base for this
 * attempt. Stripe replays a key's first response for 24 h, errors included, so an attempt after
 * a failure must use fresh Stripe keys: failed rows are renamed `<key>#failed:<id>`, and the
 * number of those gives the attempt its own suffix.
 */
async function claimRow(
  prisma: PrismaClient,
  deps: { now: () => Date; inProgressWindowMs: number; stripeKeyFor: (key: string) => Promise<string> },
  key: string,
  input: ParsedInput,
  features: FeatureMap,
): Promise<Claim> {
  const { now, inProgressWindowMs, stripeKeyFor } = deps;
  for (let tries = 0; tries < 3; tries += 1) {
    const existing = await prisma.customPlan.findUnique({ where: { idempotencyKey: key } });
    if (existing) {
      assertSameRequest(existing, input);
      if (existing.status === 'active') return { done: existing, stripeKey: await stripeKeyFor(key) };
      if (existing.status === 'pending') {
        if (now().getTime() - existing.updatedAt.getTime() < inProgressWindowMs) {
          throw new CustomPlanError(
            'custom_plan_in_progress',
            `Custom plan ${existing.id} for this request is still being created; retry shortly`,
            'pending',
          );
        }
        // Take the stale row over atomically: without this, concurrent retries would all resume
        // it, and the ones that lose the activation would archive the Stripe objects they share
        // (same idempotency keys) with the one that won.
        const at = now();
        const { count } = await prisma.customPlan.updateMany({
          where: { id: existing.id, status: 'pending', updatedAt: existing.updatedAt },
          data: { updatedAt: at },
        });
        if (count === 1)
          return {
            row: { ...existing, updatedAt: at },
            stripeKey: await stripeKeyFor(key),
            lease: { rowId: existing.id, at },
          };
        continue;
      }
      // A failed row that still holds the key (e.g. the rename itself failed): free the key and go again.
      await prisma.customPlan.updateMany({
        where: { id: existing.id, status: 'failed' },
        data: { idempotencyKey: failedKey(key, existing.id) },
      });
      continue;
    }
    // ON CONFLICT DO NOTHING instead of catching a unique violation: a concurrent call with the
    // same key simply loses, and no failed statement is sent (the embedded database drops its
    // connection after one).
    const id = randomUUID();
    // By the service clock, which is what other attempts judge staleness by.
    const at = now();
    const { count } = await prisma.customPlan.createMany({
      data: [
        {
          id,
          tenantId: input.tenantId,
          basePlanId: input.basePlanId,
          planName: input.planName,
          status: 'pending',
          priceCents: input.priceCents,
          currency: input.currency,
          interval: input.recurringInterval,
          features,
          overrides: input.overrides,
          idempotencyKey: key,
          createdAt: at,
          updatedAt: at,
        },
      ],
      skipDuplicates: true,
    });
    // Counted only now that this attempt holds the key: an attempt that failed a moment ago is
    // then already renamed and counted, so its Stripe keys are never reused with new parameters.
    if (count === 1) {
      return {
        row: await prisma.customPlan.findUniqueOrThrow({ where: { id } }),
        stripeKey: await stripeKeyFor(key),
        lease: { rowId: id, at },
      };
    }
  }
  throw new CustomPlanError(
    'custom_plan_in_progress',
    'Custom plan row for this request keeps changing; retry shortly',
    'pending',
  );
}

/**
 * Rows keep the request's overrides, so the check is exact: a reused key with one override fewer
 * is a different plan. Rows older than that column can only be checked key by key against the
 * merged features.
 */
function sameOverrides(row: CustomPlan, features: FeatureMap, overrides: FeatureMap): boolean {
  if (row.overrides === null)
    return Object.entries(overrides).every(([key, value]) => features[key] === value);
  const stored = asFeatureMap(row.overrides);
  const keys = Object.keys(overrides);
  return keys.length === Object.keys(stored).length && keys.every((key) => stored[key] === overrides[key]);
}

/** The row matches the request, or the caller reused an idempotency key for something else. */
export function assertSameRequest(row: CustomPlan, input: ParsedInput): void {
  const features = asFeatureMap(row.features);
  const mismatch =
    row.tenantId !== input.tenantId ||
    row.basePlanId !== input.basePlanId ||
    row.priceCents !== input.priceCents ||
    row.currency !== input.currency ||
    row.interval !== input.recurringInterval ||
    row.planName !== input.planName ||
    !sameOverrides(row, features, input.overrides);
  if (mismatch) {
    throw new CustomPlanError(
      'idempotency_conflict',
      `Idempotency key "${row.idempotencyKey}" was already used for a different custom plan (${row.id})`,
      'pending',
    );
  }
}
