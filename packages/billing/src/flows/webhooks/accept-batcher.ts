import { createRequestBatcher } from '../../io/request-batcher.js';
import { acceptEvents, type AcceptInput, type AcceptOutcome, type RunSql } from './inbox.js';

/**
 * Group commit for the inbox: accepts that arrive while an insert is in flight wait for it, then go
 * together as ONE multi-row statement (`acceptEvents`: one round trip, one commit, one WAL flush for
 * all of them) instead of one autocommit INSERT each. A lone accept is written at once (no timer to
 * wait for); under load a batch is whatever arrived during the previous write, at most `maxBatch`.
 * Every caller resolves only after the statement that holds its row committed: no delivery is
 * answered 2xx without its row. A failed statement is tried again delivery by delivery (in the one
 * slot), so only a delivery that cannot be stored fails, with its own error (Stripe redelivers it). One event id twice in a batch is handled by
 * `acceptEvents` itself, so repeats do not wait for the next batch. One statement at a time, so
 * accepts hold at most one connection of the pool (two in flight made smaller batches and measured
 * no faster, see docs/webhooks.md).
 */
export interface AcceptBatcher {
  accept(input: AcceptInput): Promise<AcceptOutcome>;
}

export interface AcceptBatcherOptions {
  /** Most deliveries in one statement (default 500). */
  maxBatch?: number;
}

export function createAcceptBatcher(sql: RunSql, options: AcceptBatcherOptions = {}): AcceptBatcher {
  const batcher = createRequestBatcher<AcceptInput, AcceptOutcome>({
    run: (inputs) => acceptEvents(sql, inputs),
    // A statement that fails is tried again delivery by delivery, so one delivery that cannot be
    // stored fails alone instead of taking every delivery of its batch with it on each redelivery.
    runAlone: async (input) => (await acceptEvents(sql, [input]))[0]!,
    maxInFlight: 1,
    maxBatch: options.maxBatch ?? 500,
  });
  return { accept: (input) => batcher.request(input) };
}
