import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { loadFeatureCatalog } from '../catalog/index.js';
import { CustomPlanError, TenantNotFoundError, ValidationError } from '../errors.js';
import { createStripeSyncService, mapStripeError } from '../stripe-sync/index.js';
import type { TenantFeatureState } from '../tenant-store/index.js';
import type { FeatureCatalog, FeatureMap } from '../types.js';
import { storedCheckout, type StoredCheckout } from './checkout.js';
import { archiveCreated, stepError } from './compensation.js';
import { deriveKey, keyFor } from './idempotency.js';
import { checkoutUrls, parseInput, parseShape } from './input.js';
import { asFeatureMap, assertSameRequest, createCustomPlanLedger } from './ledger.js';
import { createStripeSteps, customPlanMetadata } from './stripe-steps.js';
import { createPlanReplay } from './replay.js';
import {
  currentSubscription,
  onPrice,
  refuseSecondSubscription,
  requireSubscriptionToSwitch,
  switchOf,
  switchToPrice,
  type CurrentSubscription,
} from './subscription.js';
import { activateCustomPlan, mergeFeatures } from './tenant-update.js';
import type {
  CheckoutUrls,
  CreatedObjects,
  CustomPlanResult,
  CustomPlanService,
  CustomPlanServiceOptions,
  CustomPlanStep,
  CustomPlanStripeSync,
  StripeCall,
} from './types.js';

/**
 * Orchestrates a custom plan: validate → claim the row → product → price → (checkout) → switch the
 * tenant, recording each Stripe id on the row as soon as it exists and archiving them on failure.
 */
export function createCustomPlanService(stripe: Stripe, prisma: PrismaClient, options: CustomPlanServiceOptions = {}): CustomPlanService {
  const now = options.now ?? (() => new Date());
  const ledger = createCustomPlanLedger(prisma, { now, inProgressWindowMs: options.inProgressWindowMs ?? 60_000 });

  let catalogPromise: Promise<FeatureCatalog> | null = options.catalog ? Promise.resolve(options.catalog) : null;
  const catalog = () => {
    catalogPromise ??= loadFeatureCatalog(prisma).catch((error: unknown) => {
      catalogPromise = null;
      throw error;
    });
    return catalogPromise;
  };

  let ownSync: Promise<CustomPlanStripeSync> | null = null;
  const stripeSync = (): Promise<CustomPlanStripeSync> => {
    if (options.stripeSync) return Promise.resolve(options.stripeSync);
    ownSync ??= catalog().then((cat) => createStripeSyncService(stripe, { catalog: cat }));
    return ownSync;
  };

  const call: StripeCall = async (label, fn) => {
    const sync = await stripeSync();
    if (sync.call) return sync.call(label, fn);
    return fn().catch((error: unknown) => {
      throw mapStripeError(error, label);
    });
  };
  const steps = createStripeSteps(stripe, call);

  const replay = createPlanReplay({ stripe, call, steps, ledger, now, checkoutBaseUrls: options.checkoutBaseUrls });

  return {
    idempotencyKeyFor(raw) {
      const parsed = parseShape(raw);
      if (parsed.idempotencyKey) return parsed.idempotencyKey;
      // Overrides are not catalog-checked here; the key only needs to be stable for equal input.
      const overrides = (parsed.overrides ?? {}) as FeatureMap;
      return deriveKey({ ...parsed, overrides });
    },

    async createCustomEnterprisePlan(raw) {
      const input = parseInput(raw, await catalog());
      const tenant = await prisma.tenant.findUnique({ where: { id: input.tenantId } });
      if (!tenant) throw new TenantNotFoundError(input.tenantId);
      let urls: CheckoutUrls | null = null;
      if (input.createCheckoutSession) {
        if (!tenant.stripeCustomerId) {
          throw new ValidationError(`Tenant "${tenant.id}" has no Stripe customer; a checkout session needs one`, [
            { path: 'createCheckoutSession', message: 'tenant has no stripeCustomerId' },
          ]);
        }
        urls = checkoutUrls(input, options.checkoutBaseUrls);
      }
      const key = keyFor(input);
      const actor = input.actor ?? 'custom_plan';

      // A completed plan is answered from the row (Stripe is only asked about its checkout or subscription).
      const completed = await ledger.find(key);
      if (completed?.status === 'active') {
        assertSameRequest(completed, input);
        return replay(completed, input, tenant.stripeCustomerId, await ledger.stripeKeyFor(key));
      }

      const base = await (await stripeSync()).getPlanDefaultsFromStripe(input.basePlanId);
      if (base.custom && base.tenantId !== null && base.tenantId !== input.tenantId) {
        throw new ValidationError(`Plan "${input.basePlanId}" is a custom plan of another tenant and cannot be a base plan`, [
          { path: 'basePlanId', message: 'belongs to another tenant' },
        ]);
      }
      const features = mergeFeatures(base.features, input.overrides);
      // Before any row exists: metadata that cannot fit Stripe's limits is a validation error, not a failure.
      customPlanMetadata(input, base, features, 'pending');

      // Checked before anything is written: checkout for a paying customer would bill them twice, and
      // a switch needs a subscription to move.
      let subscription: CurrentSubscription | null = null;
      if ((input.createCheckoutSession || input.switchSubscription) && tenant.stripeCustomerId) {
        subscription = await currentSubscription(stripe, call, tenant.stripeCustomerId);
      }
      if (input.createCheckoutSession && subscription) refuseSecondSubscription(subscription, tenant.stripeCustomerId!);
      if (input.switchSubscription) subscription = requireSubscriptionToSwitch(subscription, tenant.stripeCustomerId);

      const claimed = await ledger.claim(key, input, features);
      if ('done' in claimed) return replay(claimed.done, input, tenant.stripeCustomerId, claimed.stripeKey);
      const { row, stripeKey } = claimed;
      // A resumed row keeps the features it was created with, so replayed Stripe requests carry
      // identical parameters (Stripe rejects a reused key with different ones).
      const planFeatures = asFeatureMap(row.features);

      const created: CreatedObjects = {
        ...(row.stripeProductId ? { productId: row.stripeProductId } : {}),
        ...(row.stripePriceId ? { priceId: row.stripePriceId } : {}),
      };
      let step: CustomPlanStep = 'product';
      let activated: TenantFeatureState | null = null;
      let result: CustomPlanResult;
      try {
        const metadata = customPlanMetadata(input, base, planFeatures, row.id);
        if (!created.productId) {
          const product = await steps.createProduct(input, metadata.product, stripeKey);
          created.productId = product.id;
          // Recorded at once so even a crash right now leaves the product findable from the row.
          await ledger.recordProduct(row.id, product.id);
        }
        const productId = created.productId;

        step = 'price';
        if (!created.priceId) {
          const price = await steps.createPrice(input, productId, metadata.price, stripeKey);
          created.priceId = price.id;
          await ledger.recordPrice(row.id, price.id);
        }
        const priceId = created.priceId;

        // The checkout session is created before the tenant is switched, so a failure here can still
        // be undone completely; after the commit it could not be without rewriting the tenant again.
        let checkout: StoredCheckout | null = null;
        if (urls && tenant.stripeCustomerId) {
          step = 'checkout';
          const session = await steps.createCheckout(row, tenant.stripeCustomerId, priceId, urls, stripeKey);
          created.checkoutSessionId = session.id;
          checkout = storedCheckout(session);
        }

        // Like checkout, before the tenant switch, so a failure can still be undone (moved back).
        if (input.switchSubscription && subscription) {
          step = 'subscription';
          if (!onPrice(subscription, priceId)) {
            created.switchedSubscription = switchOf(subscription);
            await switchToPrice(stripe, call, created.switchedSubscription, priceId, `${stripeKey}:switch`);
          }
        }

        step = 'tenant_update';
        activated = await activateCustomPlan(
          prisma,
          row.id,
          {
            tenantId: input.tenantId,
            features: planFeatures,
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
          ...(checkout ? { checkoutUrl: checkout.url } : {}),
          ...(input.switchSubscription && subscription ? { subscriptionId: subscription.subscription.id } : {}),
          features: planFeatures,
        };
      } catch (error) {
        // Another attempt owns the row now and shares our Stripe objects (same keys): leave both alone.
        // If it activated the plan, this request's answer is that plan.
        if (error instanceof CustomPlanError && error.code === 'custom_plan_state_changed') {
          const winner = await ledger.find(key);
          if (winner?.id === row.id && winner.status === 'active') {
            return replay(winner, input, tenant.stripeCustomerId, stripeKey);
          }
          throw error;
        }
        const problems = await archiveCreated(stripe, call, created);
        const failure = stepError(step, error, problems);
        await ledger.markFailed(row.id, key, step, failure.message, created);
        throw failure;
      }
      // Outside the try: the plan is committed and live, so nothing from here on may archive it. A
      // missed publish only delays cached readers (versioned entries, TTL).
      if (activated && options.featureReader) await options.featureReader.publish([activated]).catch(() => {});
      return result;
    },
  };
}
