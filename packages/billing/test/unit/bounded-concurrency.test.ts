import { describe, expect, it } from 'vitest';
import { forEachBounded } from '../../src/io/bounded-concurrency.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('forEachBounded', () => {
  it('runs every index once, at most `concurrency` at a time, starting in index order', async () => {
    const started: number[] = [];
    let inFlight = 0;
    let peak = 0;
    await forEachBounded(10, 3, async (i) => {
      started.push(i);
      peak = Math.max(peak, ++inFlight);
      await tick();
      inFlight -= 1;
    });
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(peak).toBe(3);
  });

  it('runs one at a time for a concurrency below 1, and nothing for no tasks', async () => {
    let peak = 0;
    let inFlight = 0;
    await forEachBounded(4, 0, async () => {
      peak = Math.max(peak, ++inFlight);
      await tick();
      inFlight -= 1;
    });
    expect(peak).toBe(1);
    let calls = 0;
    await forEachBounded(0, 4, async () => void (calls += 1));
    expect(calls).toBe(0);
  });

  it('starts nothing new once the signal is aborted; those in flight finish', async () => {
    const controller = new AbortController();
    const finished: number[] = [];
    await forEachBounded(
      10,
      2,
      async (i) => {
        if (i === 2) controller.abort();
        await tick();
        finished.push(i);
      },
      { signal: controller.signal },
    );
    expect(finished.sort()).toEqual([0, 1, 2]);
  });

  it('rejects with the first failure', async () => {
    await expect(
      forEachBounded(5, 2, async (i) => {
        await tick();
        if (i === 1) throw new Error('task 1 failed');
      }),
    ).rejects.toThrow('task 1 failed');
  });
});
