-- Managing the feature catalog and tenants through the library, admin API and CLI.

-- A deprecated key stays readable (stored values and Stripe plans keep working) but new overrides
-- refuse it.
ALTER TABLE "feature_catalog" ADD COLUMN "deprecated_at" TIMESTAMP(3);
ALTER TABLE "feature_catalog" ADD COLUMN "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- Changes to the catalog itself are audited like changes to tenants.
CREATE TABLE "feature_catalog_audit_logs" (
    "id" BIGSERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "source" "AuditSource" NOT NULL,
    "action" TEXT NOT NULL,
    "before" JSONB,
    "after" JSONB,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "feature_catalog_audit_logs_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "feature_catalog_audit_logs_key_created_at_idx" ON "feature_catalog_audit_logs"("key", "created_at");

-- The audit log outlives the tenants it describes: deleting a tenant removes its config and custom
-- plans (cascade) but keeps its audit rows, the last of which records the deletion itself.
ALTER TABLE "feature_audit_logs" DROP CONSTRAINT "feature_audit_logs_tenant_id_fkey";

-- Tenant listing filters.
CREATE INDEX "tenant_feature_configs_bundle_idx" ON "tenant_feature_configs"("bundle");
CREATE INDEX "tenant_feature_configs_updated_at_idx" ON "tenant_feature_configs"("updated_at");

-- Keys are case-sensitive, but two keys differing only in case are a typo waiting to happen.
CREATE UNIQUE INDEX "feature_catalog_key_lower_key" ON "feature_catalog"(lower("key"));
