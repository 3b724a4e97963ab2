import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { databaseCatalog, isCatalogSource, type PlanCatalog } from '../../io/catalog/registry.js';
import {
  overLimitKeys,
  previewTenantPlan,
  type KeyChange,
  type OverLimit,
  type PlanChangeSkip,
  type TenantPlanPreview,
} from '../../core/index.js';
import { PlanNotFoundError, StripeNotFoundError, ValidationError } from '../../core/errors.js';
import { resolvePlanDefaults, validateFeatureMap, type ProductLike } from '../../io/metadata/index.js';
import { readsEntitlementFeatures, readsMetadataFeatures } from '../../io/plan-source/index.js';
import { sqlThroughPrisma, type RunSql } from '../../io/sql-runner.js';
import { listAll } from '../../io/stripe-sync/list-pages.js';
import { parsePlan } from '../../io/stripe-sync/plans.js';
import type { StripeSyncService } from '../../io/stripe-sync/index.js';
import { stateFromJson } from '../../io/tenant-store/index.js';
import type { FeatureCatalog, FeatureMap, MergeStrategy, PlanDefaults } from '../../core/types.js';

/**
 * A proposed edit of the product or price named: new `metadata`, merged into the object's as
 * Stripe's update merges it (an empty string removes a key), or a new feature map for the features
 * that object grants (a product's metadata and attached Stripe Features; a price's `features`).
 */
export type ProposedPlan = { metadata: Record<string, string> } | { features: FeatureMap };

export interface PreviewPlanOptions {
  /** The strategy the sync would apply the plan with (default 'merge', the sync's). */
  mergeStrategy?: MergeStrategy;
  /** Tenants listed in `tenants` at most (default 1000); the counts cover all of them. */
  limit?: number;
  /** The instant whose usage period is read for metered keys (default now). */
  now?: Date;
}

/** One tenant the change would touch (or that the sync would leave alone, and why). */
export type TenantPreview =
  | { tenantId: string; outcome: 'change'; changes: KeyChange[]; overLimit: OverLimit[] }
  | { tenantId: string; outcome: 'skip'; reason: PlanChangeSkip };

export interface PlanChangePreview {
  planId: string;
  object: 'product' | 'price';
  /** The plan's features before and after, per price the tenants on it are billed through. */
  plans: { priceId: string | null; before: FeatureMap; after: FeatureMap }[];
  /** Tenants on the plan, and how many of them would change, stay, be skipped, be over a limit. */
  summary: {
    tenants: number;
    changed: number;
    unchanged: number;
    skipped: Partial<Record<PlanChangeSkip, number>>;
    overLimit: number;
  };
  /** Changed and skipped tenants, by tenant id, at most `limit`. */
  tenants: TenantPreview[];
  truncated: boolean;
}

export interface PreviewPlanDeps {
  /** Read only: pass the read pool. */
  prisma: PrismaClient;
  /** Its Stripe client, rate limiter and plan source; its catalog unless `catalog` is given. */
  stripeSync: Pick<StripeSyncService, 'stripe' | 'call' | 'planSource' | 'catalog'>;
  catalog?: PlanCatalog;
}

/** Tenants read per statement. */
const PAGE = 1000;

/**
 * Which tenants a change to a plan's product or price would change, each key's value before and
 * after, and for metered keys which tenants' usage this period would be above the new limit. The
 * decision is the sync's own (decidePlanChange, through previewTenantPlan) on each tenant's stored
 * config; nothing is written, in Stripe or in the database. Tenants are those whose config names
 * the product (or price), read a page at a time; Stripe is read before the first page, so no
 * connection is held across a Stripe call.
 */
export async function previewPlanChange(
  deps: PreviewPlanDeps,
  productOrPriceId: string,
  proposed: ProposedPlan,
  options: PreviewPlanOptions = {},
): Promise<PlanChangePreview> {
  const object = objectOf(productOrPriceId);
  checkProposed(proposed);
  const sql = sqlThroughPrisma(deps.prisma);
  const limit = options.limit ?? 1000;
  if (!Number.isInteger(limit) || limit < 0)
    throw new ValidationError('limit must be a whole number', [{ path: 'limit', message: 'must be ≥ 0' }]);
  const now = options.now ?? new Date();
  const catalogSource = deps.catalog ?? deps.stripeSync.catalog ?? databaseCatalog(deps.prisma);
  const column = object === 'product' ? 'stripe_product_id' : 'stripe_price_id';

  // Which prices the plan's tenants are billed through: each gives the product a plan of its own.
  const priceIds = (
    await sql<{ price_id: string | null }>(
      `SELECT DISTINCT stripe_price_id AS price_id FROM tenant_feature_configs WHERE ${column} = $1`,
      [productOrPriceId],
    )
  ).map((r) => r.price_id);
  const plans = await plansBeforeAndAfter(deps, object, productOrPriceId, priceIds, proposed, catalogSource);
  const known = isCatalogSource(catalogSource) ? await catalogSource.current() : catalogSource;
  const metered = new Set([...(known?.values() ?? [])].filter((d) => d.usage).map((d) => d.key));

  const preview: PlanChangePreview = {
    planId: productOrPriceId,
    object,
    plans: [...plans].map(([priceId, p]) => ({
      priceId,
      before: p.before.features,
      after: p.after.features,
    })),
    summary: { tenants: 0, changed: 0, unchanged: 0, skipped: {}, overLimit: 0 },
    tenants: [],
    truncated: false,
  };
  let after = '';
  for (;;) {
    const rows = await sql<{ config: unknown }>(
      `SELECT row_to_json(c) AS config FROM tenant_feature_configs c
        WHERE ${column} = $1 AND tenant_id > $2 ORDER BY tenant_id LIMIT ${PAGE}`,
      [productOrPriceId, after],
    );
    if (rows.length === 0) break;
    const states = rows.map((r) => stateFromJson(r.config));
    after = states.at(-1)!.tenantId;
    const decided = states.map((state): TenantPlanPreview => {
      const plan = plans.get(state.stripePriceId);
      // Moved to another price of the product since the prices were read: its newer state is not ours to judge.
      if (!plan) return { tenantId: state.tenantId, outcome: 'skip', reason: 'stale_read' };
      return previewTenantPlan(state, plan.after, options.mergeStrategy);
    });
    const usage = await countersOf(
      sql,
      decided.filter((d) => d.outcome === 'change' && d.changes.some((c) => metered.has(c.key))),
      metered,
      known,
      now,
    );
    for (const d of decided) {
      preview.summary.tenants += 1;
      let listed: TenantPreview;
      if (d.outcome === 'unchanged') {
        preview.summary.unchanged += 1;
        continue;
      } else if (d.outcome === 'skip') {
        preview.summary.skipped[d.reason] = (preview.summary.skipped[d.reason] ?? 0) + 1;
        listed = d;
      } else {
        const over = overLimitKeys(d.changes, metered, usage.get(d.tenantId) ?? new Map());
        preview.summary.changed += 1;
        if (over.length > 0) preview.summary.overLimit += 1;
        listed = { ...d, overLimit: over };
      }
      if (preview.tenants.length < limit) preview.tenants.push(listed);
      else preview.truncated = true;
    }
    if (rows.length < PAGE) break;
  }
  return preview;
}

function objectOf(id: string): 'product' | 'price' {
  if (typeof id === 'string' && /^prod_[A-Za-z0-9_]+$/.test(id)) return 'product';
  if (typeof id === 'string' && /^(price|plan)_[A-Za-z0-9_]+$/.test(id)) return 'price';
  throw new ValidationError(`"${String(id)}" is not a Stripe product (prod_…) or price (price_…) id`, [
    { path: 'planId', message: 'must be a product or price id' },
  ]);
}

function checkProposed(proposed: unknown): asserts proposed is ProposedPlan {
  const p = proposed as Partial<Record<'metadata' | 'features', unknown>> | null;
  const plain = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const one = plain(p) && Object.keys(p!).length === 1;
  if (one && plain(p!.metadata)) {
    const bad = Object.entries(p!.metadata as object).find(([, v]) => typeof v !== 'string');
    if (!bad) return;
    throw new ValidationError(`metadata.${bad[0]} must be a string`, [
      { path: `metadata.${bad[0]}`, message: 'must be a string ("" removes the key)' },
    ]);
  }
  if (one && plain(p!.features)) return;
  throw new ValidationError('proposed must be { metadata: {…} } or { features: {…} }', [
    { path: 'proposed', message: 'must be { metadata } or { features }' },
  ]);
}

type PlanPair = { before: PlanDefaults; after: PlanDefaults };

/** The plan each price gives now and with the proposed edit, read from Stripe (no cache: a preview wants today's objects). */
async function plansBeforeAndAfter(
  deps: PreviewPlanDeps,
  object: 'product' | 'price',
  id: string,
  priceIds: (string | null)[],
  proposed: ProposedPlan,
  catalog: PlanCatalog,
): Promise<Map<string | null, PlanPair>> {
  const { stripe, call, planSource } = deps.stripeSync;
  const retrieve = async <T>(label: string, read: () => Promise<T>): Promise<T> => {
    try {
      const found = await call(label, read);
      if ((found as { deleted?: boolean }).deleted) throw new PlanNotFoundError(id);
      return found;
    } catch (error) {
      throw error instanceof StripeNotFoundError ? new PlanNotFoundError(id) : error;
    }
  };
  const productOf = (productId: string) =>
    retrieve('products.retrieve', () => stripe.products.retrieve(productId));
  const priceOf = (priceId: string) => retrieve('prices.retrieve', () => stripe.prices.retrieve(priceId));

  let product: Stripe.Product;
  const prices = new Map<string | null, Stripe.Price | null>();
  if (object === 'price') {
    const price = await priceOf(id);
    prices.set(id, price);
    product = await productOf(typeof price.product === 'string' ? price.product : price.product.id);
  } else {
    product = await productOf(id);
    for (const priceId of priceIds) prices.set(priceId, priceId ? await priceOf(priceId) : null);
  }
  if (prices.size === 0) prices.set(object === 'price' ? id : null, null);
  const attached = readsEntitlementFeatures(planSource)
    ? (await listAll(call, 'products.listFeatures', (page) => stripe.products.listFeatures(product.id, page)))
        .map((pf) => pf.entitlement_feature)
        .filter((f) => f.active)
    : null;
  const sources = { metadata: readsMetadataFeatures(planSource), attached };
  const known = isCatalogSource(catalog) ? await catalog.current() : catalog;

  const out = new Map<string | null, PlanPair>();
  for (const [priceId, price] of prices) {
    const before = await parsePlan(product, price, catalog, sources);
    let after: PlanDefaults;
    if ('metadata' in proposed) {
      after =
        object === 'product'
          ? await parsePlan(edited(product, proposed.metadata), price, catalog, sources)
          : await parsePlan(product, price && edited(price, proposed.metadata), catalog, sources);
    } else if (object === 'product') {
      // The product grants exactly the map: its feature metadata and attached Features give way to it.
      after = resolvePlanDefaults(withoutFeatures(product), price, known, {
        entitlements: checkedFeatures(proposed.features, known),
      });
    } else {
      const features = checkedFeatures(proposed.features, known);
      const metadata = { features: Object.keys(features).length > 0 ? JSON.stringify(features) : '' };
      after = await parsePlan(product, price && edited(price, metadata), catalog, sources);
    }
    out.set(priceId, { before, after });
  }
  return out;
}

function edited<T extends { metadata: Stripe.Metadata }>(object: T, metadata: Record<string, string>): T {
  const merged: Record<string, string> = { ...object.metadata };
  for (const [key, value] of Object.entries(metadata)) {
    if (value === '') delete merged[key];
    else merged[key] = value;
  }
  return { ...object, metadata: merged };
}

function withoutFeatures(product: ProductLike): ProductLike {
  return edited(
    { ...product, metadata: product.metadata ?? {} },
    {
      features: '',
      featuresJson: '',
    },
  );
}

function checkedFeatures(features: FeatureMap, catalog: FeatureCatalog | undefined): FeatureMap {
  return catalog ? validateFeatureMap(features, catalog, 'features') : features;
}

/** The current period's counters of the metered keys each tenant's change touches: one statement. */
async function countersOf(
  sql: RunSql,
  changed: { tenantId: string }[],
  metered: ReadonlySet<string>,
  catalog: FeatureCatalog | undefined,
  now: Date,
): Promise<Map<string, Map<string, { used: number; reserved: number }>>> {
  const out = new Map<string, Map<string, { used: number; reserved: number }>>();
  if (changed.length === 0 || !catalog) return out;
  const keys = [...metered].map((key) => ({ key, reset: catalog.get(key)!.usage!.reset }));
  const rows = await sql<{ tenant_id: string; key: string; used: number; reserved: number }>(
    `SELECT t.id AS tenant_id, k.key, c.used::float8 AS used, c.reserved::float8 AS reserved
       FROM unnest($1::text[]) AS t(id)
      CROSS JOIN jsonb_to_recordset($2::jsonb) AS k(key text, reset text)
      CROSS JOIN LATERAL usage_period(t.id, k.reset, $3::timestamptz) p
       JOIN usage_counters c ON c.tenant_id = t.id AND c.key = k.key AND c.period_start = p.ps`,
    [changed.map((c) => c.tenantId), JSON.stringify(keys), now.toISOString()],
  );
  for (const row of rows) {
    let counters = out.get(row.tenant_id);
    if (!counters) out.set(row.tenant_id, (counters = new Map()));
    counters.set(row.key, { used: Number(row.used ?? 0), reserved: Number(row.reserved ?? 0) });
  }
  return out;
}
