import type { StripeWebhookPipeline, ProcessedQueue } from './handler.js';

export interface WebhookWorkerOptions {
  /** Customer queues processed at once (each loop claims one customer at a time). */
  concurrency: number;
  /**
   * How often an idle loop looks for due events: retries whose backoff ran out, leases of a killed
   * worker, events accepted by another process (default 250 ms). Events accepted by this process
   * wake the loops at once.
   */
  pollIntervalMs?: number;
  onError?: (error: unknown) => void;
  onProcessed?: (outcome: ProcessedQueue) => void;
}

export interface WebhookWorkers {
  /** Wakes idle loops (called on every accept in this process). */
  wake(): void;
  /** No new claims; resolves once the claims in progress have finished. */
  stop(): Promise<void>;
}

/**
 * Runs `concurrency` loops that claim and process due inbox events until stopped. Registers with
 * the pipeline, so while it runs the HTTP route answers right after storing the event.
 */
export function startWebhookWorkers(
  pipeline: Pick<StripeWebhookPipeline, 'processNext' | 'onAccepted'>,
  options: WebhookWorkerOptions,
): WebhookWorkers {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const poll = options.pollIntervalMs ?? 250;
  let stopped = false;
  let waiters: Array<() => void> = [];

  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const resolve of woken) resolve();
  };

  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref?.();
      function done() {
        clearTimeout(timer);
        waiters = waiters.filter((w) => w !== done);
        resolve();
      }
      waiters.push(done);
    });

  async function loop() {
    while (!stopped) {
      let outcome: ProcessedQueue | null;
      try {
        outcome = await pipeline.processNext();
      } catch (error) {
        // The database is down or a bug: report it and keep the loop alive, slowly.
        try {
          options.onError?.(error);
        } catch {
          // A throwing logger must not end the loop.
        }
        if (!stopped) await idle(poll);
        continue;
      }
      if (outcome === null) {
        if (!stopped) await idle(poll);
        continue;
      }
      options.onProcessed?.(outcome);
    }
  }

  const unsubscribe = pipeline.onAccepted(wake);
  const loops = Array.from({ length: concurrency }, () => loop());

  return {
    wake,
    async stop() {
      stopped = true;
      unsubscribe();
      wake();
      await Promise.all(loops);
    },
  };
}
