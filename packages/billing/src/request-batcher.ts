/**
 * Coalesces single requests into batches without waiting on a timer: a request made while fewer
 * than `maxInFlight` batches are running goes out at once (alone, if nothing else is waiting);
 * requests made while all slots are busy wait, and the next free slot takes every one of them (up
 * to `maxBatch`) as one batch. So a lone request costs what it cost before, and under load the work
 * per request shrinks as the load grows: N concurrent requests cost about `maxInFlight` batches,
 * not N round trips.
 *
 * `run` answers a batch with one result per input, in input order. When it throws, every request
 * of that batch rejects with its error; other batches are unaffected.
 */
export interface RequestBatcher<I, O> {
  request(input: I): Promise<O>;
  /** Requests waiting for a free slot (not yet in a batch). */
  readonly waiting: number;
}

export interface RequestBatcherOptions<I, O> {
  run(inputs: I[]): Promise<O[]>;
  /** Batches running at once (default 1). */
  maxInFlight?: number;
  /** Requests in one batch, at most (default 500). */
  maxBatch?: number;
}

interface Waiter<I, O> {
  input: I;
  resolve(output: O): void;
  reject(error: unknown): void;
}

export function createRequestBatcher<I, O>(options: RequestBatcherOptions<I, O>): RequestBatcher<I, O> {
  const maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? 1));
  const maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 500));
  let queue: Waiter<I, O>[] = [];
  let inFlight = 0;

  async function runBatch(batch: Waiter<I, O>[]): Promise<void> {
    try {
      const outputs = await options.run(batch.map((w) => w.input));
      if (outputs.length !== batch.length)
        throw new Error(`request batcher: run answered ${outputs.length} results for ${batch.length} inputs`);
      batch.forEach((w, i) => w.resolve(outputs[i]!));
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }

  function drain(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = batch === queue ? [] : queue.slice(maxBatch);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
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
