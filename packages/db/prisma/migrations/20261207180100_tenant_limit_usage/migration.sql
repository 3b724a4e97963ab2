-- Usage of number features as the host reports it through checkLimit, and since when it is above
-- the tenant's limit (a downgrade lowered the limit below what exists). One row per tenant and key.
CREATE TABLE "tenant_limit_usage" (
    "tenant_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "used" INTEGER NOT NULL,
    "limit" INTEGER NOT NULL,
    "over_since" TIMESTAMP(3),
    "reported_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tenant_limit_usage_pkey" PRIMARY KEY ("tenant_id", "key"),
    CONSTRAINT "tenant_limit_usage_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
