import { messageOf } from '../../core/errors.js';

/** The logger calls a RepeatedErrorLog makes (pino's signature: fields first, then the message). */
export interface RunLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** The webhook workers' claim loop: what main.ts and worker-main.ts log. */
export const WEBHOOK_CLAIM_MESSAGES: RunMessages = {
  failed: 'webhook worker could not claim; retrying',
  stillFailing: 'webhook worker still cannot claim; retrying',
  recovered: 'webhook worker claims again',
};

/**
 * Reporting for a loop that retries the same failing call (a worker polling a database that is
 * down): the first failure of a run is logged whole, with its stack; the ones after it are counted
 * and summarised in one line every `summaryEveryMs`; the first success after a run says how long
 * it lasted. A 5 s database outage under a 250 ms poll was 104 lines of stack traces.
 */
export interface RepeatedErrorLog {
  failed(error: unknown): void;
  succeeded(): void;
}

export interface RepeatedErrorLogOptions {
  /** How often a run still failing is summarised (default 60 s). */
  summaryEveryMs?: number;
  now?: () => number;
}

/** The three lines of a run: its first failure, a summary while it lasts, its end. */
export interface RunMessages {
  failed: string;
  stillFailing: string;
  recovered: string;
}

export function repeatedErrorLog(
  log: RunLogger,
  messages: RunMessages,
  options: RepeatedErrorLogOptions = {},
): RepeatedErrorLog {
  const every = options.summaryEveryMs ?? 60_000;
  const now = options.now ?? Date.now;
  let run: { since: number; failures: number; unreported: number; reportedAt: number } | undefined;
  return {
    failed(error) {
      const at = now();
      if (!run) {
        run = { since: at, failures: 1, unreported: 0, reportedAt: at };
        log.error({ err: error }, messages.failed);
        return;
      }
      run.failures += 1;
      run.unreported += 1;
      if (at - run.reportedAt < every) return;
      log.warn(
        { failures: run.unreported, failingForMs: at - run.since, lastError: messageOf(error) },
        messages.stillFailing,
      );
      run.unreported = 0;
      run.reportedAt = at;
    },
    succeeded() {
      if (!run) return;
      log.info({ failures: run.failures, failedForMs: now() - run.since }, messages.recovered);
      run = undefined;
    },
  };
}
