import { grantsAccess } from '../../core/subscription-status.js';
import type {
  CombineRule,
  FeatureCatalog,
  FeatureMap,
  FeatureValue,
  PlanDefaults,
} from '../../core/types.js';
import { createFieldReader, parseBooleanFlag } from './fields.js';
import type { StripeObjectLike } from './types.js';
import { MAX_FEATURE_NUMBER, toFeatureMap } from './values.js';

/** The product flags that say how an item's features count (see docs/metadata.md, "Add-ons, seats and several subscriptions"). */
export interface PlanUnits {
  /** `addon=true`: an add-on; never the plan item, its numbers are per unit. */
  addon: boolean;
  /** `perUnit=true`: a plan whose numbers are per unit (per-seat plans). */
  perUnit: boolean;
}

/** Reads `addon` / `perUnit` from product metadata; both are read in every plan source, like `bundle`. */
export function parsePlanUnits(product: StripeObjectLike): PlanUnits {
  const fields = createFieldReader('product', product.id, product.metadata);
  const flag = (field: string): boolean => {
    const raw = fields.read(field);
    return raw === null ? false : parseBooleanFlag(raw, (reason) => fields.fail(field, reason));
  };
  return { addon: flag('addon'), perUnit: flag('perUnit') };
}

/** One item of a subscription: the plan its price resolves to, how it counts, and its quantity. */
export interface ItemGrant<P extends PlanDefaults = PlanDefaults> extends PlanUnits {
  plan: P;
  /** Stripe's item quantity; metered prices have none (counted as 1). */
  quantity?: number | null;
  /**
   * Whether the product carries a plan (`bundle`, `features` or `featuresJson` metadata, or with
   * Stripe Features at least one attached Feature): the first such item that is not an add-on is
   * the plan item.
   */
  carriesPlan: boolean;
}

/** One subscription of a customer and its items, in the customer's ranking order (best first). */
export interface SubscriptionGrants<P extends PlanDefaults = PlanDefaults> {
  status: string;
  items: readonly ItemGrant<P>[];
}

const isPerUnit = (item: PlanUnits): boolean => item.addon || item.perUnit;

/** The features one item grants: a per-unit item's numbers times its quantity; with quantity 0 it grants nothing. */
export function itemFeatures(item: ItemGrant): FeatureMap {
  if (!isPerUnit(item)) return item.plan.features;
  const quantity = item.quantity ?? 1;
  if (quantity <= 0) return {};
  return toFeatureMap(
    Object.entries(item.plan.features).map(([key, value]): [string, FeatureValue] => [
      key,
      typeof value === 'number' ? Math.min(value * quantity, MAX_FEATURE_NUMBER) : value,
    ]),
  );
}

/** A number key's combine rule: the catalog's, else `max` (also for keys a reader without a catalog sees). */
export function combineRuleOf(catalog: FeatureCatalog | undefined, key: string): CombineRule {
  return catalog?.get(key)?.combine ?? 'max';
}

/**
 * Several feature maps as one: `true` wins (a boolean turned on; on a metered number key, unlimited),
 * `false` only stands when nothing else grants the key, and numbers combine by their key's rule
 * (`max` or `sum`, capped at MAX_FEATURE_NUMBER).
 */
export function combineFeatureMaps(maps: readonly FeatureMap[], catalog?: FeatureCatalog): FeatureMap {
  const out = new Map<string, FeatureValue>();
  for (const map of maps) {
    for (const [key, value] of Object.entries(map)) {
      const seen = out.get(key);
      if (seen === undefined || seen === false) out.set(key, value);
      else if (seen === true || value === false) continue;
      else if (value === true) out.set(key, true);
      else if (combineRuleOf(catalog, key) === 'sum')
        out.set(key, Math.min(seen + value, MAX_FEATURE_NUMBER));
      else out.set(key, Math.max(seen, value));
    }
  }
  return toFeatureMap(out);
}

/**
 * The plan item among `items` (in ranking order): the first that carries a plan and is no add-on,
 * else the first that is no add-on, else the first.
 */
export function pickPlanItem<T>(
  items: readonly T[],
  traits: (item: T) => Pick<ItemGrant, 'addon' | 'carriesPlan'>,
): T | undefined {
  return (
    items.find((i) => traits(i).carriesPlan && !traits(i).addon) ??
    items.find((i) => !traits(i).addon) ??
    items[0]
  );
}

/** The plan item and everything that combined with it. */
export interface CombinedPlan<P extends PlanDefaults = PlanDefaults> {
  /** Index of the subscription holding the plan item, in the input order. */
  subscription: number;
  /** The plan item within that subscription. */
  item: number;
  /** The plan item's identity (product, price, bundle, interval) with the combined features. */
  plan: P;
}

/**
 * What a customer's subscriptions grant together. Only access-granting subscriptions contribute
 * (a canceled add-on subscription stops counting; a past-due one counts while Stripe retries, the
 * tenant's grace rules decide access). The plan item is the first item, in the subscriptions'
 * ranking order, that carries a plan and is no add-on; else the first item that is no add-on; else
 * the first item. Null when no subscription grants access or none has an item.
 */
export function combineSubscriptions<P extends PlanDefaults>(
  subscriptions: readonly SubscriptionGrants<P>[],
  catalog?: FeatureCatalog,
): CombinedPlan<P> | null {
  const contributing = subscriptions
    .map((subscription, index) => ({ subscription, index }))
    .filter(({ subscription }) => grantsAccess(subscription.status));
  const candidates = contributing.flatMap(({ subscription, index }) =>
    subscription.items.map((item, at) => ({ item, subscription: index, at })),
  );
  const chosen = pickPlanItem(candidates, (c) => c.item);
  if (!chosen) return null;
  // The plan item first, so a key whose type differs between products (no catalog) takes the plan's.
  const ordered = [chosen.item, ...candidates.filter((c) => c !== chosen).map((c) => c.item)];
  return {
    subscription: chosen.subscription,
    item: chosen.at,
    plan: { ...chosen.item.plan, features: combineFeatureMaps(ordered.map(itemFeatures), catalog) },
  };
}
