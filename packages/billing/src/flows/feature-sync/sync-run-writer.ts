import { recordSyncRunProgress, type SyncRunResultRow } from '../../io/sync-runs/store.js';
import type { RunSql } from '../../io/sql-runner.js';
import type { SyncResult } from './sync-all.js';

/** Why the writer asks its run to stop. */
export type SyncRunStop =
  /** Someone asked (POST …/abort, on any instance). */
  | 'abort_requested'
  /** The row is no longer `running`: another instance found its heartbeat stale and took the slot. */
  | 'lost'
  /** The results could not be stored for half the stale bound. */
  | 'store_failed';

export interface SyncRunWriterOptions {
  runId: string;
  sql: RunSql;
  /** Results per statement: a batch this full is written at once, not at the next heartbeat. */
  batchSize: number;
  /** Store up-to-date results too (default: only the tenants that need a look). */
  includeUpToDate: boolean;
  staleAfterMs: number;
  stop: (why: SyncRunStop) => void;
  now?: () => number;
}

/**
 * A run's results on their way to `sync_run_results`, written with its heartbeat: `add` (the sync's
 * `onResult`) only buffers; `beat` writes the buffer, progress and heartbeat in one statement, one
 * at a time, never inside anything else. Memory holds at most the results that arrive while one
 * statement runs, plus a batch. A customer's later result replaces its earlier one (same `seq`), in
 * the buffer or in the table; one that is not stored (up to date) removes the earlier row.
 */
export function createSyncRunWriter(options: SyncRunWriterOptions) {
  const now = options.now ?? (() => performance.now());
  let nextSeq = 0;
  // By customer (a result without one gets a key of its own); null: delete the stored row.
  let pending = new Map<string, SyncRunResultRow | null>();
  const progress = { done: 0, total: 0 };
  let inFlight: Promise<void> | undefined;
  let lastBeat = now();
  let failure: unknown;
  /** The last write's error, cleared by a write that lands. */
  let lastError: unknown;
  let lost = false;

  function add(result: SyncResult, replaces: boolean): void {
    const key = result.customerId !== '' ? result.customerId : `\u0000${nextSeq}`;
    if (options.includeUpToDate || result.reason !== 'up_to_date') {
      const earlier = pending.get(key);
      pending.set(key, {
        seq: earlier?.seq ?? nextSeq++,
        tenantId: result.tenantId,
        customerId: result.customerId,
        reason: result.reason ?? null,
        result: { ...result },
      });
    } else if (replaces) pending.set(key, null);
    if (pending.size >= options.batchSize) void beat();
  }

  async function write(batch: Map<string, SyncRunResultRow | null>): Promise<void> {
    const put: SyncRunResultRow[] = [];
    const drop: string[] = [];
    for (const [key, row] of batch)
      if (row) put.push(row);
      else drop.push(key);
    try {
      const state = await recordSyncRunProgress(options.sql, options.runId, { ...progress, put, drop });
      lastBeat = now();
      lastError = undefined;
      if (!state.running) {
        lost = true;
        options.stop('lost');
      } else if (state.abortRequested) options.stop('abort_requested');
    } catch (error) {
      lastError = error;
      // Kept for the next beat; a newer result of the same customer, taken meanwhile, wins.
      for (const [key, row] of batch) if (!pending.has(key)) pending.set(key, row);
      if (now() - lastBeat > options.staleAfterMs / 2) {
        failure ??= error;
        options.stop('store_failed');
      }
    }
  }

  /** Writes what is buffered with the heartbeat; while one write runs, answers that one. Never rejects. */
  function beat(): Promise<void> {
    if (inFlight) return inFlight;
    const batch = pending;
    pending = new Map();
    const run = write(batch).finally(() => {
      inFlight = undefined;
      if (pending.size >= options.batchSize && !lost) void beat();
    });
    inFlight = run;
    return run;
  }

  /** Writes everything buffered (three tries); throws the last failure if some is still left. */
  async function drain(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      while (inFlight) await inFlight;
      if (lost || (pending.size === 0 && lastError === undefined)) return;
      await beat();
    }
    while (inFlight) await inFlight;
    if (!lost && lastError !== undefined) throw lastError;
  }

  return {
    add,
    beat,
    drain,
    onProgress(p: { done: number; total: number }) {
      progress.done = p.done;
      progress.total = p.total;
    },
    progress: () => ({ ...progress }),
    /** The store's error that stopped the run, if one did. */
    failure: () => failure,
    /** Whether another instance took the run over (it reads `abandoned`). */
    lost: () => lost,
  };
}

export type SyncRunWriter = ReturnType<typeof createSyncRunWriter>;
