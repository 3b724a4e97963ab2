/**
 * The columns of tenant_feature_configs that an upsert of a whole state overwrites with the row it
 * proposes (`EXCLUDED`). Both upserts (the ticketed write after a Stripe read and the bulk sync's
 * batched write) use this one list, so a new column cannot be written by one and forgotten by the
 * other; each adds its own rule for `read_ticket` and its own guard (version, ticket).
 */
export const CONFIG_UPSERT_COLUMNS = [
  'features',
  'plan_features',
  'overrides',
  'scrape_interval_hours',
  'bundle',
  'source',
  'stripe_product_id',
  'stripe_price_id',
  'stripe_subscription_id',
  'subscription_status',
  'access_active',
  'payment_failed_at',
  'last_payment_at',
  'trial_ends_at',
  'current_period_start',
  'current_period_end',
  'version',
  'last_stripe_event_at',
  'last_stripe_event_id',
  'updated_at',
] as const;

/** `features = EXCLUDED.features, …` for `ON CONFLICT (tenant_id) DO UPDATE SET`. A constant: no input reaches it. */
export const SET_CONFIG_FROM_EXCLUDED = CONFIG_UPSERT_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(', ');
