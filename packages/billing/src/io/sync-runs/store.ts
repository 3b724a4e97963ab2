import type { RunSql } from '../sql-runner.js';

/*
 * The `sync_runs` and `sync_run_results` tables (migration sync_runs): each function is one
 * statement (claiming is two), none held open across anything else. Times are compared with the
 * database's clock only, so instances whose clocks differ agree on which run is abandoned.
 */

export const SYNC_RUN_STATUSES = ['running', 'succeeded', 'failed', 'aborted', 'abandoned'] as const;
export type SyncRunStatus = (typeof SYNC_RUN_STATUSES)[number];

export interface SyncRunRecord {
  id: string;
  /** `running` whose heartbeat is older than the stale bound reads as `abandoned`. */
  status: SyncRunStatus;
  /** A full sync (no tenantId): at most one such run is running at a time. */
  exclusive: boolean;
  options: Record<string, unknown>;
  actor: string;
  startedAt: string;
  finishedAt: string | null;
  heartbeatAt: string;
  abortRequested: boolean;
  progress: { done: number; total: number };
  summary: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

export interface SyncRunResultRow {
  seq: number;
  tenantId: string | null;
  customerId: string;
  reason: string | null;
  result: Record<string, unknown>;
}

interface RunRow {
  id: string;
  status: SyncRunStatus;
  exclusive: boolean;
  options: Record<string, unknown>;
  actor: string;
  started_ms: number;
  finished_ms: number | null;
  heartbeat_ms: number;
  abort_requested: boolean;
  done: number;
  total: number;
  summary: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * The columns of a run as RunRow reads them, `running` with a heartbeat older than `stale` (a
 * parameter holding the bound in milliseconds) shown as `abandoned`.
 */
const runColumns = (stale: string) => `id::text AS id,
  CASE WHEN status = 'running' AND heartbeat_at < now() - ${stale}::float8 * interval '1 millisecond'
       THEN 'abandoned' ELSE status END AS status,
  exclusive, options, actor,
  ${ms('started_at')} AS started_ms, ${ms('finished_at')} AS finished_ms, ${ms('heartbeat_at')} AS heartbeat_ms,
  abort_requested_at IS NOT NULL AS abort_requested, done, total, summary, error`;

const iso = (n: number) => new Date(Number(n)).toISOString();

function toRecord(row: RunRow): SyncRunRecord {
  return {
    id: row.id,
    status: row.status,
    exclusive: row.exclusive,
    options: row.options,
    actor: row.actor,
    startedAt: iso(row.started_ms),
    finishedAt: row.finished_ms === null ? null : iso(row.finished_ms),
    heartbeatAt: iso(row.heartbeat_ms),
    abortRequested: row.abort_requested,
    progress: { done: Number(row.done), total: Number(row.total) },
    summary: row.summary,
    error: row.error,
  };
}

export interface SyncRunTiming {
  /** A running row whose heartbeat is older than this is abandoned (its instance stopped). */
  staleAfterMs: number;
  /** Finished runs (and their results) older than this many days are deleted when a run starts. */
  retentionDays: number;
}

/**
 * Records a new running run, unless it is exclusive and another exclusive run is running: then
 * answers that run. Before inserting, rows whose heartbeat went stale become `abandoned` (so a dead
 * instance's run does not hold the slot) and runs past the retention are deleted with their results.
 */
export async function claimSyncRun(
  sql: RunSql,
  run: { id: string; exclusive: boolean; options: Record<string, unknown>; actor: string },
  timing: SyncRunTiming,
): Promise<{ claimed: true } | { claimed: false; running: SyncRunRecord }> {
  await sql(
    `WITH stale AS (
       UPDATE sync_runs SET status = 'abandoned', finished_at = heartbeat_at
        WHERE status = 'running' AND heartbeat_at < now() - $1::float8 * interval '1 millisecond'
     )
     DELETE FROM sync_runs
      WHERE status <> 'running' AND coalesce(finished_at, started_at) < now() - $2::float8 * interval '1 day'`,
    [timing.staleAfterMs, timing.retentionDays],
  );
  // Two tries: the running run may finish between our insert and our read of it.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const inserted = await sql<{ id: string }>(
      `INSERT INTO sync_runs (id, status, exclusive, options, actor)
       VALUES ($1::uuid, 'running', $2, $3::jsonb, $4)
       ON CONFLICT DO NOTHING
       RETURNING id::text AS id`,
      [run.id, run.exclusive, JSON.stringify(run.options), run.actor],
    );
    if (inserted.length > 0) return { claimed: true };
    const [running] = await sql<RunRow>(
      `SELECT ${runColumns('$1')} FROM sync_runs WHERE status = 'running' AND exclusive`,
      [timing.staleAfterMs],
    );
    if (running) return { claimed: false, running: toRecord(running) };
  }
  throw new Error('sync run: the running full sync could neither be joined nor read');
}

/** A batch of results to store: rows to insert (or replace, by customer) and customers whose row goes. */
export interface SyncRunProgress {
  done: number;
  total: number;
  put: SyncRunResultRow[];
  /** Customers whose earlier result a later one replaced with one not stored (up to date). */
  drop: string[];
}

/**
 * The heartbeat: progress and a batch of results in one statement, applied only while the run is
 * still `running` (not abandoned by another instance meanwhile). Answers whether it still is, and
 * whether an abort was asked for (by any instance).
 */
export async function recordSyncRunProgress(
  sql: RunSql,
  runId: string,
  progress: SyncRunProgress,
): Promise<{ running: boolean; abortRequested: boolean }> {
  const rows = await sql<{ abort_requested: boolean }>(
    `WITH run AS (
       UPDATE sync_runs SET heartbeat_at = now(), done = $2, total = $3
        WHERE id = $1::uuid AND status = 'running'
       RETURNING id, abort_requested_at IS NOT NULL AS abort_requested
     ), dropped AS (
       DELETE FROM sync_run_results r USING run
        WHERE r.run_id = run.id AND r.customer_id <> ''
          AND r.customer_id IN (SELECT jsonb_array_elements_text($4::jsonb))
     ), put AS (
       INSERT INTO sync_run_results (run_id, seq, tenant_id, customer_id, reason, result)
       SELECT run.id, x.seq, x.tenant_id, x.customer_id, x.reason, x.result
         FROM run, jsonb_to_recordset($5::jsonb)
           AS x(seq int, tenant_id text, customer_id text, reason text, result jsonb)
       ON CONFLICT (run_id, customer_id) WHERE customer_id <> ''
       DO UPDATE SET tenant_id = excluded.tenant_id, reason = excluded.reason, result = excluded.result
     )
     SELECT abort_requested FROM run`,
    [
      runId,
      progress.done,
      progress.total,
      JSON.stringify(progress.drop),
      JSON.stringify(
        progress.put.map((r) => ({
          seq: r.seq,
          tenant_id: r.tenantId,
          customer_id: r.customerId,
          reason: r.reason,
          result: r.result,
        })),
      ),
    ],
  );
  const [row] = rows;
  return { running: row !== undefined, abortRequested: row?.abort_requested === true };
}

/** Ends a run that is still `running` (an abandoned one stays abandoned); false when it was not. */
export async function finishSyncRun(
  sql: RunSql,
  runId: string,
  end: {
    status: Exclude<SyncRunStatus, 'running' | 'abandoned'>;
    summary: Record<string, unknown> | null;
    error: { code: string; message: string } | null;
    progress?: { done: number; total: number };
  },
): Promise<boolean> {
  const rows = await sql<{ id: string }>(
    `UPDATE sync_runs
        SET status = $2, finished_at = now(), heartbeat_at = now(), summary = $3::jsonb, error = $4::jsonb,
            done = coalesce($5::int, done), total = coalesce($6::int, total)
      WHERE id = $1::uuid AND status = 'running'
     RETURNING id::text AS id`,
    [
      runId,
      end.status,
      end.summary === null ? null : JSON.stringify(end.summary),
      end.error === null ? null : JSON.stringify(end.error),
      end.progress?.done ?? null,
      end.progress?.total ?? null,
    ],
  );
  return rows.length > 0;
}

export async function readSyncRun(
  sql: RunSql,
  runId: string,
  timing: Pick<SyncRunTiming, 'staleAfterMs'>,
): Promise<SyncRunRecord | null> {
  const [row] = await sql<RunRow>(`SELECT ${runColumns('$2')} FROM sync_runs WHERE id = $1::uuid`, [
    runId,
    timing.staleAfterMs,
  ]);
  return row ? toRecord(row) : null;
}

/** The newest runs first. */
export async function listSyncRuns(
  sql: RunSql,
  limit: number,
  timing: Pick<SyncRunTiming, 'staleAfterMs'>,
): Promise<SyncRunRecord[]> {
  const rows = await sql<RunRow>(
    `SELECT ${runColumns('$2')} FROM sync_runs ORDER BY started_at DESC, id LIMIT $1`,
    [limit, timing.staleAfterMs],
  );
  return rows.map(toRecord);
}

/**
 * A page of a run's results after `afterSeq`, in the order decided, with the run's state read in the same
 * statement (so "finished, and this is the last page" is one consistent answer). Null for no run.
 */
export async function readSyncRunResults(
  sql: RunSql,
  runId: string,
  page: { afterSeq: number; limit: number },
  timing: Pick<SyncRunTiming, 'staleAfterMs'>,
): Promise<{ run: SyncRunRecord; results: SyncRunResultRow[] } | null> {
  const rows = await sql<RunRow & { results: SyncRunResultRow[] }>(
    `SELECT ${runColumns('$2')},
            coalesce((SELECT jsonb_agg(jsonb_build_object('seq', r.seq, 'tenantId', r.tenant_id,
                                        'customerId', r.customer_id, 'reason', r.reason, 'result', r.result)
                                       ORDER BY r.seq)
                        FROM (SELECT * FROM sync_run_results
                               WHERE run_id = $1::uuid AND seq > $3 ORDER BY seq LIMIT $4) r),
                     '[]'::jsonb) AS results
       FROM sync_runs WHERE id = $1::uuid`,
    [runId, timing.staleAfterMs, page.afterSeq, page.limit],
  );
  const [row] = rows;
  return row ? { run: toRecord(row), results: row.results } : null;
}

/** Asks a running run to stop (its instance sees it at its next heartbeat); the run as it stands. */
export async function requestSyncRunAbort(
  sql: RunSql,
  runId: string,
  timing: Pick<SyncRunTiming, 'staleAfterMs'>,
): Promise<SyncRunRecord | null> {
  const [row] = await sql<RunRow>(
    `UPDATE sync_runs SET abort_requested_at = coalesce(abort_requested_at, now())
      WHERE id = $1::uuid AND status = 'running'
     RETURNING ${runColumns('$2')}`,
    [runId, timing.staleAfterMs],
  );
  // Not running (finished, or no such run): nothing to ask; the run as it is, or null.
  return row ? toRecord(row) : readSyncRun(sql, runId, timing);
}
