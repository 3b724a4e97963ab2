/** A feature flag is either on/off or a numeric limit. */
export type FeatureValue = boolean | number;
export type FeatureMap = Record<string, FeatureValue>;

export interface FeatureDefinition {
  key: string;
  type: 'boolean' | 'number';
  description: string;
  /** Set when the key is deprecated: values already stored stay readable, new overrides refuse it. */
  deprecatedAt?: Date | null;
  /** Set on metered number keys: usage is counted against the tenant's value (docs/usage.md). */
  usage?: UsageRules | null;
  /** How a number key combines across a customer's items and subscriptions; absent means `max`. */
  combine?: CombineRule;
  /** What follows when usage is above a lowered limit; absent means `block_new`. */
  overLimit?: OverLimitPolicy;
}

/** `max`: the highest grant wins (one plan's meaning); `sum`: grants add up (add-ons that add capacity). */
export type CombineRule = 'max' | 'sum';

/**
 * Usage above a lowered limit: `block_new` keeps what exists and refuses new ones, `grace:<days>`
 * allows new ones until the days have passed and then blocks, `allow` lets usage go on growing.
 */
export type OverLimitPolicy = 'block_new' | 'allow' | `grace:${number}`;

/** Known feature keys; parsing and admin input reject anything else. */
export type FeatureCatalog = ReadonlyMap<string, FeatureDefinition>;

export type MergeStrategy = 'merge' | 'replace' | 'preserve';

export type AuditSourceName = 'webhook' | 'sync' | 'cli' | 'admin' | 'custom_plan';

/** What a Stripe plan (product + optional price) grants, after product and price metadata are merged. */
export interface PlanDefaults {
  productId: string;
  productName: string;
  priceId: string | null;
  lookupKey: string | null;
  bundle: string | null;
  features: FeatureMap;
  scrapeIntervalHours: number | null;
  custom: boolean;
  /** Set on custom (per-tenant) prices: the only tenant the plan is meant for. */
  tenantId: string | null;
}

/** When a metered key's counter starts again from zero (core/usage.ts USAGE_RESETS). */
export type UsageReset = 'billing_period' | 'month' | 'day' | 'never';
/** What a request beyond the limit does (core/usage.ts USAGE_OVERAGE_POLICIES). */
export type UsageOveragePolicy = 'reject' | 'cap' | 'allow';
/** What a metered key reports to its Stripe meter (core/usage.ts USAGE_METER_REPORTS). */
export type UsageMeterReport = 'usage' | 'overage';

/** A metered key's settings in the feature catalog (`usage` of a number key). */
export interface UsageRules {
  reset: UsageReset;
  overage: UsageOveragePolicy;
  /** Alert thresholds, percent of the limit (default 80 and 100; docs/usage.md, Alerts). */
  thresholds?: number[];
  /** The `event_name` of a Stripe Billing Meter the usage is reported to (docs/usage.md, Stripe meters). */
  stripeMeter?: string;
  /** What is reported to `stripeMeter`: every unit used (default) or only the overage. */
  stripeMeterReport?: UsageMeterReport;
}
