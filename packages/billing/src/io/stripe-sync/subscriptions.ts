import type Stripe from 'stripe';
import { grantsAccess } from '../../core/index.js';
import { combineSubscriptions, parsePlanUnits, pickPlanItem, type ItemGrant } from '../metadata/index.js';
import { BillingError, PlanNotFoundError } from '../../core/errors.js';
import { isCatalogSource, type PlanCatalog } from '../catalog/registry.js';
import type { FeatureCatalog } from '../../core/types.js';
import type { StripeCall } from './client.js';
import { createTtlCache } from '../cache/lru.js';
import { createIdMap } from '../id-map.js';
import { listByCreatedRanges } from './created-ranges.js';
import { forEachPage, listAll } from './list-pages.js';
import type { StoredProduct } from './plan-objects.js';
import type { PlanResolver, StripePlanDefaults } from './plans.js';

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

type ProductOf = (productId: string) => { metadata?: Record<string, string> | null } | undefined;

function metadataOf(price: Stripe.Price, productOf: ProductOf): Record<string, string> | null {
  const product = typeof price.product === 'object' ? price.product : productOf(price.product);
  return product && 'metadata' in product ? (product.metadata ?? null) : null;
}

/**
 * What picking the plan item needs to know about an item, read without resolving its plan (the
 * custom-plan flow must find the item to switch even when a product's metadata is broken).
 */
function itemTraits(
  item: Stripe.SubscriptionItem,
  productOf: ProductOf,
  hasAttachedFeatures: (productId: string) => boolean,
): { addon: boolean; carriesPlan: boolean } {
  if (!item.price) return { addon: false, carriesPlan: false };
  const metadata = metadataOf(item.price, productOf);
  return {
    addon: metadata?.addon?.trim().toLowerCase() === 'true',
    carriesPlan: carriesPlan(productIdOf(item.price), metadata, hasAttachedFeatures),
  };
}

function carriesPlan(
  productId: string,
  metadata: Record<string, string> | null | undefined,
  hasAttachedFeatures: (productId: string) => boolean,
): boolean {
  return (
    hasAttachedFeatures(productId) ||
    (metadata ? PLAN_METADATA_KEYS.some((key) => Object.hasOwn(metadata, key)) : false)
  );
}

/**
 * The item that carries the plan (its bundle, interval, product and price). Add-ons (`addon=true`)
 * and extra prices ride on the same subscription, so the first item whose product has plan metadata
 * (or, when the plan source reads them, attached Stripe Features) and is no add-on wins; else the
 * first item that is no add-on; else the first item. Every item contributes features either way
 * (see combineSubscriptions).
 */
export function planItem(
  subscription: Stripe.Subscription,
  productOf: ProductOf = () => undefined,
  hasAttachedFeatures: (productId: string) => boolean = () => false,
): Stripe.SubscriptionItem | null {
  const items = subscription.items?.data ?? [];
  return pickPlanItem(items, (item) => itemTraits(item, productOf, hasAttachedFeatures)) ?? null;
}

/** The plan item across a customer's granting subscriptions, in ranking order (the same rule). */
function planItemAcross(
  granting: readonly Stripe.Subscription[],
  productOf: ProductOf,
  hasAttachedFeatures: (productId: string) => boolean,
): GrantingSubscription | null {
  const candidates = granting.flatMap((subscription) =>
    (subscription.items?.data ?? []).map((item) => ({ subscription, item })),
  );
  return pickPlanItem(candidates, (c) => itemTraits(c.item, productOf, hasAttachedFeatures)) ?? null;
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

/** The feature catalog the combine rules are read from (none: every number key combines by `max`). */
async function featureCatalogOf(catalog: PlanCatalog): Promise<FeatureCatalog | undefined> {
  return isCatalogSource(catalog) ? catalog.current() : catalog;
}

type ResolvedItem = Omit<ItemGrant<StripePlanDefaults>, 'quantity'>;

/** A cache the reader's memos can live in: a Map, or a bounded LRU for a walk. */
interface Memo<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): unknown;
}

/** A combination by position: the plan item's subscription and item index, the combined plan. */
type Shape = { subscription: number; item: number; plan: StripePlanDefaults; addonOnly: boolean } | null;

/** A granting subscription, the plan item among its subscriptions, and their combined plan. */
interface Combined {
  subscription: Stripe.Subscription;
  item: Stripe.SubscriptionItem;
  plan: StripePlanDefaults;
  /** The plan item is an add-on: no granting subscription holds a plan. */
  addonOnly: boolean;
}

/** What the subscription reader stands on: the SDK, the rate-limited call, plan resolution, the catalog. */
interface ReaderDeps {
  stripe: Stripe;
  call: StripeCall;
  plans: PlanResolver;
  catalog: PlanCatalog;
}

/**
 * Resolves items to grants, once per price in `byPrice` (a bulk walk meets the same few prices on
 * thousands of subscriptions: it passes one for the whole walk).
 */
function itemResolver(
  r: ReaderDeps,
  known: ReadonlyMap<string, StoredProduct>,
  byPrice: Memo<Promise<ResolvedItem>> = new Map(),
) {
  const resolve = async (price: Stripe.Price): Promise<ResolvedItem> => {
    const plan = await r.plans.planFromPrice(price, known, r.catalog);
    const productId = productIdOf(price);
    // planFromPrice fetched (and cached) a product the prefetch did not hold.
    const metadata =
      metadataOf(price, (id) => known.get(id)) ??
      (await r.plans.prefetchProducts([productId])).get(productId)?.metadata;
    return {
      plan,
      ...parsePlanUnits({ id: productId, metadata }),
      carriesPlan: carriesPlan(productId, metadata, r.plans.hasAttachedFeatures),
    };
  };
  return (price: Stripe.Price): Promise<ResolvedItem> => {
    let resolved = byPrice.get(price.id);
    if (!resolved) {
      resolved = resolve(price);
      byPrice.set(price.id, resolved);
    }
    return resolved;
  };
}

/**
 * Every item of `subscriptions` (ranked, best first) combined into one plan. `anyStatus` lets a
 * customer without a granting subscription still be described by its best one (reports show
 * which plan it was on); access is decided from the statuses elsewhere.
 */
async function combine(
  r: ReaderDeps,
  subscriptions: readonly Stripe.Subscription[],
  resolveItem: (price: Stripe.Price) => Promise<ResolvedItem>,
  anyStatus = false,
  shapes?: Memo<Promise<Shape>>,
): Promise<Combined | null> {
  const priced = subscriptions.map((subscription) => ({
    subscription,
    status: anyStatus ? 'active' : subscription.status,
    items: (subscription.items?.data ?? []).filter((item) => item.price),
  }));
  const work = async (): Promise<Shape> => {
    const grants = await Promise.all(
      priced.map(async ({ status, items }) => ({
        status,
        items: await Promise.all(
          items.map(async (item) => ({ ...(await resolveItem(item.price)), quantity: item.quantity })),
        ),
      })),
    );
    const combined = combineSubscriptions(grants, await featureCatalogOf(r.catalog));
    if (!combined) return null;
    const addonOnly = grants[combined.subscription]!.items[combined.item]!.addon;
    return { ...combined, addonOnly };
  };
  let shape: Promise<Shape>;
  if (shapes) {
    // Statuses, prices and quantities in ranking order decide the combination, nothing else.
    const key = priced
      .map(
        ({ status, items }) => `${status}:${items.map((i) => `${i.price.id}*${i.quantity ?? ''}`).join(',')}`,
      )
      .join('|');
    shape = shapes.get(key) ?? work();
    shapes.set(key, shape);
  } else shape = work();
  const combined = await shape;
  if (!combined) return null;
  const { subscription, items } = priced[combined.subscription]!;
  return {
    subscription,
    item: items[combined.item]!,
    plan: combined.plan,
    addonOnly: combined.addonOnly,
  };
}

/**
 * One bulk walk's memory: items resolved once per price, and one combination per shape of
 * subscriptions (statuses, prices, quantities), so the thousands of customers on the same plan
 * and add-ons share one combined plan instead of each combining its own. Bounded: a walk over
 * per-tenant custom prices evicts instead of growing with the account.
 */
const walkMemo = () => ({
  items: createTtlCache<Promise<ResolvedItem>>({ ttlMs: 60_000, maxEntries: 1_000 }),
  shapes: createTtlCache<Promise<Shape>>({ ttlMs: 60_000, maxEntries: 1_000 }),
});

/** A customer's subscriptions, ranked: the access-granting ones and the best of all. */
function rank(subscriptions: readonly Stripe.Subscription[]) {
  const ranked = [...subscriptions].sort(compareSubscriptions);
  return { ranked, granting: ranked.filter((s) => grantsAccess(s.status)), best: ranked[0] ?? null };
}

const productIdsOf = (subscriptions: readonly Stripe.Subscription[]) => subscriptions.flatMap(itemProductIds);

const listOfCustomer = (r: ReaderDeps, customerId: string) =>
  listAll(r.call, 'subscriptions.list', (page) =>
    r.stripe.subscriptions.list({ ...page, customer: customerId, status: 'all' }),
  );

/** One list of the customer's subscriptions answers every question callers ask. */
async function readCustomer(r: ReaderDeps, customerId: string) {
  // Subscription items embed the full price already; the product comes from the plan cache
  // (Stripe caps expansion at 4 levels, so data.items.data.price.product is not allowed).
  const subscriptions = await listOfCustomer(r, customerId);
  const { granting, best } = rank(subscriptions);
  const known = granting.length > 0 ? await r.plans.prefetchProducts(productIdsOf(granting)) : new Map();
  return { granting, best, known };
}

async function getSubscriptionState(r: ReaderDeps, customerId: string): Promise<SubscriptionState> {
  const { granting, best, known } = await readCustomer(r, customerId);
  if (granting.length === 0) return { active: null, mostRelevant: best };
  const combined = await combine(r, granting, itemResolver(r, known));
  if (!combined) throw new PlanNotFoundError(granting[0]!.id);
  const { subscription, item, plan } = combined;
  const active = {
    subscription,
    customerId,
    status: subscription.status,
    plan,
    priceId: item.price.id,
    productId: plan.productId,
  };
  return { active, mostRelevant: best };
}

const listPageOf =
  (r: ReaderDeps) => (page: { limit: number; starting_after?: string; created?: Stripe.RangeQueryParam }) =>
    r.stripe.subscriptions.list({ ...page, status: 'all', expand: ['data.customer'] });

/**
 * One entry per customer: its granting subscriptions combined into one plan (or, when none
 * grants access, the best of the rest), products fetched in bulk and items resolved once per price.
 */
async function toEntries(
  r: ReaderDeps,
  byCustomer: Map<string, CustomerGroup>,
  memo: ReturnType<typeof walkMemo>,
  /** Gets the customers whose granting subscriptions hold only add-ons. */
  addonOnly?: Set<string>,
): Promise<CustomerSubscriptionEntry[]> {
  // Per customer: the granting subscriptions (which combine), or else the best of the rest.
  const chosen = new Map<string, { contributing: Stripe.Subscription[]; grantsAccess: boolean }>();
  for (const [customerId, group] of byCustomer) {
    const { granting, best } = rank(group.subscriptions);
    if (best)
      chosen.set(customerId, {
        contributing: granting.length > 0 ? granting : [best],
        grantsAccess: granting.length > 0,
      });
  }
  // All products the chosen subscriptions need, in one products.list per 100 uncached ones.
  const known = await r.plans.prefetchProducts(
    [...chosen.values()].flatMap((c) => productIdsOf(c.contributing)),
  );
  const resolveItem = itemResolver(r, known, memo.items);

  const entries: CustomerSubscriptionEntry[] = [];
  for (const [customerId, { contributing, grantsAccess: granting }] of chosen) {
    const group = byCustomer.get(customerId)!;
    let customer = group.customer;
    if (typeof customer === 'string') {
      customer = await r.call('customers.retrieve', () => r.stripe.customers.retrieve(customerId));
    }
    // A deleted customer's subscriptions are all canceled; there is nobody to sync.
    if ((customer as Stripe.DeletedCustomer).deleted) continue;
    let combined: Combined | null = null;
    let error: BillingError | undefined;
    try {
      combined = await combine(r, contributing, resolveItem, !granting, memo.shapes);
      if (!combined) throw new PlanNotFoundError(contributing[0]!.id);
    } catch (caught) {
      // One product with broken metadata must not stop the walk for everybody else.
      if (!(caught instanceof BillingError)) throw caught;
      error = caught;
    }
    const subscription = combined?.subscription ?? contributing[0]!;
    if (granting && combined?.addonOnly) addonOnly?.add(customerId);
    entries.push({
      customer: customer as Stripe.Customer,
      subscription,
      status: subscription.status,
      grantsAccess: granting,
      plan: combined?.plan ?? null,
      ...(error ? { error } : {}),
      tenantIdHint:
        hint((customer as Stripe.Customer).metadata?.tenantId) ?? hint(subscription.metadata?.tenantId),
    });
  }
  return entries;
}

/**
 * What the streaming walk remembers of every customer it handed out, for the whole run: one number
 * per customer, in an IdMap (~45 bytes a customer outside the collected heap, where a record holding
 * the best subscription's id cost ~250 inside it, multiplied by the collector's headroom: most of
 * what a walk over a million customers cost). The number packs the ranking of the best
 * subscription met so far (status rank, then newest `created`; smaller ranks better) and two flags:
 * whether that subscription grants access, and whether the customer was read whole (later pages
 * leave it be). The subscription's id is not kept: two subscriptions that tie on status and
 * `created` are told apart by their ids, so a tie is settled by reading the customer whole.
 */
function createSeenCustomers() {
  // `created` is a Unix time in seconds; the span leaves room for milliseconds too.
  const SPAN = 2 ** 42;
  const keyOf = (s: Ranked) =>
    (STATUS_RANK[s.status] ?? 10) * SPAN +
    (SPAN - 1 - Math.min(SPAN - 1, Math.max(0, Math.floor(s.created))));
  const pack = (key: number, granting: boolean, whole: boolean) =>
    key * 4 + (granting ? 2 : 0) + (whole ? 1 : 0);
  const seen = createIdMap();
  const isWhole = (customerId: string) => (seen.get(customerId) ?? 0) % 2 === 1;
  return {
    /**
     * A page's best subscription of a customer: 'new' (first met: hand it out), 'drop' (an earlier
     * page's was at least as good, or the customer was read whole), 'supersede' (this one ranks
     * better: hand it out again) or 'reread' (a second granting subscription, which combines with
     * the first, or a tie: read the customer's subscriptions whole and hand that out again).
     */
    meet(customerId: string, best: Ranked, granting: boolean): 'new' | 'drop' | 'supersede' | 'reread' {
      const key = keyOf(best);
      const before = seen.get(customerId);
      if (before === undefined) {
        seen.set(customerId, pack(key, granting, false));
        return 'new';
      }
      const beforeKey = Math.floor(before / 4);
      if (before % 2 === 1) return 'drop';
      if ((before % 4 >= 2 && granting) || beforeKey === key) {
        // Set before any await: a page handled meanwhile sees the customer as read whole.
        seen.set(customerId, pack(key, granting, true));
        return 'reread';
      }
      if (beforeKey < key) return 'drop';
      seen.set(customerId, pack(key, granting, false));
      return 'supersede';
    },
    isWhole,
    markWhole(customerId: string) {
      const before = seen.get(customerId);
      if (before !== undefined && !isWhole(customerId)) seen.set(customerId, before + 1);
    },
  };
}

export function createSubscriptionReader(
  stripe: Stripe,
  call: StripeCall,
  plans: PlanResolver,
  catalog: PlanCatalog,
  /** Pages of the bulk walk in flight at once (see listByCreatedRanges). */
  listConcurrency = 1,
) {
  const r: ReaderDeps = { stripe, call, plans, catalog };
  const listPage = listPageOf(r);
  return {
    getSubscriptionState: (customerId: string) => getSubscriptionState(r, customerId),

    /**
     * The access-granting subscription holding the plan item, and that item, without resolving (or
     * judging) any plan's metadata: the custom-plan flow switches this item and leaves add-ons alone.
     */
    async getGrantingSubscription(customerId: string): Promise<GrantingSubscription | null> {
      const { granting, known } = await readCustomer(r, customerId);
      return planItemAcross(granting, (id) => known.get(id), r.plans.hasAttachedFeatures);
    },

    async getActiveSubscription(customerId: string): Promise<ActiveSubscription | null> {
      return (await getSubscriptionState(r, customerId)).active;
    },

    /**
     * Every subscription (customer expanded), grouped per customer, plus one products.list per 100
     * products not yet cached. The subscriptions are read with up to `listConcurrency` pages in
     * flight (disjoint `created` ranges, every page through the rate limiter), in the order one
     * cursor walk would give. `limit` caps the customers returned; it reads one page at a time and
     * stops on the page where the cap is passed, so a customer whose older subscriptions sit on a
     * later page is judged on the ones seen. Each customer's granting subscriptions combine into
     * one plan, as for a single customer's read.
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
          await listByCreatedRanges(r.call, 'subscriptions.list', listPage, { concurrency: listConcurrency }),
        );
      } else {
        await forEachPage(r.call, 'subscriptions.list', listPage, (page) => {
          addPage(page);
          return byCustomer.size <= limit;
        });
      }
      return toEntries(
        r,
        limit === undefined ? byCustomer : new Map([...byCustomer].slice(0, limit)),
        walkMemo(),
      );
    },

    /**
     * The same walk as getCustomersWithSubscriptions() without a limit, handed out a page at a time
     * as pages arrive (in no particular order) instead of all at the end: `onEntries` gets the
     * customers of each page, and the walk waits for it (so memory holds at most `listConcurrency`
     * pages). A customer whose subscriptions span pages is handed out again, with `supersedes`,
     * when a later page holds a better-ranked subscription, or a second granting one: granting
     * subscriptions combine, so then the customer's subscriptions are read again whole (one list
     * call, rare: several granting subscriptions created far apart) and later pages leave it be.
     * A customer whose granting subscriptions on a page hold only add-ons (an add-on bought after
     * the plan, met first by a newest-first walk) is read whole before it is handed out at all, so
     * its plan is not written without the base for a moment. Remembering who was handed out costs
     * one number per customer for the run (createSeenCustomers); two subscriptions of a customer on
     * different pages that tie on status and `created` make it read whole too.
     */
    async forEachCustomerPage(onEntries: (entries: CustomerSubscriptionEntry[]) => Promise<void>) {
      const seen = createSeenCustomers();
      const memo = walkMemo();
      await listByCreatedRanges(r.call, 'subscriptions.list', listPage, {
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
          const reread: string[] = [];
          for (const [customerId, group] of groups) {
            const { granting, best } = rank(group.subscriptions);
            const verdict = seen.meet(customerId, best!, granting.length > 0);
            if (verdict === 'drop') groups.delete(customerId);
            else if (verdict !== 'new') superseding.add(customerId);
            if (verdict === 'reread') reread.push(customerId);
          }
          await Promise.all(
            reread.map(async (customerId) => {
              groups.get(customerId)!.subscriptions = await listOfCustomer(r, customerId);
            }),
          );
          if (groups.size === 0) return;
          const addonOnly = new Set<string>();
          let entries = await toEntries(r, groups, memo, addonOnly);
          const incomplete = [...addonOnly].filter((id) => !seen.isWhole(id));
          if (incomplete.length > 0) {
            const whole = new Map<string, CustomerGroup>();
            await Promise.all(
              incomplete.map(async (customerId) => {
                seen.markWhole(customerId);
                const { customer } = groups.get(customerId)!;
                whole.set(customerId, { customer, subscriptions: await listOfCustomer(r, customerId) });
              }),
            );
            const replaced = new Map((await toEntries(r, whole, memo)).map((e) => [e.customer.id, e]));
            entries = entries.map((e) => replaced.get(e.customer.id) ?? e);
          }
          for (const entry of entries) if (superseding.has(entry.customer.id)) entry.supersedes = true;
          await onEntries(entries);
        },
      });
    },
  };
}
