-- The feature keys 20261125000100 seeded are the demo's plans, not the host's: a host's catalog is
-- its own, registered with `stripe-entitlements manage features add`, the admin API or addFeature().
-- A new install therefore starts with an empty catalog: the seeded rows are removed where nothing
-- can rely on them yet, i.e. while the database has no tenant, and only rows still exactly as
-- seeded (same type and description, never described or deprecated through the catalog API).
-- A database that already has tenants keeps every key: the Stripe metadata its plans carry (which
-- no SQL can see) may name them, an unknown key would turn those webhooks and syncs into errors,
-- and a key nobody uses costs nothing (`manage features deprecate` retires it).
DELETE FROM "feature_catalog" AS c
WHERE NOT EXISTS (SELECT 1 FROM "tenants")
  AND NOT EXISTS (SELECT 1 FROM "feature_catalog_audit_logs" AS a WHERE a."key" = c."key")
  AND c."deprecated_at" IS NULL
  AND (c."key", c."type"::text, c."description") IN (
    ('api_access', 'boolean', 'Access to the public REST API'),
    ('advanced_analytics', 'boolean', 'Advanced analytics dashboards'),
    ('priority_support', 'boolean', 'Priority support queue'),
    ('sso', 'boolean', 'Single sign-on (SAML/OIDC)'),
    ('custom_domains', 'boolean', 'Custom domains'),
    ('white_label', 'boolean', 'Remove product branding'),
    ('audit_export', 'boolean', 'Export of the audit log'),
    ('webhooks', 'boolean', 'Outgoing webhooks'),
    ('scheduled_reports', 'boolean', 'Scheduled e-mail reports'),
    ('bulk_export', 'boolean', 'Bulk data export'),
    ('max_projects', 'number', 'Maximum number of projects'),
    ('max_users', 'number', 'Maximum number of seats'),
    ('max_scrapers', 'number', 'Maximum number of concurrent scrapers'),
    ('api_rate_limit', 'number', 'API requests per minute'),
    ('data_retention_days', 'number', 'Days of data retention')
  );
