-- AlterTable
-- The request's overrides, kept apart from the merged features, so a caller idempotency key reused
-- with different overrides (fewer keys included) is refused instead of replaying the old plan.
-- NULL on rows created before this migration: those keep the weaker per-key check.
ALTER TABLE "custom_plans" ADD COLUMN "overrides" JSONB;
