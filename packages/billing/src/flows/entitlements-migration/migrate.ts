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
  type MigrationProduct,
} from './plan.js';

export interface EntitlementMigrationDeps {
  stripe: Stripe;
  /** The stripe-sync service's call: rate limit, retries and error mapping. */
  call: StripeCall;
  catalog: FeatureCatalog;
}

export interface EntitlementMigrationOptions {
  /** Carry out the plan (default false: only read and plan). */
  apply?: boolean;
  /** Called after each action has been carried out. */
  onApplied?: (action: MigrationAction) => void;
}

export interface EntitlementMigrationResult extends MigrationPlan {
  applied: boolean;
  /** Products read, and how many of them grant features through metadata. */
  products: number;
  productsWithMetadataFeatures: number;
}

/**
 * Reads every product's metadata features, every Stripe Feature and the Features attached to the
 * products that need any, then (with `apply`) creates the missing Features and attachments, in that
 * order. Metadata is never written, nothing is detached or archived, and a second run finds nothing
 * left to do. A run stopped half-way (error, Ctrl-C) is finished by running it again.
 */
export async function migrateMetadataToEntitlements(
  deps: EntitlementMigrationDeps,
  options: EntitlementMigrationOptions = {},
): Promise<EntitlementMigrationResult> {
  const { stripe, call, catalog } = deps;
  const products: MigrationProduct[] = [];
  let read = 0;
  await forEachPage(
    call,
    'products.list',
    (page) => stripe.products.list(page),
    (page) => {
      for (const product of page) {
        read += 1;
        try {
          const { features } = parseProductMetadata(product, catalog);
          if (Object.keys(features).length > 0)
            products.push({ id: product.id, name: product.name, features });
        } catch (error) {
          if (!(error instanceof BillingError)) throw error;
          products.push({ id: product.id, name: product.name, features: null, error: error.message });
        }
      }
    },
  );
  const existing = await listAll(call, 'entitlements.features.list', (page) =>
    stripe.entitlements.features.list(page),
  );
  const attached = new Map<string, Stripe.Entitlements.Feature[]>();
  for (const product of products) {
    if (product.features === null) continue;
    const list = await listAll(call, 'products.listFeatures', (page) =>
      stripe.products.listFeatures(product.id, page),
    );
    attached.set(
      product.id,
      list.map((pf) => pf.entitlement_feature),
    );
  }
  const plan = planEntitlementMigration(products, existing, attached, catalog);
  const result: EntitlementMigrationResult = {
    ...plan,
    applied: options.apply === true,
    products: read,
    productsWithMetadataFeatures: products.filter((p) => p.features !== null).length,
  };
  if (!options.apply) return result;

  const ids = new Map(existing.map((f) => [f.lookup_key, f.id]));
  for (const action of plan.actions) {
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
  return result;
}
