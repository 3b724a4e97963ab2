/**
 * Coalesces single requests into batches without waiting on a timer (group commit): a request made
 * while fewer than `maxInFlight` batches are running goes out at once (alone, if nothing else is
 * waiting); requests made while all slots are busy wait, and the next free slot takes every one of
 * them (up to `maxBatch`) as one batch. So a lone request costs what it cost before, and under load
 * the work per request shrinks as the load grows: N concurrent requests cost about `maxInFlight`
 * batches, not N round trips.
 *
 * `run` answers a batch with one result per input, in input order. When it throws, every request
 * of that batch rejects with its error, unless `runAlone` is given: then each request of the
 * failed batch is tried again on its own, so only the one at fault fails. Other batches are never
 * affected.
 */
export interface RequestBatcher<I, O> {
  request(input: I): Promise<O>;
  /** Requests waiting for a free slot (not yet in a batch). */
  readonly waiting: number;
}

export interface RequestBatcherOptions<I, O> {
  /** One round trip for the whole batch (two or more requests, or one when `runAlone` is not given). */
  run(inputs: I[]): Promise<O[]>;
  /** A lone request, and each request of a batch whose `run` failed. */
  runAlone?(input: I): Promise<O>;
  /** Batches running at once (default 1). */
  maxInFlight?: number;
  /** Requests in one batch, at most (default 500). */
  maxBatch?: number;
  /**
   * Requests with the same key never share a batch and never run at once: a later one waits until
   * the batch holding the earlier one has finished (for a statement that may touch each row once,
   * or one tenant's writes, which must go out in order).
   */
  keyOf?(input: I): string;
}

interface Waiter<I, O> {
  input: I;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export function createRequestBatcher<I, O>(options: RequestBatcherOptions<I, O>): RequestBatcher<I, O> {
  const maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? 1));
  const maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 500));
  const { run, runAlone, keyOf } = options;
  let queue: Waiter<I, O>[] = [];
  let inFlight = 0;
  /** Keys of the requests in running batches (with keyOf). */
  const busyKeys = new Set<string>();

  async function alone(waiter: Waiter<I, O>): Promise<void> {
    try {
      waiter.resolve(await runAlone!(waiter.input));
    } catch (error) {
      waiter.reject(error);
    }
  }

  async function runBatch(batch: Waiter<I, O>[]): Promise<void> {
    if (batch.length === 1 && runAlone) return alone(batch[0]!);
    let outputs: O[];
    try {
      outputs = await run(batch.map((w) => w.input));
      if (outputs.length !== batch.length)
        throw new Error(`request batcher: run answered ${outputs.length} results for ${batch.length} inputs`);
    } catch (error) {
      // One by one, in this batch's slot, so a failure never puts more than maxInFlight statements in flight.
      if (runAlone) for (const w of batch) await alone(w);
      else for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => w.resolve(outputs[i]!));
  }

  /** The oldest waiting requests that may share a batch; the rest stay queued in order. */
  function take(): Waiter<I, O>[] {
    if (!keyOf) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = batch === queue ? [] : queue.slice(maxBatch);
      return batch;
    }
    const batch: Waiter<I, O>[] = [];
    const rest: Waiter<I, O>[] = [];
    for (const waiter of queue) {
      const key = keyOf(waiter.input);
      if (batch.length < maxBatch && !busyKeys.has(key)) {
        batch.push(waiter);
        busyKeys.add(key);
      } else rest.push(waiter);
    }
    queue = rest;
    return batch;
  }

  function drain(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = take();
      // Every waiting request's key is in a running batch: the first one to finish drains again.
      if (batch.length === 0) return;
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        if (keyOf) for (const w of batch) busyKeys.delete(keyOf(w.input));
        drain();
      });
    }
  }

  return {
    request(input) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        drain();
      });
    },
    get waiting() {
      return queue.length;
    },
  };
}
