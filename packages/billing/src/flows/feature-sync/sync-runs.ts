import { randomUUID } from 'node:crypto';
import { BillingError, SyncInProgressError, SyncRunNotFoundError } from '../../core/errors.js';
import type { AuditSourceName, MergeStrategy } from '../../core/types.js';
import type { RunSql } from '../../io/sql-runner.js';
import {
  claimSyncRun,
  finishSyncRun,
  listSyncRuns,
  readSyncRun,
  readSyncRunResults,
  requestSyncRunAbort,
  type SyncRunRecord,
  type SyncRunStatus,
  type SyncRunTiming,
} from '../../io/sync-runs/store.js';
import { createSyncRunWriter, type SyncRunWriter } from './sync-run-writer.js';
import type { SyncAllOptions, SyncResult, SyncSummary } from './sync-all.js';

/** What a run is asked to do: the sync's options, who asks, and whether up-to-date results are kept. */
export interface SyncRunRequest {
  dryRun?: boolean;
  force?: boolean;
  mergeStrategy?: MergeStrategy;
  limit?: number;
  tenantId?: string;
  /** Store every tenant's result, the up-to-date ones too (default: only those that need a look). */
  includeUpToDate?: boolean;
  actor: string;
  source: AuditSourceName;
  /** Also handed each result (after the run has taken it): the CLI's --json-lines. */
  onResult?: SyncAllOptions['onResult'];
  onProgress?: SyncAllOptions['onProgress'];
  /** Stops the run as POST …/abort does (the CLI's Ctrl-C). */
  signal?: AbortSignal;
}

export interface SyncRunsOptions {
  /** Writes: claiming, heartbeats with results, finishing (the write pool). */
  sql: RunSql;
  /** Reads of runs and result pages (the read pool; default `sql`). */
  readSql?: RunSql;
  /** How often a running run writes its heartbeat, progress and buffered results (default 5 s). */
  heartbeatMs?: number;
  /** A running run whose heartbeat is older than this reads as `abandoned` (default 60 s). */
  staleAfterMs?: number;
  /** Finished runs older than this many days are deleted with their results (default 14). */
  retentionDays?: number;
  /** Results per write statement (default 500). */
  batchSize?: number;
  /** What `close()` waits at most for local runs to stop and record themselves (default 10 s). */
  closeTimeoutMs?: number;
  /** A run failed on something that is not a BillingError: its details go here (the server's log). */
  onUnexpectedError?: (error: unknown, runId: string) => void;
}

/** How a run ended, for the caller that started it (the original error, not only its stored code). */
export interface FinishedSyncRun {
  runId: string;
  status: Exclude<SyncRunStatus, 'running'>;
  summary: SyncSummary | null;
  error?: unknown;
}

export interface SyncRunPage {
  run: SyncRunRecord;
  results: Array<{ seq: number } & SyncResult>;
  /** Where the next page starts; null once the run is over and this page reached its end. */
  nextCursor: string | null;
}

export interface SyncRuns {
  /**
   * Records a run and starts it in this process: answers once the row exists (the sync goes on in
   * the background; `finished` settles when it ends, never rejects). A full sync (no `tenantId`)
   * while another is running on any instance: SyncInProgressError naming that run.
   */
  start(request: SyncRunRequest): Promise<{ runId: string; finished: Promise<FinishedSyncRun> }>;
  get(runId: string): Promise<SyncRunRecord>;
  list(limit: number): Promise<SyncRunRecord[]>;
  /** Results after `cursor` (a page's `nextCursor`) in the order decided; stable while the run goes on. */
  results(runId: string, page: { cursor?: string; limit: number }): Promise<SyncRunPage>;
  /**
   * Asks the run to stop, on whichever instance runs it (at once on this one, at its next heartbeat
   * elsewhere). `requested` is false when the run was no longer running.
   */
  abort(runId: string): Promise<{ run: SyncRunRecord; requested: boolean }>;
  /** Aborts this process's runs and waits (bounded) for them to record how they ended. */
  close(): Promise<void>;
}

type SyncAll = (options: SyncAllOptions) => Promise<{ results: SyncResult[]; summary: SyncSummary }>;

export function createSyncRuns(
  featureSync: { syncAllTenantsFromStripe: SyncAll },
  options: SyncRunsOptions,
): SyncRuns {
  const { sql } = options;
  const readSql = options.readSql ?? sql;
  const timing: SyncRunTiming = {
    staleAfterMs: options.staleAfterMs ?? 60_000,
    retentionDays: options.retentionDays ?? 14,
  };
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const local = new Map<string, { controller: AbortController; finished: Promise<FinishedSyncRun> }>();

  async function execute(
    runId: string,
    request: SyncRunRequest,
    controller: AbortController,
    writer: SyncRunWriter,
  ): Promise<FinishedSyncRun> {
    const timer = setInterval(() => void writer.beat(), heartbeatMs);
    timer.unref?.();
    let outcome: FinishedSyncRun;
    try {
      const { onResult, onProgress, signal } = request;
      const { summary } = await featureSync.syncAllTenantsFromStripe({
        ...syncOptions(request),
        keepResults: false,
        signal: signal ? AbortSignal.any([controller.signal, signal]) : controller.signal,
        onResult: (result, replaces) => {
          writer.add(result, replaces);
          onResult?.(result, replaces);
        },
        onProgress: (progress) => {
          writer.onProgress(progress);
          onProgress?.(progress);
        },
      });
      // Every result is stored before the run reads as finished.
      await writer.drain();
      const failure = writer.failure();
      outcome =
        failure !== undefined
          ? { runId, status: 'failed', summary, error: failure }
          : { runId, status: summary.aborted ? 'aborted' : 'succeeded', summary };
    } catch (error) {
      outcome = { runId, status: 'failed', summary: null, error };
    } finally {
      clearInterval(timer);
    }
    // Another instance took the slot (this one's heartbeat went stale): the row stays `abandoned`.
    if (writer.lost()) return { ...outcome, status: 'abandoned' };
    try {
      const recorded = await finishSyncRun(sql, runId, {
        status: outcome.status as 'succeeded' | 'failed' | 'aborted',
        summary: outcome.summary as unknown as Record<string, unknown> | null,
        error: outcome.error === undefined ? null : storedError(outcome.error, runId),
        progress: writer.progress(),
      });
      // Taken over since its last heartbeat: the row stays as the other instance left it.
      if (!recorded) return { ...outcome, status: 'abandoned' };
    } catch (error) {
      // The row then reads `abandoned` once its heartbeat is stale; the caller still gets the outcome.
      options.onUnexpectedError?.(error, runId);
    }
    return outcome;
  }

  function storedError(error: unknown, runId: string): { code: string; message: string } {
    if (error instanceof BillingError) return { code: error.code, message: error.message };
    options.onUnexpectedError?.(error, runId);
    return { code: 'internal_error', message: 'The sync failed unexpectedly; details are in the server log' };
  }

  return {
    async start(request) {
      const runId = randomUUID();
      const claim = await claimSyncRun(
        sql,
        {
          id: runId,
          exclusive: request.tenantId === undefined,
          options: storedOptions(request),
          actor: request.actor,
        },
        timing,
      );
      if (!claim.claimed) {
        const { id, startedAt, heartbeatAt } = claim.running;
        throw new SyncInProgressError(id, startedAt, heartbeatAt, timing.staleAfterMs);
      }
      const controller = new AbortController();
      const writer = createSyncRunWriter({
        runId,
        sql,
        batchSize: options.batchSize ?? 500,
        includeUpToDate: request.includeUpToDate ?? false,
        staleAfterMs: timing.staleAfterMs,
        stop: () => controller.abort(),
      });
      const finished = execute(runId, request, controller, writer).finally(() => local.delete(runId));
      local.set(runId, { controller, finished });
      return { runId, finished };
    },

    async get(runId) {
      const run = await readSyncRun(readSql, runId, timing);
      if (!run) throw new SyncRunNotFoundError(runId);
      return run;
    },

    list: (limit) => listSyncRuns(readSql, limit, timing),

    async results(runId, page) {
      const afterSeq = page.cursor === undefined ? -1 : Number(page.cursor);
      const found = await readSyncRunResults(readSql, runId, { afterSeq, limit: page.limit }, timing);
      if (!found) throw new SyncRunNotFoundError(runId);
      const { run, results } = found;
      const last = results.at(-1)?.seq ?? afterSeq;
      // A short page of a run that is over is the end; a running run may still add rows after it.
      const end = results.length < page.limit && run.status !== 'running';
      return {
        run,
        results: results.map((r) => ({ seq: r.seq, ...(r.result as unknown as SyncResult) })),
        nextCursor: end ? null : String(last),
      };
    },

    async abort(runId) {
      const run = await requestSyncRunAbort(sql, runId, timing);
      if (!run) throw new SyncRunNotFoundError(runId);
      local.get(runId)?.controller.abort();
      return { run, requested: run.status === 'running' };
    },

    async close() {
      const runs = [...local.values()];
      for (const run of runs) run.controller.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(runs.map((r) => r.finished)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, options.closeTimeoutMs ?? 10_000);
          timer.unref?.();
        }),
      ]);
      clearTimeout(timer);
    },
  };
}

function syncOptions(request: SyncRunRequest): SyncAllOptions {
  const { includeUpToDate: _kept, onResult: _r, onProgress: _p, signal: _s, ...rest } = request;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}

/** The options as the run's row keeps them (and GET …/runs/:id shows them). */
function storedOptions(request: SyncRunRequest): Record<string, unknown> {
  return {
    dryRun: request.dryRun ?? false,
    force: request.force ?? false,
    mergeStrategy: request.mergeStrategy ?? 'merge',
    limit: request.limit ?? null,
    tenantId: request.tenantId ?? null,
    includeUpToDate: request.includeUpToDate ?? false,
    source: request.source,
  };
}
