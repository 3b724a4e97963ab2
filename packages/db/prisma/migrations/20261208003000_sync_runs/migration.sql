-- Bulk sync runs (packages/billing/docs/admin-api.md, "Sync runs"): POST /api/admin/sync starts a run
-- on the instance that took the request and answers with its id; any instance answers for it from
-- these rows. The instance running it writes its results in batches and beats `heartbeat_at` while it
-- goes on; a `running` row whose heartbeat stopped (the instance died) reads as `abandoned`.
CREATE TABLE "sync_runs" (
  "id"                 UUID        NOT NULL,
  "status"             TEXT        NOT NULL,
  -- Whether the run walks the whole account (no tenantId): at most one such run is running at a time.
  "exclusive"          BOOLEAN     NOT NULL,
  "options"            JSONB       NOT NULL,
  "actor"              TEXT        NOT NULL,
  "started_at"         TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "finished_at"        TIMESTAMPTZ(3),
  "heartbeat_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "abort_requested_at" TIMESTAMPTZ(3),
  "done"               INTEGER     NOT NULL DEFAULT 0,
  "total"              INTEGER     NOT NULL DEFAULT 0,
  "summary"            JSONB,
  "error"              JSONB,
  CONSTRAINT "sync_runs_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "sync_runs_status" CHECK ("status" IN ('running', 'succeeded', 'failed', 'aborted', 'abandoned'))
);

-- One running full sync across every instance: a second one's INSERT conflicts here. (A lock held
-- for the run's length would hold a connection across the whole Stripe walk.) A row left `running`
-- by a dead instance is set `abandoned` by the next start once its heartbeat is stale.
CREATE UNIQUE INDEX "sync_runs_one_running" ON "sync_runs" ("exclusive") WHERE "status" = 'running' AND "exclusive";

-- The newest runs first (GET /api/admin/sync/runs), and pruning by age.
CREATE INDEX "sync_runs_started_at_idx" ON "sync_runs" ("started_at");

-- A run's results, in the order it decided them (`seq`): the tenants that need a look (changed, skipped, failed),
-- and the up-to-date ones only when the run was asked for them. A customer's later result in the
-- same run (its subscriptions span Stripe pages) replaces its row, keeping its `seq`.
CREATE TABLE "sync_run_results" (
  "run_id"      UUID    NOT NULL,
  "seq"         INTEGER NOT NULL,
  "tenant_id"   TEXT,
  "customer_id" TEXT    NOT NULL,
  "reason"      TEXT,
  "result"      JSONB   NOT NULL,
  CONSTRAINT "sync_run_results_pkey" PRIMARY KEY ("run_id", "seq"),
  CONSTRAINT "sync_run_results_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "sync_runs" ("id") ON DELETE CASCADE
);

-- (A result without a customer, e.g. a tenantId run's `no_customer`, is its run's only one.)
CREATE UNIQUE INDEX "sync_run_results_customer" ON "sync_run_results" ("run_id", "customer_id") WHERE "customer_id" <> '';
