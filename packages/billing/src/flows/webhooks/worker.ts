import type { StripeWebhookPipeline, ProcessedQueue } from './handler.js';

export interface WebhookWorkerOptions {
  /** Customer queues processed at once (each slot processes one customer at a time). */
  concurrency: number;
  /**
   * How often an idle pool looks for due events: retries whose backoff ran out, leases of a killed
   * worker, events accepted by another process (default 250 ms). Events accepted by this process
   * wake the pool at once.
   */
  pollIntervalMs?: number;
  /** A claim statement or a slot failed (the database is down, or a bug); the pool carries on. */
  onError?: (error: unknown) => void;
  /** A claim statement succeeded: the end of a run of `onError`s, if there was one (repeatedErrorLog). */
  onClaimed?: () => void;
  onProcessed?: (outcome: ProcessedQueue) => void;
}

export interface WebhookWorkers {
  /** Wakes an idle pool (called on every accept in this process). */
  wake(): void;
  /** No new claims; resolves once the claims in progress have finished. */
  stop(): Promise<void>;
}

/**
 * Processes due inbox events with up to `concurrency` customer queues in flight until stopped.
 * One dispatcher claims for the whole pool: each claim statement takes as many queues as there are
 * free slots (`claimQueues`), so the claim cost is shared by the customers it takes and the pool's
 * slots never race each other for the same oldest row. Each claimed queue is processed at once in
 * a free slot (its lease runs from the claim); pools of 8 slots or more also hold concurrency / 8
 * claimed queues ready for the next slots that free up. Registers with the pipeline, so while it runs the HTTP
 * route answers right after storing the event.
 */
export function startWebhookWorkers(
  pipeline: Pick<StripeWebhookPipeline, 'claimQueues' | 'processClaim' | 'onAccepted'>,
  options: WebhookWorkerOptions,
): WebhookWorkers {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const poll = options.pollIntervalMs ?? 250;
  let stopped = false;
  /** Set by every wake: a claim that started before an accept may have missed its event. */
  let woken = false;
  let waiters: Array<() => void> = [];
  const running = new Set<Promise<void>>();
  // A large pool claims a few queues ahead, so a slot that frees up starts its next customer at
  // once instead of waiting for a claim statement. They usually wait one slot's processing time,
  // far inside their lease; if every slot is stuck longer (Stripe retries), a waiting claim's lease
  // may run out and another worker take the queue over: its late write is then refused
  // (`lease_lost`), which costs a Stripe read but never a wrong write.
  const prefetch = Math.floor(concurrency / 8);
  const ready: Parameters<typeof pipeline.processClaim>[0][] = [];

  const signal = () => {
    const resolvers = waiters;
    waiters = [];
    for (const resolve of resolvers) resolve();
  };
  const wake = () => {
    woken = true;
    signal();
  };

  /** Until a wake, a finished slot or `ms` (Infinity: no timer). */
  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      timer?.unref?.();
      function done() {
        clearTimeout(timer);
        waiters = waiters.filter((w) => w !== done);
        resolve();
      }
      waiters.push(done);
    });

  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A throwing logger must not end the pool.
    }
  };

  const tails = new Set<Promise<void>>();
  function track(tail: Promise<void>) {
    const settled: Promise<void> = tail.catch(report).finally(() => tails.delete(settled));
    tails.add(settled);
  }

  function start(claim: Parameters<typeof pipeline.processClaim>[0]) {
    const slot = (async () => {
      try {
        // The slot is free once the write committed; the cache publish and hooks finish beside it.
        const outcome = await pipeline.processClaim(claim, { afterCommit: track });
        options.onProcessed?.(outcome);
      } catch (error) {
        // Recording the failure itself failed (the database is down): the lease hands the events
        // to a later claim.
        report(error);
      }
    })().finally(() => {
      running.delete(slot);
      signal();
    });
    running.add(slot);
  }

  async function dispatch() {
    while (!stopped) {
      while (ready.length > 0 && running.size < concurrency) start(ready.shift()!);
      const want = concurrency + prefetch - running.size - ready.length;
      // With claims in hand, wait until a batch worth claiming is free: fewer, larger claims.
      if (want <= 0 || (ready.length > 0 && want < Math.max(1, prefetch / 2))) {
        await idle(Infinity);
        continue;
      }
      woken = false;
      let claims;
      try {
        claims = await pipeline.claimQueues(want);
      } catch (error) {
        // The database is down or a bug: report it and keep the pool alive, slowly.
        report(error);
        if (!stopped) await idle(poll);
        continue;
      }
      try {
        options.onClaimed?.();
      } catch {
        // A throwing logger must not end the pool.
      }
      for (const claim of claims) {
        if (running.size < concurrency) start(claim);
        else ready.push(claim);
      }
      // Fewer than asked: nothing more is due, unless an accept came in during the claim.
      if (claims.length < want && !woken && !stopped) await idle(poll);
    }
    // Claims already taken are processed, not left to their lease; still `concurrency` at most at once.
    while (ready.length > 0) {
      while (ready.length > 0 && running.size < concurrency) start(ready.shift()!);
      if (ready.length > 0) await Promise.race(running);
    }
    while (running.size > 0) await Promise.all(running);
    while (tails.size > 0) await Promise.all(tails);
  }

  const unsubscribe = pipeline.onAccepted(wake);
  const dispatcher = dispatch();

  return {
    wake,
    async stop() {
      stopped = true;
      unsubscribe();
      signal();
      await dispatcher;
    },
  };
}
