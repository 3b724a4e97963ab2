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
type Ranked = Pick<Stripe.Subscription, 'id' | 'status' | 'created'>;

export function compareSubscriptions(a: Ranked, b: Ranked): number {
  const rank = (s: Ranked) => STATUS_RANK[s.status] ?? 10;
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
  /**
   * Streaming walk only: this customer was handed out before, judged on the subscriptions seen then;
   * a better-ranked one arrived on a later page, and this entry replaces the earlier one.
   */
  supersedes?: boolean;
}

interface CustomerGroup {
  customer: Stripe.Customer | Stripe.DeletedCustomer | string;
  subscriptions: Stripe.Subscription[];
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

  const listPage = (page: { limit: number; starting_after?: string; created?: Stripe.RangeQueryParam }) =>
    stripe.subscriptions.list({ ...page, status: 'all', expand: ['data.customer'] });

  /** One entry per customer: its chosen subscription, the plan resolved (products fetched in bulk). */
  async function toEntries(byCustomer: Map<string, CustomerGroup>): Promise<CustomerSubscriptionEntry[]> {
    const chosen = new Map<string, { subscription: Stripe.Subscription; grantsAccess: boolean }>();
    for (const [customerId, group] of byCustomer) {
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
      const byCustomer = new Map<string, CustomerGroup>();
      const addPage = (page: Stripe.Subscription[]) => {
        for (const sub of page) {
          const id = customerIdOf(sub);
          const entry = byCustomer.get(id);
          if (entry) entry.subscriptions.push(sub);
          else byCustomer.set(id, { customer: sub.customer, subscriptions: [sub] });
        }
      };
      if (limit === undefined) {
        addPage(
          await listByCreatedRanges(call, 'subscriptions.list', listPage, { concurrency: listConcurrency }),
        );
      } else {
        await forEachPage(call, 'subscriptions.list', listPage, (page) => {
          addPage(page);
          return byCustomer.size <= limit;
        });
      }
      return toEntries(limit === undefined ? byCustomer : new Map([...byCustomer].slice(0, limit)));
    },

    /**
     * The same walk as getCustomersWithSubscriptions() without a limit, handed out a page at a time
     * as pages arrive (in no particular order) instead of all at the end: `onEntries` gets the
     * customers of each page, and the walk waits for it (so memory holds at most `listConcurrency`
     * pages). A customer whose subscriptions span pages is handed out again, with `supersedes`,
     * only when a later page holds a better-ranked subscription; remembering who was handed out
     * costs one small record per customer for the run.
     */
    async forEachCustomerPage(onEntries: (entries: CustomerSubscriptionEntry[]) => Promise<void>) {
      const best = new Map<string, { id: string; status: Stripe.Subscription.Status; created: number }>();
      await listByCreatedRanges(call, 'subscriptions.list', listPage, {
        concurrency: listConcurrency,
        onPage: async (page) => {
          const groups = new Map<string, CustomerGroup>();
          for (const sub of page) {
            const id = customerIdOf(sub);
            const group = groups.get(id);
            if (group) group.subscriptions.push(sub);
            else groups.set(id, { customer: sub.customer, subscriptions: [sub] });
          }
          const superseding = new Set<string>();
          for (const [customerId, group] of groups) {
            const chosen = chooseSubscription(group.subscriptions)!;
            const seen = best.get(customerId);
            if (seen && compareSubscriptions(seen, chosen) <= 0) {
              groups.delete(customerId);
              continue;
            }
            if (seen) superseding.add(customerId);
            best.set(customerId, { id: chosen.id, status: chosen.status, created: chosen.created });
          }
          if (groups.size === 0) return;
          const entries = await toEntries(groups);
          for (const entry of entries) if (superseding.has(entry.customer.id)) entry.supersedes = true;
          await onEntries(entries);
        },
      });
    },
  };
}
