import { describe, expect, it } from 'vitest';
import { createRequestBatcher } from '../../src/request-batcher.js';

/** A `run` whose batches stay open until released, recording what each batch held. */
function gatedRun() {
  const batches: number[][] = [];
  const gates: Array<() => void> = [];
  let failNext: Error | undefined;
  return {
    batches,
    failNext(error: Error) {
      failNext = error;
    },
    release: () => gates.splice(0).forEach((open) => open()),
    run: async (inputs: number[]) => {
      batches.push(inputs);
      const error = failNext;
      failNext = undefined;
      await new Promise<void>((resolve) => gates.push(resolve));
      if (error) throw error;
      return inputs.map((n) => n * 10);
    },
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createRequestBatcher', () => {
  it('sends a lone request at once, alone', async () => {
    const gate = gatedRun();
    const batcher = createRequestBatcher({ run: gate.run, maxInFlight: 2 });
    const one = batcher.request(1);
    await tick();
    expect(gate.batches).toEqual([[1]]);
    gate.release();
    expect(await one).toBe(10);
  });

  it('fills the free slots first, then coalesces every waiting request into the next free slot, in order', async () => {
    const gate = gatedRun();
    const batcher = createRequestBatcher({ run: gate.run, maxInFlight: 2 });
    const answers = Promise.all([1, 2, 3, 4, 5, 6].map((n) => batcher.request(n)));
    await tick();
    expect(gate.batches).toEqual([[1], [2]]);
    expect(batcher.waiting).toBe(4);
    gate.release();
    await tick();
    expect(gate.batches).toEqual([[1], [2], [3, 4, 5, 6]]);
    gate.release();
    expect(await answers).toEqual([10, 20, 30, 40, 50, 60]);
    expect(batcher.waiting).toBe(0);
  });

  it('never puts more than maxBatch requests in one batch', async () => {
    const gate = gatedRun();
    const batcher = createRequestBatcher({ run: gate.run, maxInFlight: 1, maxBatch: 3 });
    const answers = Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => batcher.request(n)));
    for (let i = 0; i < 4; i += 1) {
      await tick();
      gate.release();
    }
    expect(await answers).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(gate.batches).toEqual([[1], [2, 3, 4], [5, 6, 7]]);
  });

  it('a failed batch rejects each of its requests with its error and no other', async () => {
    const gate = gatedRun();
    const batcher = createRequestBatcher({ run: gate.run, maxInFlight: 1 });
    const first = batcher.request(1);
    await tick();
    const [second, third] = [batcher.request(2), batcher.request(3)];
    gate.failNext(new Error('database down'));
    gate.release();
    expect(await first).toBe(10);
    await tick();
    gate.release();
    await expect(second).rejects.toThrow('database down');
    await expect(third).rejects.toThrow('database down');
    const after = batcher.request(4);
    await tick();
    gate.release();
    expect(await after).toBe(40);
  });

  it('rejects a batch whose run answers the wrong number of results', async () => {
    const batcher = createRequestBatcher({ run: async (inputs: number[]) => inputs.slice(1) });
    await expect(batcher.request(1)).rejects.toThrow('run answered 0 results for 1 inputs');
  });
});
