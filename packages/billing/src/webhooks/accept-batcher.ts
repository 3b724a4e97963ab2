import { acceptEvents, type AcceptInput, type AcceptOutcome, type RunSql } from './inbox.js';

/**
 * Group commit for the inbox: accepts that arrive while an insert is in flight wait for it, then go
 * together as ONE multi-row statement (`acceptEvents`: one round trip, one commit, one WAL flush for
 * all of them) instead of one autocommit INSERT each. A lone accept is written at once (no timer to
 * wait for); under load a batch is whatever arrived during the previous write, at most `maxBatch`.
 * Every caller resolves only after the statement that holds its row committed, and a failed
 * statement rejects every caller in it with its error: no delivery is answered 2xx without its row.
 * One statement at a time, so accepts hold at most one connection of the pool (two in flight made
 * smaller batches and measured no faster, see docs/webhooks.md).
 */
export interface AcceptBatcher {
  accept(input: AcceptInput): Promise<AcceptOutcome>;
}

export interface AcceptBatcherOptions {
  /** Most deliveries in one statement (default 500). */
  maxBatch?: number;
}

interface Waiting {
  input: AcceptInput;
  resolve(outcome: AcceptOutcome): void;
  reject(error: unknown): void;
}

export function createAcceptBatcher(sql: RunSql, options: AcceptBatcherOptions = {}): AcceptBatcher {
  const maxBatch = Math.max(1, options.maxBatch ?? 500);
  let waiting: Waiting[] = [];
  let writing = false;

  async function writeAll(): Promise<void> {
    writing = true;
    while (waiting.length > 0) {
      const batch = waiting.length <= maxBatch ? waiting : waiting.slice(0, maxBatch);
      waiting = batch === waiting ? [] : waiting.slice(maxBatch);
      try {
        const outcomes = await acceptEvents(
          sql,
          batch.map((w) => w.input),
        );
        batch.forEach((w, i) => w.resolve(outcomes[i]!));
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    writing = false;
  }

  return {
    accept(input) {
      return new Promise<AcceptOutcome>((resolve, reject) => {
        waiting.push({ input, resolve, reject });
        if (!writing) void writeAll();
      });
    },
  };
}
