import type Stripe from 'stripe';
import { BillingError } from '../../core/errors.js';
import { parseProductMetadata } from '../../io/metadata/index.js';
import { ENTITLEMENT_VALUE_KEY } from '../../io/plan-source/index.js';
import type { StripeCall } from '../../io/stripe-sync/client.js';
import { forEachPage, listAll } from '../../io/stripe-sync/list-pages.js';
import type { FeatureCatalog } from '../../core/types.js';
import {
  planEntitlementMigration,
  type MigrationAction,
  type MigrationPlan,
  type MigrationProblem,
  type MigrationProduct,
} from './plan.js';

export interface EntitlementMigrationDeps {
  stripe: Stripe;
  /** The stripe-sync service's call: rate limit, retries and error mapping. */
  call: StripeCall;
  catalog: FeatureCatalog;
}

/** Actions and problems the CLI keeps and prints of a run, at most this many of each; the counts cover all. */
export const LISTED_MIGRATION_RESULTS = 1_000;

export interface EntitlementMigrationOptions {
  /** Carry out the plan (default false: only read and plan). */
  apply?: boolean;
  /** Called after each action has been carried out. */
  onApplied?: (action: MigrationAction) => void;
  /** Each action and problem as soon as its page of products is planned (before it is carried out). */
  onPlanned?: (item: { action: MigrationAction } | { problem: MigrationProblem }) => void;
  /**
   * Keep every action and problem for the returned lists (default true). A number N keeps at most N
   * of each and counts the rest in `omitted`; false keeps none (read them through `onPlanned`). The
   * counts (`featuresToCreate`, `attachmentsToCreate`, `problemCount`) cover every product.
   */
  keepResults?: boolean | number;
}

export interface EntitlementMigrationResult extends MigrationPlan {
  applied: boolean;
  /** Products read, and how many of them grant features through metadata. */
  products: number;
  productsWithMetadataFeatures: number;
  /** Planned (or, applied, carried out) Feature creations and attachments, and problems, listed or not. */
  featuresToCreate: number;
  attachmentsToCreate: number;
  problemCount: number;
  /** Only when `keepResults` is not true: how many actions and problems are not listed. */
  omitted?: { actions: number; problems: number };
}

/**
 * Reads every Stripe Feature, then the products a page at a time: each page's metadata features,
 * the Features attached to those that grant any, planned (one set of planned creations across
 * pages, so the plan is the one a single pass over every product gives) and (with `apply`) carried
 * out, creations before the attachments that need them, before the next page is read. So memory
 * holds the account's Features (the catalog's keys and values) and one page of products, however
 * many products custom plans have created. Metadata is never written, nothing is detached or
 * archived, and a second run finds nothing left to do. A run stopped half-way (error, Ctrl-C) is
 * finished by running it again.
 */
export async function migrateMetadataToEntitlements(
  deps: EntitlementMigrationDeps,
  options: EntitlementMigrationOptions = {},
): Promise<EntitlementMigrationResult> {
  const { stripe, call, catalog } = deps;
  const keep = options.keepResults ?? true;
  const cap = keep === true ? Infinity : keep === false ? 0 : Math.max(0, Math.floor(keep));
  const result: EntitlementMigrationResult = {
    actions: [],
    problems: [],
    alreadyAttached: 0,
    applied: options.apply === true,
    products: 0,
    productsWithMetadataFeatures: 0,
    featuresToCreate: 0,
    attachmentsToCreate: 0,
    problemCount: 0,
    ...(keep === true ? {} : { omitted: { actions: 0, problems: 0 } }),
  };
  const existing = await listAll(call, 'entitlements.features.list', (page) =>
    stripe.entitlements.features.list(page),
  );
  const ids = new Map(existing.map((f) => [f.lookup_key, f.id]));
  const planned = new Set<string>();
  await forEachPage(
    call,
    'products.list',
    (page) => stripe.products.list(page),
    async (page) => {
      const products = productsOf(page, catalog, result);
      const attached = new Map<string, Stripe.Entitlements.Feature[]>();
      for (const product of products) {
        if (product.features === null) continue;
        const list = await listAll(call, 'products.listFeatures', (p) =>
          stripe.products.listFeatures(product.id, p),
        );
        attached.set(
          product.id,
          list.map((pf) => pf.entitlement_feature),
        );
      }
      const plan = planEntitlementMigration(products, existing, attached, catalog, planned);
      record(result, plan, cap, options);
      if (options.apply) await carryOut(deps, plan.actions, ids, options);
    },
  );
  return result;
}

/** A page's products that grant features through metadata (or whose metadata cannot be read). */
function productsOf(
  page: Stripe.Product[],
  catalog: FeatureCatalog,
  result: EntitlementMigrationResult,
): MigrationProduct[] {
  const products: MigrationProduct[] = [];
  for (const product of page) {
    result.products += 1;
    try {
      const { features } = parseProductMetadata(product, catalog);
      if (Object.keys(features).length > 0) {
        products.push({ id: product.id, name: product.name, features });
        result.productsWithMetadataFeatures += 1;
      }
    } catch (error) {
      if (!(error instanceof BillingError)) throw error;
      products.push({ id: product.id, name: product.name, features: null, error: error.message });
    }
  }
  return products;
}

/** Counts a page's plan, keeps up to `cap` of its actions and problems, and streams them. */
function record(
  result: EntitlementMigrationResult,
  plan: MigrationPlan,
  cap: number,
  options: EntitlementMigrationOptions,
): void {
  result.alreadyAttached += plan.alreadyAttached;
  for (const action of plan.actions) {
    if (action.kind === 'create_feature') result.featuresToCreate += 1;
    else result.attachmentsToCreate += 1;
    if (result.actions.length < cap) result.actions.push(action);
    else if (result.omitted) result.omitted.actions += 1;
    options.onPlanned?.({ action });
  }
  for (const problem of plan.problems) {
    result.problemCount += 1;
    if (result.problems.length < cap) result.problems.push(problem);
    else if (result.omitted) result.omitted.problems += 1;
    options.onPlanned?.({ problem });
  }
}

/** Creates a page's Features and attachments in plan order (a Feature before its first attach). */
async function carryOut(
  deps: EntitlementMigrationDeps,
  actions: readonly MigrationAction[],
  ids: Map<string, string>,
  options: EntitlementMigrationOptions,
): Promise<void> {
  const { stripe, call } = deps;
  for (const action of actions) {
    if (action.kind === 'create_feature') {
      const feature = await call('entitlements.features.create', () =>
        stripe.entitlements.features.create({
          lookup_key: action.lookupKey,
          name: action.name,
          ...(action.value !== null ? { metadata: { [ENTITLEMENT_VALUE_KEY]: String(action.value) } } : {}),
        }),
      );
      ids.set(action.lookupKey, feature.id);
    } else {
      const featureId = ids.get(action.lookupKey)!;
      await call('products.createFeature', () =>
        stripe.products.createFeature(action.productId, { entitlement_feature: featureId }),
      );
    }
    options.onApplied?.(action);
  }
}
