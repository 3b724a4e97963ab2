import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { databaseCatalog, isCatalogSource } from '../../io/catalog/registry.js';
import { checkoutUrlsFromProcessEnv } from '../../io/config.js';
import { BillingError, UnknownFeatureError } from '../../core/errors.js';
import { createStripeSyncService, mapStripeError } from '../../io/stripe-sync/index.js';
import { uncachedFeatureReader } from '../../io/feature-cache/index.js';
import type { FeatureMap } from '../../core/types.js';
import { deriveKey } from './idempotency.js';
import { parseInput, parseShape } from './input.js';
import { createCustomPlanLedger } from './ledger.js';
import { createStripeSteps } from './stripe-steps.js';
import { createPlanReplay } from './replay.js';
import { createCustomPlan, type CustomPlanFlowDeps } from './create-plan.js';
import type {
  CheckoutUrls,
  CreateCustomPlanInput,
  CustomPlanService,
  CustomPlanServiceOptions,
  CustomPlanStripeSync,
  StripeCall,
} from './types.js';

/**
 * How long a pending row counts as someone's work in progress. Longer than one slow Stripe call with
 * its retries (SDK timeout 80 s, plus our backoff), so a live attempt is not taken over mid-call.
 */
export const DEFAULT_IN_PROGRESS_WINDOW_MS = 180_000;

/**
 * Orchestrates a custom plan: validate → claim the row → product → price → (checkout) → switch the
 * tenant, recording each Stripe id on the row as soon as it exists and archiving them on failure.
 */
export function createCustomPlanService(
  stripe: Stripe,
  prisma: PrismaClient,
  options: CustomPlanServiceOptions = {},
): CustomPlanService {
  const now = options.now ?? (() => new Date());
  const ledger = createCustomPlanLedger(prisma, {
    now,
    inProgressWindowMs: options.inProgressWindowMs ?? DEFAULT_IN_PROGRESS_WINDOW_MS,
  });

  // The database's catalog unless one is given: the same one every service on this database reads.
  const catalog = options.catalog ?? databaseCatalog(prisma);
  const featureReader = options.featureReader ?? uncachedFeatureReader(prisma);
  // Built without URLs (the spec's two-argument form): this process's configured defaults. Null: none
  // (the composition root passes what it parsed, so nothing is read behind its back).
  const checkoutBaseUrls = (): CheckoutUrls | undefined =>
    options.checkoutBaseUrls === undefined
      ? checkoutUrlsFromProcessEnv()
      : (options.checkoutBaseUrls ?? undefined);
  if (isCatalogSource(catalog)) catalog.current().catch(() => {});
  /** Overrides checked against the catalog, asked again once if it lacks a key (another process may just have added it). */
  const parseChecked = async (raw: CreateCustomPlanInput) => {
    if (!isCatalogSource(catalog)) return parseInput(raw, catalog);
    try {
      return parseInput(raw, await catalog.current());
    } catch (error) {
      if (!(error instanceof UnknownFeatureError)) throw error;
      return parseInput(raw, await catalog.refresh());
    }
  };

  const ownSync: CustomPlanStripeSync | null = options.stripeSync
    ? null
    : createStripeSyncService(stripe, { catalog });
  const stripeSync = async (): Promise<CustomPlanStripeSync> => options.stripeSync ?? ownSync!;

  const call: StripeCall = async (label, fn) => {
    const sync = await stripeSync();
    if (sync.call) return sync.call(label, fn);
    return fn().catch((error: unknown) => {
      throw mapStripeError(error, label);
    });
  };
  const steps = createStripeSteps(stripe, call);

  /**
   * What the customer's subscriptions grant once the plan item is on `priceId`: the custom plan with
   * the add-on items it kept (and other subscriptions), as the switch's webhook will combine them.
   * A failed read leaves the custom plan alone: the webhook brings the add-ons.
   */
  async function combinedAfterSwitch(
    customerId: string,
    priceId: string,
    planFeatures: FeatureMap,
  ): Promise<FeatureMap> {
    const sync = await stripeSync();
    if (!sync.getSubscriptionState) return planFeatures;
    try {
      const { active } = await sync.getSubscriptionState(customerId);
      return active?.priceId === priceId ? active.plan.features : planFeatures;
    } catch (error) {
      if (error instanceof BillingError) return planFeatures;
      throw error;
    }
  }

  const replay = createPlanReplay({
    stripe,
    call,
    steps,
    ledger,
    now,
    checkoutBaseUrls,
    grantingSubscription: async (customerId) => (await stripeSync()).getGrantingSubscription(customerId),
  });

  const flow: CustomPlanFlowDeps = {
    prisma,
    stripe,
    call,
    steps,
    ledger,
    replay,
    featureReader,
    checkoutBaseUrls,
    stripeSync,
    parseChecked,
    combinedAfterSwitch,
  };

  return {
    idempotencyKeyFor(raw) {
      const parsed = parseShape(raw);
      if (parsed.idempotencyKey) return parsed.idempotencyKey;
      // Overrides are not catalog-checked here; the key only needs to be stable for equal input.
      const overrides = (parsed.overrides ?? {}) as FeatureMap;
      return deriveKey({ ...parsed, overrides });
    },

    createCustomEnterprisePlan: (raw) => createCustomPlan(flow, raw),
  };
}
