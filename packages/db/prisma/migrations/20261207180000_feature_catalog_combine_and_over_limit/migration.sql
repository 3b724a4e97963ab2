-- Per number key: how grants combine across a customer's items and subscriptions (add-ons, seats),
-- and what follows when usage is above a lowered limit. Booleans keep the defaults (OR'ed; block_new).
ALTER TABLE "feature_catalog" ADD COLUMN "combine" TEXT NOT NULL DEFAULT 'max';
ALTER TABLE "feature_catalog" ADD COLUMN "over_limit" TEXT NOT NULL DEFAULT 'block_new';
ALTER TABLE "feature_catalog" ADD CONSTRAINT "feature_catalog_combine_check"
  CHECK ("combine" IN ('max', 'sum') AND ("type" = 'number' OR "combine" = 'max'));
ALTER TABLE "feature_catalog" ADD CONSTRAINT "feature_catalog_over_limit_check"
  CHECK ("over_limit" ~ '^(block_new|allow|grace:[0-9]{1,3})$' AND ("type" = 'number' OR "over_limit" = 'block_new'));
