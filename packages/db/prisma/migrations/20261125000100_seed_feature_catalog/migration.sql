-- Seed the feature catalog with the keys the default plans use. Deployments add their own
-- keys with further INSERTs (or the admin API); unknown keys are rejected everywhere.
INSERT INTO "feature_catalog" ("key", "type", "description") VALUES
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
ON CONFLICT ("key") DO NOTHING;
