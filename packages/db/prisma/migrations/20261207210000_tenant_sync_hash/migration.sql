-- The bulk sync's stored fingerprint (packages/billing/docs/reliability.md, "A sync that finds
-- nothing to do"): a hash of what Stripe implied for the tenant when a sync last wrote it or found
-- it up to date, and the config `version` it was taken against. A later sync sends each customer's
-- hash with its loading statement; a row whose hash matches, stored at its current version, is
-- known unchanged without reading its config back or deciding it again. NULL (rows from before this
-- migration, or never synced) counts as changed.
ALTER TABLE "tenant_feature_configs"
  ADD COLUMN "sync_hash" TEXT,
  ADD COLUMN "sync_hash_version" INTEGER;

-- Any other change to the row forgets the hash: an UPDATE that sets neither sync column (a webhook,
-- an override, a custom plan, a hand edit through Prisma or SQL that leaves `version` alone) clears
-- `sync_hash`, so the next sync reads and decides the row again. The sync's own statements always
-- set a new `sync_hash_version` (the version they wrote or read), so they keep theirs.
CREATE FUNCTION "tenant_feature_configs_forget_sync_hash"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.sync_hash IS NOT DISTINCT FROM OLD.sync_hash
     AND NEW.sync_hash_version IS NOT DISTINCT FROM OLD.sync_hash_version THEN
    NEW.sync_hash := NULL;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "tenant_feature_configs_forget_sync_hash"
  BEFORE UPDATE ON "tenant_feature_configs"
  FOR EACH ROW EXECUTE FUNCTION "tenant_feature_configs_forget_sync_hash"();
