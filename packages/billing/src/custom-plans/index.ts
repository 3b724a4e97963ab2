import { createHash, randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { CustomPlan, PrismaClient } from '@packages/db';
import { loadFeatureCatalog } from '../catalog/index.js';
import { CustomPlanError, StripeApiError, TenantNotFoundError, ValidationError } from '../errors.js';
import type { FeatureReader } from '../feature-cache/index.js';
import { restrictFeatures } from '../features/merge.js';
import { buildPriceMetadata, buildProductMetadata, validateFeatureMap } from '../metadata/index.js';
import { createStripeSyncService, mapStripeError } from '../stripe-sync/index.js';
import { inTransaction, updateTenantFeatures, type TenantFeatureState, type Tx } from '../tenant-store/index.js';
import type { FeatureCatalog, FeatureMap, PlanDefaults } from '../types.js';
import { parseOrThrow } from './validation.js';

export { parseOrThrow, toIssues, type Issue } from './validation.js';

/** Stripe's ceiling for `unit_amount` in most currencies. */
export const MAX_PRICE_CENTS = 99_999_999;
export const RECURRING_INTERVALS = ['day', 'week', 'month', 'year'] as const;
export type RecurringInterval = (typeof RECURRING_INTERVALS)[number];
export type CustomPlanStatus = 'pending' | 'active' | 'failed';
/** Where a custom plan creation stopped; `CustomPlanError.step` is one of these. */
export type CustomPlanStep = 'pending' | 'product' | 'price' | 'checkout' | 'tenant_update';

export interface CreateCustomPlanInput {
  tenantId: string;
  /** Product id, price id or price lookup_key of the plan whose features the custom plan starts from. */
  basePlanId: string;
  priceCents: number;
  currency: string;
  recurringInterval: RecurringInterval;
  /** Feature values that differ from the base plan. */
  overrides?: FeatureMap;
  planName: string;
  createCheckoutSession?: boolean;
  successUrl?: string;
  cancelUrl?: string;
  idempotencyKey?: string;
  /** Who asked (lands in the audit row). */
  actor?: string;
}

export interface CustomPlanResult {
  customPlanId: string;
  productId: string;
  priceId: string;
  checkoutUrl?: string;
  /** Everything the plan grants: base plan features with the overrides applied. */
  features: FeatureMap;
}

/** What the service needs from the Stripe sync service; structural so tests can pass a stub. */
export interface CustomPlanStripeSync {
  getPlanDefaultsFromStripe(planId: string): Promise<PlanDefaults>;
  /** Rate-limited, error-mapping wrapper for Stripe calls. */
  call?<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

export interface CustomPlanServiceOptions {
  /** Reads the base plan and rate-limits our Stripe calls; one is created (with `catalog`) when omitted. */
  stripeSync?: CustomPlanStripeSync;
  /** Gets the committed tenant state after a plan is applied, so cached reads see it at once. */
  featureReader?: FeatureReader;
  /** Defaults to the `feature_catalog` table, read once. */
  catalog?: FeatureCatalog;
  /** Used when a checkout session is requested without explicit URLs. */
  checkoutBaseUrls?: { successUrl: string; cancelUrl: string };
  /**
   * A pending row younger than this is assumed to belong to a call still running (409); an older one
   * is a crashed attempt and is resumed. Default 60 s.
   */
  inProgressWindowMs?: number;
  now?: () => Date;
}

export interface CustomPlanService {
  createCustomEnterprisePlan(input: CreateCustomPlanInput): Promise<CustomPlanResult>;
  /** The derived idempotency key for an input (what is used when the caller passes none). */
  idempotencyKeyFor(input: CreateCustomPlanInput): string;
}

const MAX_IDEMPOTENCY_KEY = 200;
const httpUrl = z.httpUrl({ error: 'must be an http(s) URL' }).max(2000);

const inputSchema = z
  .object({
    tenantId: z.string().trim().min(1).max(255),
    basePlanId: z.string().trim().min(1).max(255),
    priceCents: z
      .number({ error: 'must be a number of cents' })
      .int({ error: 'must be a whole number of cents' })
      .positive({ error: 'must be positive' })
      .max(MAX_PRICE_CENTS, { error: `must be at most ${MAX_PRICE_CENTS}` }),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/, { error: 'must be a 3-letter ISO 4217 currency code' })
      .transform((c) => c.toLowerCase()),
    recurringInterval: z.enum(RECURRING_INTERVALS, { error: `must be one of ${RECURRING_INTERVALS.join(', ')}` }),
    // Values are checked against the catalog by validateFeatureMap, which knows each key's type.
    overrides: z.unknown().optional(),
    planName: z.string().trim().min(1, { error: 'must not be empty' }).max(250, { error: 'must be at most 250 characters' }),
    createCheckoutSession: z.boolean().optional().default(false),
    successUrl: httpUrl.optional(),
    cancelUrl: httpUrl.optional(),
    idempotencyKey: z
      .string()
      .min(1)
      .max(MAX_IDEMPOTENCY_KEY)
      // Printable ASCII without '#', which separates our retry-attempt suffix.
      .regex(/^[\x21-\x22\x24-\x7e]+$/, { error: 'must be printable ASCII without spaces or "#"' })
      .optional(),
    actor: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

type ParsedInput = z.output<typeof inputSchema> & { overrides: FeatureMap };

export function createCustomPlanService(stripe: Stripe, prisma: PrismaClient, options: CustomPlanServiceOptions = {}): CustomPlanService {
  const now = options.now ?? (() => new Date());
  const inProgressWindowMs = options.inProgressWindowMs ?? 60_000;
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

  const call = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const sync = await stripeSync();
    if (sync.call) return sync.call(label, fn);
    return fn().catch((error: unknown) => {
      throw mapStripeError(error, label);
    });
  };

  const planDefaults = async (planId: string): Promise<PlanDefaults> => (await stripeSync()).getPlanDefaultsFromStripe(planId);

  async function validate(raw: CreateCustomPlanInput): Promise<ParsedInput> {
    const parsed = parseOrThrow(inputSchema, raw, 'custom plan request');
    const overrides = validateFeatureMap(parsed.overrides ?? {}, await catalog(), 'overrides');
    return { ...parsed, overrides };
  }

  function deriveKey(input: ParsedInput): string {
    // Everything that defines the plan, in a fixed order, so the same request always maps to the same key.
    const canonical = JSON.stringify([
      input.tenantId,
      input.basePlanId,
      input.priceCents,
      input.currency,
      input.recurringInterval,
      Object.entries(input.overrides).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      input.planName,
    ]);
    return `cp_${createHash('sha256').update(canonical).digest('hex').slice(0, 48)}`;
  }

  function checkoutUrls(input: ParsedInput): { successUrl: string; cancelUrl: string } {
    const successUrl = input.successUrl ?? options.checkoutBaseUrls?.successUrl;
    const cancelUrl = input.cancelUrl ?? options.checkoutBaseUrls?.cancelUrl;
    const issues = [
      ...(successUrl ? [] : [{ path: 'successUrl', message: 'required when createCheckoutSession is true' }]),
      ...(cancelUrl ? [] : [{ path: 'cancelUrl', message: 'required when createCheckoutSession is true' }]),
    ];
    if (!successUrl || !cancelUrl) throw new ValidationError('Checkout session needs successUrl and cancelUrl', issues);
    return { successUrl, cancelUrl };
  }

  /** The row matches the request, or the caller reused an idempotency key for something else. */
  function assertSameRequest(row: CustomPlan, input: ParsedInput): void {
    const features = asFeatureMap(row.features);
    const mismatch =
      row.tenantId !== input.tenantId ||
      row.basePlanId !== input.basePlanId ||
      row.priceCents !== input.priceCents ||
      row.currency !== input.currency ||
      row.interval !== input.recurringInterval ||
      row.planName !== input.planName ||
      Object.entries(input.overrides).some(([key, value]) => features[key] !== value);
    if (mismatch) {
      throw new CustomPlanError(
        'idempotency_conflict',
        `Idempotency key "${row.idempotencyKey}" was already used for a different custom plan (${row.id})`,
        'pending',
      );
    }
  }

  async function createCheckout(
    row: { id: string; tenantId: string },
    customerId: string,
    priceId: string,
    urls: { successUrl: string; cancelUrl: string },
    stripeKey: string,
  ): Promise<Stripe.Checkout.Session> {
    return call('checkout.sessions.create', () =>
      stripe.checkout.sessions.create(
        {
          mode: 'subscription',
          customer: customerId,
          line_items: [{ price: priceId, quantity: 1 }],
          success_url: urls.successUrl,
          cancel_url: urls.cancelUrl,
          client_reference_id: row.tenantId,
          metadata: { tenantId: row.tenantId, customPlanId: row.id },
        },
        { idempotencyKey: `${stripeKey}:checkout` },
      ),
    );
  }

  /** `key` for the first attempt, `key#<n>` for the n-th after failures (see claimRow). */
  async function stripeKeyFor(key: string, tenantId: string): Promise<string> {
    const prefix = `${key}#failed:`;
    const failed = await prisma.customPlan.findMany({
      where: { tenantId, status: 'failed', idempotencyKey: { startsWith: prefix } },
      select: { idempotencyKey: true },
    });
    // Filtered again here: a caller key containing LIKE wildcards (% or _) must not match other keys.
    const attempts = failed.filter((row) => row.idempotencyKey.startsWith(prefix)).length;
    return attempts === 0 ? key : `${key}#${attempts + 1}`;
  }

  /** An already active plan: the stored ids, plus a checkout session if one is asked for now. */
  async function replay(row: CustomPlan, input: ParsedInput, customerId: string | null, stripeKey: string): Promise<CustomPlanResult> {
    let checkoutUrl = row.checkoutUrl ?? undefined;
    if (input.createCheckoutSession && !checkoutUrl && row.stripePriceId) {
      let session: Stripe.Checkout.Session;
      try {
        session = await createCheckout(row, customerId!, row.stripePriceId, checkoutUrls(input), stripeKey);
      } catch (error) {
        // The plan itself is complete and in use; only the extra session failed, so nothing is archived.
        throw stepError('checkout', error, []);
      }
      checkoutUrl = session.url ?? undefined;
      if (checkoutUrl) await prisma.customPlan.update({ where: { id: row.id }, data: { checkoutUrl } });
    }
    return {
      customPlanId: row.id,
      productId: row.stripeProductId!,
      priceId: row.stripePriceId!,
      ...(checkoutUrl ? { checkoutUrl } : {}),
      features: asFeatureMap(row.features),
    };
  }

  /**
   * The pending row for this key (new or resumed) and the Stripe idempotency-key base for this
   * attempt. Stripe replays a key's first response for 24 h, errors included, so an attempt after
   * a failure must use fresh Stripe keys: failed rows are renamed `<key>#failed:<id>`, and the
   * number of those gives the attempt its own suffix.
   */
  async function claimRow(
    key: string,
    input: ParsedInput,
    features: FeatureMap,
  ): Promise<{ row: CustomPlan; stripeKey: string } | { done: CustomPlan; stripeKey: string }> {
    for (let tries = 0; tries < 3; tries += 1) {
      const stripeKey = await stripeKeyFor(key, input.tenantId);
      const existing = await prisma.customPlan.findUnique({ where: { idempotencyKey: key } });
      if (existing) {
        assertSameRequest(existing, input);
        if (existing.status === 'active') return { done: existing, stripeKey };
        if (existing.status === 'pending') {
          if (now().getTime() - existing.updatedAt.getTime() < inProgressWindowMs) {
            throw new CustomPlanError(
              'custom_plan_in_progress',
              `Custom plan ${existing.id} for this request is still being created; retry shortly`,
              'pending',
            );
          }
          return { row: existing, stripeKey };
        }
        // A failed row that still holds the key (e.g. the rename itself failed): free the key and go again.
        await prisma.customPlan.updateMany({
          where: { id: existing.id, status: 'failed' },
          data: { idempotencyKey: `${key}#failed:${existing.id}` },
        });
        continue;
      }
      // ON CONFLICT DO NOTHING instead of catching a unique violation: a concurrent call with the
      // same key simply loses, and no failed statement is sent (the embedded database drops its
      // connection after one).
      const id = randomUUID();
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
            idempotencyKey: key,
          },
        ],
        skipDuplicates: true,
      });
      if (count === 1) return { row: await prisma.customPlan.findUniqueOrThrow({ where: { id } }), stripeKey };
    }
    throw new CustomPlanError('custom_plan_in_progress', 'Custom plan row for this request keeps changing; retry shortly', 'pending');
  }

  async function markFailed(rowId: string, key: string, step: CustomPlanStep, message: string, ids: { productId?: string; priceId?: string }) {
    try {
      await prisma.customPlan.update({
        where: { id: rowId },
        data: {
          status: 'failed',
          error: `[${step}] ${message}`.slice(0, 4000),
          idempotencyKey: `${key}#failed:${rowId}`,
          ...(ids.productId ? { stripeProductId: ids.productId } : {}),
          ...(ids.priceId ? { stripePriceId: ids.priceId } : {}),
        },
      });
    } catch {
      // The pending row still names what was created, so a later retry or an operator can find it.
    }
  }

  async function archive(created: { productId?: string; priceId?: string; checkoutSessionId?: string }): Promise<string[]> {
    const problems: string[] = [];
    // Reverse creation order: an open checkout must not be payable once its price is archived.
    if (created.checkoutSessionId) {
      const id = created.checkoutSessionId;
      await call('checkout.sessions.expire', () => stripe.checkout.sessions.expire(id)).catch((e: unknown) => {
        problems.push(`checkout session ${id} could not be expired: ${messageOf(e)}`);
      });
    }
    if (created.priceId) {
      const id = created.priceId;
      await call('prices.update', () => stripe.prices.update(id, { active: false })).catch((e: unknown) => {
        problems.push(`price ${id} could not be archived: ${messageOf(e)}`);
      });
    }
    if (created.productId) {
      const id = created.productId;
      await call('products.update', () => stripe.products.update(id, { active: false })).catch((e: unknown) => {
        problems.push(`product ${id} could not be archived: ${messageOf(e)}`);
      });
    }
    return problems;
  }

  return {
    idempotencyKeyFor(raw) {
      const parsed = parseOrThrow(inputSchema, raw, 'custom plan request');
      if (parsed.idempotencyKey) return parsed.idempotencyKey;
      // Overrides are not catalog-checked here; the key only needs to be stable for equal input.
      const overrides = (parsed.overrides ?? {}) as FeatureMap;
      return deriveKey({ ...parsed, overrides });
    },

    async createCustomEnterprisePlan(raw) {
      const input = await validate(raw);
      const tenant = await prisma.tenant.findUnique({ where: { id: input.tenantId } });
      if (!tenant) throw new TenantNotFoundError(input.tenantId);
      let urls: { successUrl: string; cancelUrl: string } | null = null;
      if (input.createCheckoutSession) {
        if (!tenant.stripeCustomerId) {
          throw new ValidationError(`Tenant "${tenant.id}" has no Stripe customer; a checkout session needs one`, [
            { path: 'createCheckoutSession', message: 'tenant has no stripeCustomerId' },
          ]);
        }
        urls = checkoutUrls(input);
      }
      const key = input.idempotencyKey ?? deriveKey(input);
      const actor = input.actor ?? 'custom_plan';

      // A completed plan is answered from the row alone: no Stripe reads, nothing created.
      const completed = await prisma.customPlan.findUnique({ where: { idempotencyKey: key } });
      if (completed?.status === 'active') {
        assertSameRequest(completed, input);
        return replay(completed, input, tenant.stripeCustomerId, await stripeKeyFor(key, input.tenantId));
      }

      const base = await planDefaults(input.basePlanId);
      if (base.custom && base.tenantId !== null && base.tenantId !== input.tenantId) {
        throw new ValidationError(`Plan "${input.basePlanId}" is a custom plan of another tenant and cannot be a base plan`, [
          { path: 'basePlanId', message: 'belongs to another tenant' },
        ]);
      }
      const features = mergeFeatures(base.features, input.overrides);
      const metadataFor = (planFeatures: FeatureMap, customPlanId: string) => ({
        product: {
          ...buildProductMetadata({
            bundle: base.bundle,
            features: planFeatures,
            scrapeIntervalHours: base.scrapeIntervalHours,
            custom: true,
            tenantId: input.tenantId,
            basePlanId: input.basePlanId,
          }),
          // Lets anyone looking at the product in Stripe find its row (and so its tenant and status).
          customPlanId,
        },
        price: buildPriceMetadata({ tenantId: input.tenantId, custom: true, features: input.overrides }),
      });
      // Before any row exists: metadata that cannot fit Stripe's limits is a validation error, not a failure.
      metadataFor(features, 'pending');

      const claimed = await claimRow(key, input, features);
      if ('done' in claimed) return replay(claimed.done, input, tenant.stripeCustomerId, claimed.stripeKey);
      const { row, stripeKey } = claimed;
      // A resumed row keeps the features it was created with, so replayed Stripe requests carry
      // identical parameters (Stripe rejects a reused key with different ones).
      const planFeatures = asFeatureMap(row.features);

      const created: { productId?: string; priceId?: string; checkoutSessionId?: string } = {
        ...(row.stripeProductId ? { productId: row.stripeProductId } : {}),
        ...(row.stripePriceId ? { priceId: row.stripePriceId } : {}),
      };
      let step: CustomPlanStep = 'product';
      try {
        const metadata = metadataFor(planFeatures, row.id);
        if (!created.productId) {
          const product = await call('products.create', () =>
            stripe.products.create({ name: input.planName, metadata: metadata.product }, { idempotencyKey: `${stripeKey}:product` }),
          );
          created.productId = product.id;
          // Recorded at once so even a crash right now leaves the product findable from the row.
          await prisma.customPlan.update({ where: { id: row.id }, data: { stripeProductId: product.id } });
        }
        const productId = created.productId;

        step = 'price';
        if (!created.priceId) {
          const price = await call('prices.create', () =>
            stripe.prices.create(
              {
                product: productId,
                unit_amount: input.priceCents,
                currency: input.currency,
                recurring: { interval: input.recurringInterval },
                nickname: input.planName.slice(0, 250),
                metadata: metadata.price,
              },
              { idempotencyKey: `${stripeKey}:price` },
            ),
          );
          created.priceId = price.id;
          await prisma.customPlan.update({ where: { id: row.id }, data: { stripePriceId: price.id } });
        }
        const priceId = created.priceId;

        // The checkout session is created before the tenant is switched, so a failure here can still
        // be undone completely; after the commit it could not be without rewriting the tenant again.
        let checkoutUrl: string | undefined;
        if (urls && tenant.stripeCustomerId) {
          step = 'checkout';
          const session = await createCheckout(row, tenant.stripeCustomerId, priceId, urls, stripeKey);
          created.checkoutSessionId = session.id;
          checkoutUrl = session.url ?? undefined;
        }

        step = 'tenant_update';
        const after = await inTransaction(prisma, async (tx) => {
          // Serialises with a concurrent resume of the same row: only one of them may activate it.
          const locked = await tx.$queryRaw<{ status: string }[]>`SELECT status FROM custom_plans WHERE id = ${row.id} FOR UPDATE`;
          if (locked[0]?.status !== 'pending') {
            throw new CustomPlanError('custom_plan_state_changed', `Custom plan ${row.id} is no longer pending`, 'tenant_update');
          }
          const outcome = await updateTenantForCustomPlan(tx, {
            tenantId: input.tenantId,
            features: planFeatures,
            overrides: input.overrides,
            bundle: base.bundle,
            scrapeIntervalHours: base.scrapeIntervalHours,
            productId,
            priceId,
            actor,
          });
          await tx.customPlan.update({
            where: { id: row.id },
            data: { status: 'active', stripeProductId: productId, stripePriceId: priceId, checkoutUrl: checkoutUrl ?? null, error: null },
          });
          return outcome;
        });
        if (after && options.featureReader) await options.featureReader.publish([after]);
        return { customPlanId: row.id, productId, priceId, ...(checkoutUrl ? { checkoutUrl } : {}), features: planFeatures };
      } catch (error) {
        const problems = await archive(created);
        const failure = stepError(step, error, problems);
        await markFailed(row.id, key, step, failure.message, created);
        throw failure;
      }
    },
  };
}

/** The features a custom plan grants: base plan features, overrides on top. */
export function mergeFeatures(base: FeatureMap, overrides: FeatureMap): FeatureMap {
  const merged = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(overrides)) merged.set(key, value);
  return Object.fromEntries([...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function updateTenantForCustomPlan(
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
      const kept = Object.fromEntries(Object.entries(current?.overrides ?? {}).filter(([key]) => !Object.hasOwn(plan.overrides, key)));
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

function stepError(step: CustomPlanStep, error: unknown, archiveProblems: string[]): CustomPlanError {
  const stripeSide = error instanceof StripeApiError;
  const code = stripeSide ? 'stripe_request_failed' : error instanceof CustomPlanError ? error.code : 'custom_plan_failed';
  const cleanup = archiveProblems.length > 0 ? ` Cleanup incomplete: ${archiveProblems.join('; ')}` : '';
  return new CustomPlanError(code, `Custom plan creation failed at step "${step}": ${messageOf(error)}.${cleanup}`, step, { cause: error });
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function asFeatureMap(value: unknown): FeatureMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: FeatureMap = {};
  for (const [key, v] of Object.entries(value)) if (typeof v === 'boolean' || typeof v === 'number') out[key] = v;
  return out;
}
