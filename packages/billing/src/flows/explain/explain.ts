import type Stripe from 'stripe';
import type { PrismaClient } from '@packages/db';
import { gracePeriodMs } from '../../core/index.js';
import { TenantNotFoundError } from '../../core/errors.js';
import { sqlThroughPrisma } from '../../io/sql-runner.js';
import { stateFromJson } from '../../io/tenant-store/index.js';
import {
  explainChain,
  locatePlanField,
  type AuditSnapshot,
  type ChangeRow,
  type FeatureExplanation,
  type PlanField,
} from './chain.js';

export interface ExplainOptions {
  /** Explain the value at this past instant, from the audit log (default: now, from the config). */
  at?: Date;
  /** With a Stripe client, the plan's product / price / Features are read to name the field that sets the value. */
  stripe?: Stripe;
  /** The payment grace period, for `access.graceUntil` (default 7 days, as the webhook handler's). */
  gracePeriodDays?: number;
}

/**
 * ONE statement on `prisma` (pass the read pool): the tenant, its config (now) or the audit
 * snapshot in force at `at`, the audit rows that last changed the value and the override (each a
 * backward walk of the (tenant_id, created_at) index that stops at the first match), and the
 * webhook event behind the value's change.
 */
const EXPLAIN_SQL = `
SELECT t.id,
       row_to_json(c) AS config,
       s.after AS snapshot,
       row_to_json(v) AS value_change,
       row_to_json(o) AS override_change,
       e.type AS event_type
  FROM tenants t
  LEFT JOIN tenant_feature_configs c ON c.tenant_id = t.id AND $3::timestamptz IS NULL
  LEFT JOIN LATERAL (
    SELECT a.after FROM feature_audit_logs a
     WHERE a.tenant_id = t.id AND $3::timestamptz IS NOT NULL
       AND a.created_at <= ($3::timestamptz AT TIME ZONE 'UTC') AND a.after ? 'features'
     ORDER BY a.created_at DESC, a.id DESC LIMIT 1) s ON true
  LEFT JOIN LATERAL (
    SELECT a.id::text AS id, a.actor, a.source, a.action, a.created_at, a.stripe_event_id,
           a.before->'features'->$2 AS before_value, a.after->'features'->$2 AS after_value
      FROM feature_audit_logs a
     WHERE a.tenant_id = t.id
       AND ($3::timestamptz IS NULL OR a.created_at <= ($3::timestamptz AT TIME ZONE 'UTC'))
       AND (a.before->'features'->$2) IS DISTINCT FROM (a.after->'features'->$2)
       AND a.after ? 'features'
     ORDER BY a.created_at DESC, a.id DESC LIMIT 1) v ON true
  LEFT JOIN LATERAL (
    SELECT a.id::text AS id, a.actor, a.source, a.action, a.created_at, a.after->'overrides'->$2 AS value
      FROM feature_audit_logs a
     WHERE a.tenant_id = t.id
       AND ($3::timestamptz IS NULL OR a.created_at <= ($3::timestamptz AT TIME ZONE 'UTC'))
       AND (a.before->'overrides'->$2) IS DISTINCT FROM (a.after->'overrides'->$2)
       AND a.after ? 'overrides'
     ORDER BY a.created_at DESC, a.id DESC LIMIT 1) o ON true
  LEFT JOIN processed_stripe_events e ON e.event_id = v.stripe_event_id
 WHERE t.id = $1`;

interface ExplainRow {
  id: string;
  config: unknown;
  snapshot: AuditSnapshot | null;
  value_change: ChangeRow | null;
  override_change: ChangeRow | null;
  event_type: string | null;
}

/**
 * The value of `key` for `tenantId` and the chain that produced it: plan (product / price, and
 * with `stripe` the object and field in Stripe), override (who, when), the merge rule, access
 * (status, grace), and the audit row and webhook event that last changed it. With `at`, the same
 * for a past instant, from the audit log. Throws TenantNotFoundError for an unknown tenant.
 */
export async function explainFeature(
  prisma: PrismaClient,
  tenantId: string,
  key: string,
  options: ExplainOptions = {},
): Promise<FeatureExplanation> {
  const at = options.at ?? null;
  const [row] = await sqlThroughPrisma(prisma)<ExplainRow>(EXPLAIN_SQL, [
    tenantId,
    key,
    at?.toISOString() ?? null,
  ]);
  if (!row) throw new TenantNotFoundError(tenantId);
  const state = row.config ? stateFromJson(row.config) : null;
  const productId = at ? (row.snapshot?.stripeProductId ?? null) : (state?.stripeProductId ?? null);
  const priceId = at ? (row.snapshot?.stripePriceId ?? null) : (state?.stripePriceId ?? null);
  const planField = options.stripe ? await findPlanField(options.stripe, key, productId, priceId) : null;
  return explainChain({
    tenantId,
    key,
    at,
    state,
    snapshot: row.snapshot,
    valueChange: row.value_change,
    overrideChange: row.override_change,
    eventType: row.event_type,
    graceMs: gracePeriodMs(options.gracePeriodDays),
    planField,
  });
}

/** Reads the plan's Stripe objects (after the statement: no connection is held meanwhile). */
async function findPlanField(
  stripe: Stripe,
  key: string,
  productId: string | null,
  priceId: string | null,
): Promise<PlanField | null> {
  if (!productId) return null;
  const [product, price] = await Promise.all([
    stripe.products.retrieve(productId),
    priceId ? stripe.prices.retrieve(priceId) : Promise.resolve(null),
  ]);
  const found = locatePlanField(key, product, price);
  if (found?.object === 'price') return found;
  const attached = await stripe.products.listFeatures(productId, { limit: 100 });
  const features = attached.data.map((f) => ({
    id: f.entitlement_feature.id,
    lookupKey: f.entitlement_feature.lookup_key,
  }));
  return locatePlanField(key, product, price, features);
}
