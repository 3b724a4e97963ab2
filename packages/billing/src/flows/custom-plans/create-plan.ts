import type Stripe from 'stripe';
import type { PrismaClient, Tenant } from '@packages/db';
import { asFeatureMap, type TenantFeatureState } from '../../core/index.js';
import { CustomPlanError, messageOf, TenantNotFoundError, ValidationError } from '../../core/errors.js';
import type { FeatureReader } from '../../io/feature-cache/index.js';
import type { GrantingSubscription } from '../../io/stripe-sync/index.js';
import type { FeatureMap, PlanDefaults } from '../../core/types.js';
import { storedCheckout, type StoredCheckout } from './checkout.js';
import { archiveCreated, stepError } from './compensation.js';
import { ensureTenantCustomer } from './customer.js';
import { keyFor } from './idempotency.js';
import { checkoutUrls, defaultLinkUrls, linkMode, type ParsedInput } from './input.js';
import { assertSameRequest, type Claim, type CustomPlanLedger } from './ledger.js';
import type { PlanReplay } from './replay.js';
import { customPlanMetadata, type CustomPlanStripeSteps } from './stripe-steps.js';
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
  CustomPlanStep,
  CustomPlanStripeSync,
  StripeCall,
} from './types.js';

/*
 * createCustomEnterprisePlan as four steps that each read on one screen: prepare (the request, its
 * tenant, customer and links; a completed plan answers from its row), decide (the base plan, the
 * features, the subscription checks, all before anything is written), claim the ledger row, and
 * run the claimed attempt (product → price → checkout or portal → switch → tenant), undoing what it
 * created in Stripe when a step fails.
 */

/** What the flow stands on: built once by createCustomPlanService. */
export interface CustomPlanFlowDeps {
  prisma: PrismaClient;
  stripe: Stripe;
  call: StripeCall;
  steps: CustomPlanStripeSteps;
  ledger: CustomPlanLedger;
  replay: PlanReplay;
  featureReader: FeatureReader;
  checkoutBaseUrls(): CheckoutUrls | undefined;
  stripeSync(): Promise<CustomPlanStripeSync>;
  /** The input checked against the catalog. */
  parseChecked(raw: CreateCustomPlanInput): Promise<ParsedInput>;
  /** What the customer's subscriptions grant once the plan item is on the new price. */
  combinedAfterSwitch(customerId: string, priceId: string, planFeatures: FeatureMap): Promise<FeatureMap>;
}

interface PlanRequest {
  input: ParsedInput;
  tenant: Tenant;
  mode: ReturnType<typeof linkMode>;
  actor: string;
  urls: CheckoutUrls | null;
  customerId: string | null;
  key: string;
}

interface PlanDecision {
  base: PlanDefaults;
  features: FeatureMap;
  subscription: GrantingSubscription | null;
  /** The default link for a customer who already pays: confirm the move in the Billing Portal. */
  portal: boolean;
}

export async function createCustomPlan(
  d: CustomPlanFlowDeps,
  raw: CreateCustomPlanInput,
): Promise<CustomPlanResult> {
  const request = await prepare(d, raw);
  if ('answer' in request) return request.answer;
  const decision = await decide(d, request);
  const claimed = await d.ledger.claim(request.key, request.input, decision.features);
  if ('done' in claimed) return d.replay(claimed.done, request.input, request.customerId, claimed.stripeKey);
  return runClaimed(d, request, decision, claimed);
}

async function prepare(
  d: CustomPlanFlowDeps,
  raw: CreateCustomPlanInput,
): Promise<PlanRequest | { answer: CustomPlanResult }> {
  const input = await d.parseChecked(raw);
  const tenant = await d.prisma.tenant.findUnique({ where: { id: input.tenantId } });
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
    urls = checkoutUrls(input, d.checkoutBaseUrls());
  }
  if (mode === 'auto') {
    // URLs first: a missing configuration must not leave a customer created for nothing.
    urls = defaultLinkUrls(input, d.checkoutBaseUrls());
    customerId ??= await ensureTenantCustomer(d.prisma, d.steps, tenant, actor);
  }
  const key = keyFor(input);

  // A completed plan is answered from the row (Stripe is only asked about its checkout or subscription).
  const completed = await d.ledger.find(key);
  if (completed?.status === 'active') {
    assertSameRequest(completed, input);
    return { answer: await d.replay(completed, input, customerId, await d.ledger.stripeKeyFor(key)) };
  }
  return { input, tenant, mode, actor, urls, customerId, key };
}

async function decide(d: CustomPlanFlowDeps, request: PlanRequest): Promise<PlanDecision> {
  const { input, mode, customerId } = request;
  const base = await (await d.stripeSync()).getPlanDefaultsFromStripe(input.basePlanId);
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
    subscription = await (await d.stripeSync()).getGrantingSubscription(customerId);
  }
  if (mode === 'checkout' && subscription) refuseSecondSubscription(subscription, customerId!);
  if (input.switchSubscription) subscription = requireSubscriptionToSwitch(subscription, customerId);
  // The default link for a customer who already pays: confirm the move in the Billing Portal.
  const portal = mode === 'auto' && subscription !== null;
  return { base, features, subscription, portal };
}

async function runClaimed(
  d: CustomPlanFlowDeps,
  request: PlanRequest,
  decision: PlanDecision,
  claimed: Extract<Claim, { row: unknown }>,
): Promise<CustomPlanResult> {
  const { input, actor, urls, customerId } = request;
  const { base, subscription, portal } = decision;
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
  const progress: { step: CustomPlanStep } = { step: 'product' };
  let activated: TenantFeatureState | null;
  let result: CustomPlanResult;
  try {
    const metadata = customPlanMetadata(input, base, planFeatures, row.id);
    if (!created.productId) {
      const product = await d.steps.createProduct(input, metadata.product, stripeKey);
      created.productId = product.id;
      // Recorded at once so even a crash right now leaves the product findable from the row.
      await d.ledger.recordProduct(lease, product.id);
    }
    const productId = created.productId;

    progress.step = 'price';
    if (!created.priceId) {
      const price = await d.steps.createPrice(input, productId, metadata.price, stripeKey);
      created.priceId = price.id;
      await d.ledger.recordPrice(lease, price.id);
    }
    const priceId = created.priceId;

    // The checkout session is created before the tenant is switched, so a failure here can still
    // be undone completely; after the commit it could not be without rewriting the tenant again.
    let checkout: StoredCheckout | null = null;
    let portalUrl: string | undefined;
    if (urls && customerId && !portal) {
      progress.step = 'checkout';
      await d.ledger.touch(lease);
      const session = await d.steps.createCheckout(row, customerId, priceId, urls, stripeKey);
      created.checkoutSessionId = session.id;
      checkout = storedCheckout(session);
    }
    if (urls && customerId && portal && subscription && !onPrice(subscription, priceId)) {
      progress.step = 'checkout';
      await d.ledger.touch(lease);
      const session = await d.steps.createPortalUpdate(
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
      progress.step = 'subscription';
      if (!onPrice(subscription, priceId)) {
        created.switchedSubscription = switchOf(subscription);
        await d.ledger.recordSwitch(lease, created.switchedSubscription);
        await switchToPrice(d.stripe, d.call, created.switchedSubscription, priceId);
      }
    }

    progress.step = 'tenant_update';
    await d.ledger.touch(lease);
    const switched = input.switchSubscription && subscription !== null && customerId !== null;
    const tenantFeatures = switched
      ? await d.combinedAfterSwitch(customerId, priceId, planFeatures)
      : planFeatures;
    activated = await activateCustomPlan(
      d.prisma,
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
      ...(input.switchSubscription && subscription ? { subscriptionId: subscription.subscription.id } : {}),
      features: planFeatures,
    };
  } catch (error) {
    return failAttempt(d, { request, row, stripeKey, lease, created, step: progress.step }, error);
  }
  // Outside the try: the plan is committed and live, so nothing from here on may archive it. A
  // missed publish only delays cached readers (versioned entries, TTL).
  if (activated) await d.featureReader.publish([activated]).catch(() => {});
  return result;
}

/**
 * A step failed: the row is marked failed while this attempt still owns it, then what it created
 * in Stripe is archived. An attempt that lost the row to another answers with that one's outcome.
 */
async function failAttempt(
  d: CustomPlanFlowDeps,
  attempt: {
    request: PlanRequest;
    row: Extract<Claim, { row: unknown }>['row'];
    stripeKey: string;
    lease: Extract<Claim, { row: unknown }>['lease'];
    created: CreatedObjects;
    step: CustomPlanStep;
  },
  error: unknown,
): Promise<CustomPlanResult> {
  const { request, row, stripeKey, lease, created, step } = attempt;
  const { input, customerId, key } = request;
  // Another attempt owns the row now and shares our Stripe objects (same keys): leave both alone.
  // Its outcome is this request's answer: the live plan, "still in progress", or "failed".
  const lostRace = async () => {
    const current = await d.ledger.findById(row.id);
    if (!current) {
      // Nobody holds the row: it went with its tenant (deleted mid-creation), so what this attempt
      // made is orphaned and it is this attempt's to undo.
      const problems = await archiveCreated(d.stripe, d.call, created);
      const cleanup =
        problems.length > 0
          ? `cleanup incomplete: ${problems.join('; ')}`
          : 'what the attempt created in Stripe was undone';
      throw new TenantNotFoundError(
        input.tenantId,
        `it was deleted while its custom plan was being created; ${cleanup}`,
      );
    }
    if (current.status === 'active') return d.replay(current, input, customerId, stripeKey);
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
  const record = await d.ledger.markFailed(
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
  const problems = await archiveCreated(d.stripe, d.call, created);
  const failure = stepError(step, error, problems);
  await d.ledger.noteOutcome(row.id, `[${step}] ${failure.message}`);
  throw failure;
}
