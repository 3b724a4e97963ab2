import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { databaseCatalog, isCatalogSource } from '../catalog/registry.js';
import { checkoutUrlsFromProcessEnv } from '../config.js';
import { asFeatureMap, type TenantFeatureState } from '../core/index.js';
import {
  BillingError,
  CustomPlanError,
  messageOf,
  TenantNotFoundError,
  UnknownFeatureError,
  ValidationError,
} from '../errors.js';
import { createStripeSyncService, mapStripeError, type GrantingSubscription } from '../stripe-sync/index.js';
import { uncachedFeatureReader } from '../feature-cache/index.js';
import type { FeatureMap } from '../types.js';
import { storedCheckout, type StoredCheckout } from './checkout.js';
import { archiveCreated, stepError } from './compensation.js';
import { deriveKey, keyFor } from './idempotency.js';
import { ensureTenantCustomer } from './customer.js';
import { checkoutUrls, defaultLinkUrls, linkMode, parseInput, parseShape } from './input.js';
import { assertSameRequest, createCustomPlanLedger } from './ledger.js';
import { createStripeSteps, customPlanMetadata } from './stripe-steps.js';
import { createPlanReplay } from './replay.js';
import {
  onPrice,
  refuseSecondSubscription,
  requireSubscriptionToSwitch,
  switchOf,
  switchToPrice,
} from './subscription.js';
import { activateCustomPlan, mergeFeatures } from './tenant-update.js';
import type {
  CheckoutUrls,
  CreateCustomPlanInput,
  CreatedObjects,
  CustomPlanResult,
  CustomPlanService,
  CustomPlanServiceOptions,
  CustomPlanStep,
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

  return {
    idempotencyKeyFor(raw) {
      const parsed = parseShape(raw);
      if (parsed.idempotencyKey) return parsed.idempotencyKey;
      // Overrides are not catalog-checked here; the key only needs to be stable for equal input.
      const overrides = (parsed.overrides ?? {}) as FeatureMap;
      return deriveKey({ ...parsed, overrides });
    },

    async createCustomEnterprisePlan(raw) {
      const input = await parseChecked(raw);
      const tenant = await prisma.tenant.findUnique({ where: { id: input.tenantId } });
      if (!tenant) throw new TenantNotFoundError(input.tenantId);
      const mode = linkMode(input);
      const actor = input.actor ?? 'custom_plan';
      let urls: CheckoutUrls | null = null;
      let customerId = tenant.stripeCustomerId;
      if (mode === 'checkout') {
        if (!customerId) {
          throw new ValidationError(
            `Tenant "${tenant.id}" has no Stripe customer; a checkout session needs one`,
            [{ path: 'createCheckoutSession', message: 'tenant has no stripeCustomerId' }],
          );
        }
        urls = checkoutUrls(input, checkoutBaseUrls());
      }
      if (mode === 'auto') {
        // URLs first: a missing configuration must not leave a customer created for nothing.
        urls = defaultLinkUrls(input, checkoutBaseUrls());
        customerId ??= await ensureTenantCustomer(prisma, steps, tenant, actor);
      }
      const key = keyFor(input);

      // A completed plan is answered from the row (Stripe is only asked about its checkout or subscription).
      const completed = await ledger.find(key);
      if (completed?.status === 'active') {
        assertSameRequest(completed, input);
        return replay(completed, input, customerId, await ledger.stripeKeyFor(key));
      }

      const base = await (await stripeSync()).getPlanDefaultsFromStripe(input.basePlanId);
      if (base.custom && base.tenantId !== null && base.tenantId !== input.tenantId) {
        throw new ValidationError(
          `Plan "${input.basePlanId}" is a custom plan of another tenant and cannot be a base plan`,
          [{ path: 'basePlanId', message: 'belongs to another tenant' }],
        );
      }
      const features = mergeFeatures(base.features, input.overrides);
      // Before any row exists: metadata that cannot fit Stripe's limits is a validation error, not a failure.
      customPlanMetadata(input, base, features, 'pending');

      // Checked before anything is written: checkout for a paying customer would bill them twice, and
      // a switch needs a subscription to move.
      let subscription: GrantingSubscription | null = null;
      if ((mode !== null || input.switchSubscription) && customerId) {
        subscription = await (await stripeSync()).getGrantingSubscription(customerId);
      }
      if (mode === 'checkout' && subscription) refuseSecondSubscription(subscription, customerId!);
      if (input.switchSubscription) subscription = requireSubscriptionToSwitch(subscription, customerId);
      // The default link for a customer who already pays: confirm the move in the Billing Portal.
      const portal = mode === 'auto' && subscription !== null;

      const claimed = await ledger.claim(key, input, features);
      if ('done' in claimed) return replay(claimed.done, input, customerId, claimed.stripeKey);
      const { row, stripeKey, lease } = claimed;
      // A resumed row keeps the features it was created with, so replayed Stripe requests carry
      // identical parameters (Stripe rejects a reused key with different ones).
      const planFeatures = asFeatureMap(row.features);

      const created: CreatedObjects = {
        ...(row.stripeProductId ? { productId: row.stripeProductId } : {}),
        ...(row.stripePriceId ? { priceId: row.stripePriceId } : {}),
        ...(row.switchedSubscriptionId && row.switchedItemId && row.switchedFromPriceId
          ? {
              switchedSubscription: {
                subscriptionId: row.switchedSubscriptionId,
                itemId: row.switchedItemId,
                previousPriceId: row.switchedFromPriceId,
              },
            }
          : {}),
      };
      let step: CustomPlanStep = 'product';
      let activated: TenantFeatureState | null;
      let result: CustomPlanResult;
      try {
        const metadata = customPlanMetadata(input, base, planFeatures, row.id);
        if (!created.productId) {
          const product = await steps.createProduct(input, metadata.product, stripeKey);
          created.productId = product.id;
          // Recorded at once so even a crash right now leaves the product findable from the row.
          await ledger.recordProduct(lease, product.id);
        }
        const productId = created.productId;

        step = 'price';
        if (!created.priceId) {
          const price = await steps.createPrice(input, productId, metadata.price, stripeKey);
          created.priceId = price.id;
          await ledger.recordPrice(lease, price.id);
        }
        const priceId = created.priceId;

        // The checkout session is created before the tenant is switched, so a failure here can still
        // be undone completely; after the commit it could not be without rewriting the tenant again.
        let checkout: StoredCheckout | null = null;
        let portalUrl: string | undefined;
        if (urls && customerId && !portal) {
          step = 'checkout';
          await ledger.touch(lease);
          const session = await steps.createCheckout(row, customerId, priceId, urls, stripeKey);
          created.checkoutSessionId = session.id;
          checkout = storedCheckout(session);
        }
        if (urls && customerId && portal && subscription && !onPrice(subscription, priceId)) {
          step = 'checkout';
          await ledger.touch(lease);
          const session = await steps.createPortalUpdate(
            customerId,
            subscription.subscription.id,
            subscription.item.id,
            priceId,
            urls,
          );
          portalUrl = session.url;
        }

        // Like checkout, before the tenant switch, so a failure can still be undone (moved back). The
        // row learns what is moved before the move, so even a resumed attempt can move it back.
        if (input.switchSubscription && subscription) {
          step = 'subscription';
          if (!onPrice(subscription, priceId)) {
            created.switchedSubscription = switchOf(subscription);
            await ledger.recordSwitch(lease, created.switchedSubscription);
            await switchToPrice(stripe, call, created.switchedSubscription, priceId);
          }
        }

        step = 'tenant_update';
        await ledger.touch(lease);
        const switched = input.switchSubscription && subscription !== null && customerId !== null;
        const tenantFeatures = switched
          ? await combinedAfterSwitch(customerId!, priceId, planFeatures)
          : planFeatures;
        activated = await activateCustomPlan(
          prisma,
          lease,
          {
            tenantId: input.tenantId,
            features: tenantFeatures,
            overrides: input.overrides,
            bundle: base.bundle,
            scrapeIntervalHours: base.scrapeIntervalHours,
            productId,
            priceId,
            actor,
          },
          checkout,
        );
        result = {
          customPlanId: row.id,
          productId,
          priceId,
          ...(checkout ? { checkoutUrl: checkout.url } : portalUrl ? { checkoutUrl: portalUrl } : {}),
          ...(input.switchSubscription && subscription
            ? { subscriptionId: subscription.subscription.id }
            : {}),
          features: planFeatures,
        };
      } catch (error) {
        // Another attempt owns the row now and shares our Stripe objects (same keys): leave both alone.
        // Its outcome is this request's answer: the live plan, "still in progress", or "failed".
        const lostRace = async () => {
          const current = await ledger.findById(row.id);
          if (!current) {
            // Nobody holds the row: it went with its tenant (deleted mid-creation), so what this attempt
            // made is orphaned and it is this attempt's to undo.
            const problems = await archiveCreated(stripe, call, created);
            const cleanup =
              problems.length > 0
                ? `cleanup incomplete: ${problems.join('; ')}`
                : 'what the attempt created in Stripe was undone';
            throw new TenantNotFoundError(
              input.tenantId,
              `it was deleted while its custom plan was being created; ${cleanup}`,
            );
          }
          if (current.status === 'active') return replay(current, input, customerId, stripeKey);
          if (current.status === 'pending') {
            throw new CustomPlanError(
              'custom_plan_in_progress',
              `Custom plan ${row.id} was taken over by a retry of this request, which is still creating it; retry shortly`,
              step,
            );
          }
          throw new CustomPlanError(
            'custom_plan_state_changed',
            `Custom plan ${row.id} was failed by another request while this one ran; retry to start a fresh attempt`,
            step,
          );
        };
        if (error instanceof CustomPlanError && error.code === 'custom_plan_state_changed') return lostRace();
        // The row is marked failed *before* anything is undone, and only while this attempt still owns
        // it: compensation must never touch objects a retry has since made live.
        // The mark says cleanup is under way until it is done, so a crash in between is visible on the row.
        const record = await ledger.markFailed(
          lease,
          key,
          step,
          `${messageOf(error)} (undoing what it created in Stripe)`,
          created,
        );
        if (record === 'lost') return lostRace();
        if (record === 'unreachable') {
          throw stepError(step, error, [
            'the attempt could not be recorded as failed, so nothing was undone; if its row is still pending, repeating the request resumes it',
          ]);
        }
        const problems = await archiveCreated(stripe, call, created);
        const failure = stepError(step, error, problems);
        await ledger.noteOutcome(row.id, `[${step}] ${failure.message}`);
        throw failure;
      }
      // Outside the try: the plan is committed and live, so nothing from here on may archive it. A
      // missed publish only delays cached readers (versioned entries, TTL).
      if (activated) await featureReader.publish([activated]).catch(() => {});
      return result;
    },
  };
}
