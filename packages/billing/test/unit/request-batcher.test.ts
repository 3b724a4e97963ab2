import { describe, expect, it } from 'vitest';
import { createRequestBatcher } from '../../src/io/request-batcher.js';

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

  it('with keyOf, requests of one key never share a batch: the later ones wait for the next', async () => {
    const batches: string[][] = [];
    const batcher = createRequestBatcher({
      maxInFlight: 1,
      keyOf: (input: string) => input.split(':')[0]!,
      run: async (inputs: string[]) => {
        batches.push(inputs);
        await tick();
        return inputs.map((i) => i.toUpperCase());
      },
    });
    const answers = await Promise.all(
      ['a:1', 'a:2', 'b:1', 'a:3', 'b:2', 'c:1'].map((i) => batcher.request(i)),
    );
    expect(answers).toEqual(['A:1', 'A:2', 'B:1', 'A:3', 'B:2', 'C:1']);
    expect(batches).toEqual([['a:1'], ['a:2', 'b:1', 'c:1'], ['a:3', 'b:2']]);
  });

  it('with keyOf, a request never runs beside another of its key, even with a free slot', async () => {
    const gate = gatedRun();
    const batcher = createRequestBatcher({
      run: gate.run,
      maxInFlight: 3,
      keyOf: (n: number) => String(n % 10),
    });
    const answers = Promise.all([1, 11, 2, 12].map((n) => batcher.request(n)));
    await tick();
    // 11 and 12 wait although a slot is free: 1 and 2 are running.
    expect(gate.batches).toEqual([[1], [2]]);
    expect(batcher.waiting).toBe(2);
    gate.release();
    await tick();
    await tick();
    expect(gate.batches).toEqual([[1], [2], [11], [12]]);
    gate.release();
    expect(await answers).toEqual([10, 110, 20, 120]);
  });

  it('with runAlone, a lone request goes through it, and a failed batch is retried request by request so only the one at fault fails', async () => {
    const calls: string[] = [];
    let alone = 0;
    let maxAlone = 0;
    const batcher = createRequestBatcher({
      maxInFlight: 1,
      run: async (inputs: number[]) => {
        calls.push(`run ${inputs.join(',')}`);
        await tick();
        if (inputs.includes(13)) throw new Error('batch refused');
        return inputs.map((n) => n * 10);
      },
      runAlone: async (n: number) => {
        calls.push(`alone ${n}`);
        alone += 1;
        maxAlone = Math.max(maxAlone, alone);
        await tick();
        alone -= 1;
        if (n === 13) throw new Error('13 is bad');
        return n * 10;
      },
    });
    const results = await Promise.allSettled([1, 12, 13, 14].map((n) => batcher.request(n)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      10,
      120,
      '13 is bad',
      140,
    ]);
    expect(calls).toEqual(['alone 1', 'run 12,13,14', 'alone 12', 'alone 13', 'alone 14']);
    expect(maxAlone).toBe(1);
  });

  it('rejects a batch whose run answers the wrong number of results', async () => {
    const batcher = createRequestBatcher({ run: async (inputs: number[]) => inputs.slice(1) });
    await expect(batcher.request(1)).rejects.toThrow('run answered 0 results for 1 inputs');
  });
});
