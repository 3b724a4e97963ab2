-- Stripe meters (packages/billing/docs/usage.md, Operators): what a counter owes Stripe is
-- `used` (or `overage`) plus `stripe_offset`, the units an operator's setUsage / resetUsage took off
-- the counter after they were counted. It only grows, so what is owed never goes back: a range in
-- flight while an operator lowers the counter stays valid and is recorded when Stripe answers, and a
-- range's identifier is never reused for other units of the period.
ALTER TABLE "usage_counters" ADD COLUMN "stripe_offset" BIGINT NOT NULL DEFAULT 0;
