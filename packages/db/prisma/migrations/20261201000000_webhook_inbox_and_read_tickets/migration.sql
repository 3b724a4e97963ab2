-- The processed-event ledger becomes the webhook inbox: the route stores the verified event and
-- answers at once; workers claim pending events (FOR UPDATE SKIP LOCKED), grouped by customer,
-- and process them with one Stripe read and one write per customer. See docs/webhooks.md.

-- 'pending' = stored, not processed yet (or waiting for its next attempt after a failure).
-- Only added here, never used in this transaction (PostgreSQL forbids that for a new enum value).
ALTER TYPE "EventStatus" ADD VALUE IF NOT EXISTS 'pending' BEFORE 'processing';

-- attempts keeps counting deliveries (Stripe's redeliveries included); processing_attempts counts
-- the workers' tries, which drive the backoff and the switch to 'failed'.
ALTER TABLE "processed_stripe_events"
  ADD COLUMN "payload" JSONB,
  ADD COLUMN "customer_id" TEXT,
  ADD COLUMN "queue_key" TEXT,
  ADD COLUMN "processing_attempts" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "next_attempt_at" TIMESTAMPTZ(3),
  ADD COLUMN "locked_until" TIMESTAMPTZ(3),
  ADD COLUMN "claim_ticket" BIGINT,
  ADD COLUMN "last_error" TEXT;

-- Rows written before the inbox existed were processed in their request: they belong to no queue.
UPDATE "processed_stripe_events" SET "queue_key" = "event_id" WHERE "queue_key" IS NULL;

-- Claiming: due rows by time, then every due row of the chosen queue (customer).
CREATE INDEX "processed_stripe_events_status_next_attempt_at_idx"
  ON "processed_stripe_events"("status", "next_attempt_at");
CREATE INDEX "processed_stripe_events_status_locked_until_idx"
  ON "processed_stripe_events"("status", "locked_until");
CREATE INDEX "processed_stripe_events_queue_key_status_idx"
  ON "processed_stripe_events"("queue_key", "status");

-- Read tickets: every Stripe read that ends in a tenant write takes one first; the write only
-- lands when its ticket is newer than the one stored on the tenant, so a read that started
-- earlier never overwrites the result of a read that started later (no lock held across Stripe).
CREATE SEQUENCE "stripe_read_ticket" AS BIGINT START WITH 1;
ALTER TABLE "tenant_feature_configs" ADD COLUMN "read_ticket" BIGINT NOT NULL DEFAULT 0;
