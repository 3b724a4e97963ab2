import type Stripe from 'stripe';
import { grantsAccess } from '../core/index.js';
import { BillingError, PlanNotFoundError } from '../errors.js';
import type { PlanCatalog } from '../catalog/registry.js';
import type { StripeCall } from './client.js';
import { listByCreatedRanges } from './created-ranges.js';
import { forEachPage, listAll, type PlanResolver, type StripePlanDefaults } from './plans.js';

// Non-granting statuses are ranked too, so a customer left with only ended subscriptions is still
// described by one deterministic choice: a subscription still open (unpaid, paused) says more about
// the customer than one that ended.
const STATUS_RANK: Record<string, number> = {
  active: 0,
  trialing: 1,
  past_due: 2,
  unpaid: 3,
  paused: 4,
  incomplete: 5,
  canceled: 6,
  incomplete_expired: 7,
};

/**
 * Total order used whenever a customer has several subscriptions, so every caller (sync, API,
 * webhook) picks the same one: active > trialing > past_due > unpaid > paused > incomplete > canceled,
 * then the newest `created` (the most recent purchase reflects the customer's current intent),
 * then the id so equal timestamps still give a stable answer.
 */
export function compareSubscriptions(a: Stripe.Subscription, b: Stripe.Subscription): number {
  const rank = (s: Stripe.Subscription) => STATUS_RANK[s.status] ?? 10;
  return rank(a) - rank(b) || b.created - a.created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function chooseSubscription(
  subscriptions: readonly Stripe.Subscription[],
): Stripe.Subscription | null {
  return [...subscriptions].sort(compareSubscriptions)[0] ?? null;
}

const PLAN_METADATA_KEYS = ['bundle', 'features', 'featuresJson'];

const productIdOf = (price: Stripe.Price): string =>
  typeof price.product === 'string' ? price.product : price.product.id;

/**
 * The item that carries the plan. Add-ons (extra seats, usage prices) ride on the same
 * subscription, so the first item whose product has plan metadata (or, when the plan source reads
 * them, attached Stripe Features) wins; otherwise the first item.
 */
export function planItem(
  subscription: Stripe.Subscription,
  productOf: (productId: string) => { metadata?: Record<string, string> | null } | undefined = () =>
    undefined,
  hasAttachedFeatures: (productId: string) => boolean = () => false,
): Stripe.SubscriptionItem | null {
  const items = subscription.items?.data ?? [];
  const withPlan = items.find((item) => {
    if (!item.price) return false;
    if (hasAttachedFeatures(productIdOf(item.price))) return true;
    const product =
      typeof item.price.product === 'object' ? item.price.product : productOf(item.price.product);
    const metadata = product && 'metadata' in product ? product.metadata : undefined;
    return metadata ? PLAN_METADATA_KEYS.some((key) => Object.hasOwn(metadata, key)) : false;
  });
  return withPlan ?? items[0] ?? null;
}

const itemProductIds = (subscription: Stripe.Subscription): string[] =>
  (subscription.items?.data ?? []).flatMap((item) => (item.price ? [productIdOf(item.price)] : []));

export interface ActiveSubscription {
  subscription: Stripe.Subscription;
  customerId: string;
  status: Stripe.Subscription.Status;
  plan: StripePlanDefaults;
  priceId: string;
  productId: string;
}

/** A customer's access-granting subscription and the item that carries its plan. */
export interface GrantingSubscription {
  subscription: Stripe.Subscription;
  item: Stripe.SubscriptionItem;
}

/** A customer's subscriptions as seen now: the access-granting one (if any) and the best of all by the shared ranking. */
export interface SubscriptionState {
  active: ActiveSubscription | null;
  mostRelevant: Stripe.Subscription | null;
}

export interface CustomerSubscriptionEntry {
  customer: Stripe.Customer;
  /** The customer's subscription chosen by compareSubscriptions. */
  subscription: Stripe.Subscription;
  status: Stripe.Subscription.Status;
  /** False when none of the customer's subscriptions grants access (then `subscription` is the best of the rest). */
  grantsAccess: boolean;
  /** Null when the plan could not be resolved; `error` says why (e.g. MetadataError on the product). */
  plan: StripePlanDefaults | null;
  error?: BillingError;
  /** customer.metadata.tenantId, else subscription.metadata.tenantId. */
  tenantIdHint: string | null;
}

const customerIdOf = (sub: Stripe.Subscription): string =>
  typeof sub.customer === 'string' ? sub.customer : sub.customer.id;

function hint(value: string | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

export function createSubscriptionReader(
  stripe: Stripe,
  call: StripeCall,
  plans: PlanResolver,
  catalog: PlanCatalog,
  /** Pages of the bulk walk in flight at once (see listByCreatedRanges). */
  listConcurrency = 1,
) {
  /**
   * One list of the customer's subscriptions answers every question callers ask: which one grants
   * access and which item carries its plan, and which one best describes the customer when none does.
   */
  async function readCustomer(customerId: string) {
    // Subscription items embed the full price already; the product comes from the plan cache
    // (Stripe caps expansion at 4 levels, so data.items.data.price.product is not allowed).
    const subscriptions = await listAll(call, 'subscriptions.list', (page) =>
      stripe.subscriptions.list({ ...page, customer: customerId, status: 'all' }),
    );
    // The ranking puts access-granting statuses first, so the best overall is the granting one if any.
    const chosen = chooseSubscription(subscriptions);
    if (!chosen || !grantsAccess(chosen.status)) return { chosen, granting: null };
    const known = await plans.prefetchProducts(itemProductIds(chosen));
    return {
      chosen,
      granting: {
        subscription: chosen,
        item: planItem(chosen, (id) => known.get(id), plans.hasAttachedFeatures),
        known,
      },
    };
  }

  async function getSubscriptionState(customerId: string): Promise<SubscriptionState> {
    const { chosen, granting } = await readCustomer(customerId);
    if (!granting) return { active: null, mostRelevant: chosen };
    const { subscription, item, known } = granting;
    if (!item) throw new PlanNotFoundError(subscription.id);
    const plan = await plans.planFromPrice(item.price, known, catalog);
    const active = {
      subscription,
      customerId,
      status: subscription.status,
      plan,
      priceId: item.price.id,
      productId: plan.productId,
    };
    return { active, mostRelevant: chosen };
  }

  return {
    getSubscriptionState,

    /** The access-granting subscription and its plan item, without resolving (or judging) the plan's metadata. */
    async getGrantingSubscription(customerId: string): Promise<GrantingSubscription | null> {
      const { granting } = await readCustomer(customerId);
      return granting?.item ? { subscription: granting.subscription, item: granting.item } : null;
    },

    async getActiveSubscription(customerId: string): Promise<ActiveSubscription | null> {
      return (await getSubscriptionState(customerId)).active;
    },

    /**
     * Every subscription (customer expanded), grouped per customer, plus one products.list per 100
     * products not yet cached. The subscriptions are read with up to `listConcurrency` pages in
     * flight (disjoint `created` ranges, every page through the rate limiter), in the order one
     * cursor walk would give. `limit` caps the customers returned; it reads one page at a time and
     * stops on the page where the cap is passed, so a customer whose older subscriptions sit on a
     * later page is judged on the ones seen.
     */
    async getCustomersWithSubscriptions(limit?: number): Promise<CustomerSubscriptionEntry[]> {
      const byCustomer = new Map<
        string,
        { customer: Stripe.Customer | Stripe.DeletedCustomer | string; subscriptions: Stripe.Subscription[] }
      >();
      const addPage = (page: Stripe.Subscription[]) => {
        for (const sub of page) {
          const id = customerIdOf(sub);
          const entry = byCustomer.get(id);
          if (entry) entry.subscriptions.push(sub);
          else byCustomer.set(id, { customer: sub.customer, subscriptions: [sub] });
        }
      };
      const list = (page: { limit: number; starting_after?: string; created?: Stripe.RangeQueryParam }) =>
        stripe.subscriptions.list({ ...page, status: 'all', expand: ['data.customer'] });
      if (limit === undefined) {
        addPage(
          await listByCreatedRanges(call, 'subscriptions.list', list, { concurrency: listConcurrency }),
        );
      } else {
        await forEachPage(call, 'subscriptions.list', list, (page) => {
          addPage(page);
          return byCustomer.size <= limit;
        });
      }

      const chosen = new Map<string, { subscription: Stripe.Subscription; grantsAccess: boolean }>();
      for (const [customerId, group] of byCustomer) {
        if (limit !== undefined && chosen.size >= limit) break;
        const granting = group.subscriptions.filter((s) => grantsAccess(s.status));
        const subscription = chooseSubscription(granting.length > 0 ? granting : group.subscriptions);
        if (subscription) chosen.set(customerId, { subscription, grantsAccess: granting.length > 0 });
      }
      // All products the chosen subscriptions need, in one products.list per 100 uncached ones.
      const known = await plans.prefetchProducts(
        [...chosen.values()].flatMap((c) => itemProductIds(c.subscription)),
      );

      const entries: CustomerSubscriptionEntry[] = [];
      for (const [customerId, { subscription, grantsAccess: granting }] of chosen) {
        const group = byCustomer.get(customerId)!;
        let customer = group.customer;
        if (typeof customer === 'string') {
          customer = await call('customers.retrieve', () => stripe.customers.retrieve(customerId));
        }
        // A deleted customer's subscriptions are all canceled; there is nobody to sync.
        if ((customer as Stripe.DeletedCustomer).deleted) continue;
        const entry: CustomerSubscriptionEntry = {
          customer: customer as Stripe.Customer,
          subscription,
          status: subscription.status,
          grantsAccess: granting,
          plan: null,
          tenantIdHint:
            hint((customer as Stripe.Customer).metadata?.tenantId) ?? hint(subscription.metadata?.tenantId),
        };
        try {
          const item = planItem(subscription, (id) => known.get(id), plans.hasAttachedFeatures);
          if (!item) throw new PlanNotFoundError(subscription.id);
          entry.plan = await plans.planFromPrice(item.price, known, catalog);
        } catch (error) {
          // One product with broken metadata must not stop the walk for everybody else.
          if (!(error instanceof BillingError)) throw error;
          entry.error = error;
        }
        entries.push(entry);
      }
      return entries;
    },
  };
}
