-- AlterTable
-- `overrides`: the request's overrides, kept apart from the merged features, so a caller idempotency
-- key reused with different overrides (fewer keys included) is refused instead of replaying the old
-- plan. NULL on rows created before this migration: those keep the weaker per-key check.
-- `checkout_session_id` / `checkout_expires_at`: which Checkout Session the stored URL belongs to and
-- when Stripe expires it (24 h), so a replay never hands out a dead link or a second session for a
-- checkout that was already completed.
-- `switched_*`: the subscription item an attempt moved onto the custom price and the price it was on,
-- written before the move, so a failure (even after a crash and resume) can move it back.
ALTER TABLE "custom_plans" ADD COLUMN "overrides" JSONB,
ADD COLUMN "checkout_session_id" TEXT,
ADD COLUMN "checkout_expires_at" TIMESTAMP(3),
ADD COLUMN "switched_subscription_id" TEXT,
ADD COLUMN "switched_item_id" TEXT,
ADD COLUMN "switched_from_price_id" TEXT;
