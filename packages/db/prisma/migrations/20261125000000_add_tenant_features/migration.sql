-- CreateEnum
CREATE TYPE "FeatureSource" AS ENUM ('plan', 'custom', 'manual');

-- CreateEnum
CREATE TYPE "AuditSource" AS ENUM ('webhook', 'sync', 'cli', 'admin', 'custom_plan');

-- CreateEnum
CREATE TYPE "FeatureType" AS ENUM ('boolean', 'number');

-- CreateEnum
CREATE TYPE "EventStatus" AS ENUM ('processing', 'processed', 'ignored', 'failed');

-- CreateTable
CREATE TABLE "tenants" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "stripe_customer_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tenant_feature_configs" (
    "tenant_id" TEXT NOT NULL,
    "features" JSONB NOT NULL DEFAULT '{}',
    "plan_features" JSONB NOT NULL DEFAULT '{}',
    "overrides" JSONB NOT NULL DEFAULT '{}',
    "scrape_interval_hours" INTEGER,
    "bundle" TEXT,
    "source" "FeatureSource" NOT NULL DEFAULT 'plan',
    "stripe_product_id" TEXT,
    "stripe_price_id" TEXT,
    "stripe_subscription_id" TEXT,
    "subscription_status" TEXT,
    "access_active" BOOLEAN NOT NULL DEFAULT true,
    "payment_failed_at" TIMESTAMP(3),
    "last_payment_at" TIMESTAMP(3),
    "trial_ends_at" TIMESTAMP(3),
    "version" INTEGER NOT NULL DEFAULT 0,
    "last_stripe_event_at" TIMESTAMP(3),
    "last_stripe_event_id" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenant_feature_configs_pkey" PRIMARY KEY ("tenant_id")
);

-- CreateTable
CREATE TABLE "feature_audit_logs" (
    "id" BIGSERIAL NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "source" "AuditSource" NOT NULL,
    "action" TEXT NOT NULL,
    "before" JSONB,
    "after" JSONB,
    "stripe_event_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "feature_audit_logs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "processed_stripe_events" (
    "event_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "status" "EventStatus" NOT NULL,
    "action" TEXT,
    "tenant_id" TEXT,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "stripe_created_at" TIMESTAMP(3) NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processed_at" TIMESTAMP(3),

    CONSTRAINT "processed_stripe_events_pkey" PRIMARY KEY ("event_id")
);

-- CreateTable
CREATE TABLE "custom_plans" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "base_plan_id" TEXT NOT NULL,
    "plan_name" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "stripe_product_id" TEXT,
    "stripe_price_id" TEXT,
    "price_cents" INTEGER NOT NULL,
    "currency" TEXT NOT NULL,
    "interval" TEXT NOT NULL,
    "features" JSONB NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "checkout_url" TEXT,
    "error" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "custom_plans_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "feature_catalog" (
    "key" TEXT NOT NULL,
    "type" "FeatureType" NOT NULL,
    "description" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "feature_catalog_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "api_tokens" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "tenant_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMP(3),

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "tenants_stripe_customer_id_key" ON "tenants"("stripe_customer_id");

-- CreateIndex
CREATE INDEX "tenant_feature_configs_stripe_product_id_idx" ON "tenant_feature_configs"("stripe_product_id");

-- CreateIndex
CREATE INDEX "tenant_feature_configs_stripe_price_id_idx" ON "tenant_feature_configs"("stripe_price_id");

-- CreateIndex
CREATE INDEX "tenant_feature_configs_stripe_subscription_id_idx" ON "tenant_feature_configs"("stripe_subscription_id");

-- CreateIndex
CREATE INDEX "feature_audit_logs_tenant_id_created_at_idx" ON "feature_audit_logs"("tenant_id", "created_at");

-- CreateIndex
CREATE INDEX "feature_audit_logs_stripe_event_id_idx" ON "feature_audit_logs"("stripe_event_id");

-- CreateIndex
CREATE INDEX "processed_stripe_events_status_received_at_idx" ON "processed_stripe_events"("status", "received_at");

-- CreateIndex
CREATE INDEX "processed_stripe_events_tenant_id_idx" ON "processed_stripe_events"("tenant_id");

-- CreateIndex
CREATE UNIQUE INDEX "custom_plans_stripe_product_id_key" ON "custom_plans"("stripe_product_id");

-- CreateIndex
CREATE UNIQUE INDEX "custom_plans_stripe_price_id_key" ON "custom_plans"("stripe_price_id");

-- CreateIndex
CREATE UNIQUE INDEX "custom_plans_idempotency_key_key" ON "custom_plans"("idempotency_key");

-- CreateIndex
CREATE INDEX "custom_plans_tenant_id_idx" ON "custom_plans"("tenant_id");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");

-- AddForeignKey
ALTER TABLE "tenant_feature_configs" ADD CONSTRAINT "tenant_feature_configs_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "feature_audit_logs" ADD CONSTRAINT "feature_audit_logs_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "custom_plans" ADD CONSTRAINT "custom_plans_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
