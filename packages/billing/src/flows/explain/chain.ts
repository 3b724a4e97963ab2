import type { TenantFeatureState } from '../../core/index.js';
import type { AuditSourceName, FeatureValue } from '../../core/types.js';

/**
 * Why a tenant has the value it has for one feature: the pure half of explainFeature, from the
 * rows one statement reads (the config, or for a past instant the audit snapshot in force then,
 * and the audit rows that last changed the value and the override).
 */

/** Where the value comes from. `kept`: neither plan nor override, kept by the `preserve` merge. */
export type ExplainOrigin = 'override' | 'plan' | 'kept' | 'none';

export interface AuditRef {
  auditId: string;
  at: string;
  actor: string;
  source: AuditSourceName;
  action: string;
}

export interface PlanField {
  /** The Stripe object whose field set the plan value (the price's metadata wins, then Features, then the product). */
  object: 'price' | 'entitlement_feature' | 'product';
  id: string;
  /** `metadata.features`, `metadata.featuresJson`, or `lookup_key` for a Stripe Feature. */
  field: string;
}

export interface FeatureExplanation {
  tenantId: string;
  key: string;
  /** The instant explained (ISO), or null for now. */
  at: string | null;
  /** What the application reads (null: the tenant has no such key, so it reads off). */
  value: FeatureValue | null;
  origin: ExplainOrigin;
  /** How plan and override combine into the value. */
  rule: string;
  plan: {
    /** The plan's value (null when the plan has no such key, or unknown for a past instant). */
    value: FeatureValue | null;
    bundle: string | null;
    productId: string | null;
    priceId: string | null;
    configSource: TenantFeatureState['source'] | null;
    /** Where in Stripe the value is set, when Stripe was asked (see explainFeature's `stripe`). */
    field: PlanField | null;
  };
  override: (AuditRef & { value: FeatureValue | null }) | null;
  access: {
    active: boolean;
    subscriptionStatus: string | null;
    /** The value is forced off/0 because the subscription grants no access. */
    restricted: boolean;
    paymentFailedAt: string | null;
    /** When a failed payment's grace period ends (access is cut then unless paid). */
    graceUntil: string | null;
  };
  /** The audit row that last changed the value, and the webhook event behind it. */
  lastChange:
    | (AuditRef & {
        before: FeatureValue | null;
        after: FeatureValue | null;
        stripeEvent: { id: string; type: string | null } | null;
      })
    | null;
}

/** The audit row that last changed a value or an override, as the statement returns it. */
export interface ChangeRow {
  id: string;
  actor: string;
  source: AuditSourceName;
  action: string;
  created_at: string;
  stripe_event_id?: string | null;
  before_value?: FeatureValue | null;
  after_value?: FeatureValue | null;
  value?: FeatureValue | null;
}

/** What the audit log keeps of a state (tenant-store's auditSnapshot). */
export interface AuditSnapshot {
  features?: Record<string, FeatureValue>;
  overrides?: Record<string, FeatureValue>;
  bundle?: string | null;
  source?: TenantFeatureState['source'];
  stripeProductId?: string | null;
  stripePriceId?: string | null;
  subscriptionStatus?: string | null;
  accessActive?: boolean;
}

export interface ChainInput {
  tenantId: string;
  key: string;
  at: Date | null;
  /** Now: the config row (null when the tenant has none). */
  state: TenantFeatureState | null;
  /** A past instant: the snapshot of the last audit row at or before it (null: nothing yet then). */
  snapshot: AuditSnapshot | null;
  valueChange: ChangeRow | null;
  overrideChange: ChangeRow | null;
  eventType: string | null;
  graceMs: number;
  planField?: PlanField | null;
}

export function explainChain(input: ChainInput): FeatureExplanation {
  const { key } = input;
  const view = input.at ? fromSnapshot(input.snapshot) : fromState(input.state);
  const has = (map: Record<string, FeatureValue> | null) => map !== null && Object.hasOwn(map, key);
  const value = has(view.features) ? view.features[key]! : null;
  const inOverrides = has(view.overrides);
  const inPlan = view.planFeatures === null ? value !== null && !inOverrides : has(view.planFeatures);
  const origin: ExplainOrigin = inOverrides ? 'override' : inPlan ? 'plan' : value !== null ? 'kept' : 'none';
  const graceUntil =
    view.paymentFailedAt && view.active
      ? new Date(view.paymentFailedAt.getTime() + input.graceMs).toISOString()
      : null;
  return {
    tenantId: input.tenantId,
    key,
    at: input.at?.toISOString() ?? null,
    value,
    origin,
    rule: ruleOf(origin, view.active),
    plan: {
      value: view.planFeatures && has(view.planFeatures) ? view.planFeatures[key]! : null,
      bundle: view.bundle,
      productId: view.productId,
      priceId: view.priceId,
      configSource: view.source,
      field: input.planField ?? null,
    },
    override:
      inOverrides && input.overrideChange
        ? { ...ref(input.overrideChange), value: view.overrides![key]! }
        : null,
    access: {
      active: view.active,
      subscriptionStatus: view.subscriptionStatus,
      restricted: !view.active && value !== null,
      paymentFailedAt: view.paymentFailedAt?.toISOString() ?? null,
      graceUntil,
    },
    lastChange: input.valueChange
      ? {
          ...ref(input.valueChange),
          before: input.valueChange.before_value ?? null,
          after: input.valueChange.after_value ?? null,
          stripeEvent: input.valueChange.stripe_event_id
            ? { id: input.valueChange.stripe_event_id, type: input.eventType }
            : null,
        }
      : null,
  };
}

function ruleOf(origin: ExplainOrigin, active: boolean): string {
  const base = {
    override: 'a tenant override wins over the plan (merge and preserve keep overrides; replace drops them)',
    plan: "the plan's value (price metadata over Stripe Features over product metadata)",
    kept: 'kept from an earlier plan by the preserve merge strategy (in neither the plan nor the overrides)',
    none: 'neither the plan nor an override grants it: off',
  }[origin];
  return active ? base : `${base}; forced off because the subscription grants no access`;
}

function ref(row: ChangeRow): AuditRef {
  return {
    auditId: row.id,
    at: utc(row.created_at)!.toISOString(),
    actor: row.actor,
    source: row.source,
    action: row.action,
  };
}

interface View {
  features: Record<string, FeatureValue>;
  overrides: Record<string, FeatureValue> | null;
  /** Null when unknown (the audit log does not keep plan features). */
  planFeatures: Record<string, FeatureValue> | null;
  bundle: string | null;
  productId: string | null;
  priceId: string | null;
  source: TenantFeatureState['source'] | null;
  active: boolean;
  subscriptionStatus: string | null;
  paymentFailedAt: Date | null;
}

function fromState(state: TenantFeatureState | null): View {
  return {
    features: state?.features ?? {},
    overrides: state?.overrides ?? {},
    planFeatures: state?.planFeatures ?? {},
    bundle: state?.bundle ?? null,
    productId: state?.stripeProductId ?? null,
    priceId: state?.stripePriceId ?? null,
    source: state?.source ?? null,
    active: state?.accessActive ?? true,
    subscriptionStatus: state?.subscriptionStatus ?? null,
    paymentFailedAt: state?.paymentFailedAt ?? null,
  };
}

function fromSnapshot(snapshot: AuditSnapshot | null): View {
  return {
    features: snapshot?.features ?? {},
    overrides: snapshot?.overrides ?? {},
    planFeatures: null,
    bundle: snapshot?.bundle ?? null,
    productId: snapshot?.stripeProductId ?? null,
    priceId: snapshot?.stripePriceId ?? null,
    source: snapshot?.source ?? null,
    active: snapshot?.accessActive ?? true,
    subscriptionStatus: snapshot?.subscriptionStatus ?? null,
    paymentFailedAt: null,
  };
}

/** A `timestamp` column as row_to_json writes it (no zone: stored as UTC). */
export function utc(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

/**
 * Which Stripe object and field sets `key` for a plan, in the order resolvePlanDefaults applies
 * them (the price's metadata wins, then the product's attached Features, then the product's
 * `featuresJson` over its `features` list). Null when none names the key.
 */
export function locatePlanField(
  key: string,
  product: { id: string; metadata?: Record<string, string> | null } | null,
  price: { id: string; metadata?: Record<string, string> | null } | null,
  features: { id: string; lookupKey: string | null }[] = [],
): PlanField | null {
  if (price && Object.hasOwn(jsonObject(price.metadata?.features), key)) {
    return { object: 'price', id: price.id, field: 'metadata.features' };
  }
  const feature = features.find((f) => f.lookupKey === key || f.lookupKey?.startsWith(`${key}#`));
  if (feature) return { object: 'entitlement_feature', id: feature.id, field: 'lookup_key' };
  if (!product) return null;
  if (Object.hasOwn(jsonObject(product.metadata?.featuresJson), key)) {
    return { object: 'product', id: product.id, field: 'metadata.featuresJson' };
  }
  const list = (product.metadata?.features ?? '').split(',').map((k) => k.trim());
  if (list.includes(key)) return { object: 'product', id: product.id, field: 'metadata.features' };
  return null;
}

function jsonObject(raw: string | undefined): Record<string, unknown> {
  if (!raw) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
