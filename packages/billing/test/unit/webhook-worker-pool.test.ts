import { describe, expect, it, vi } from 'vitest';
import type { ClaimedQueue } from '../../src/flows/webhooks/inbox.js';
import type { ProcessedQueue } from '../../src/flows/webhooks/handler.js';
import { startWebhookWorkers } from '../../src/flows/webhooks/worker.js';
import { repeatedErrorLog, WEBHOOK_CLAIM_MESSAGES } from '../../src/io/process/repeated-errors.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A pipeline over `queues` due customer queues: claimQueues hands out the next ones, and each
 * processClaim is held until released, so the test sees what the pool keeps in flight.
 */
function fakePipeline(queues: number) {
  let next = 0;
  const claimCalls: number[] = [];
  const processed: string[] = [];
  const held: Array<() => void> = [];
  let running = 0;
  let peak = 0;
  let failNextClaim = false;
  const pipeline = {
    async claimQueues(max: number): Promise<ClaimedQueue[]> {
      claimCalls.push(max);
      await tick();
      if (failNextClaim) {
        failNextClaim = false;
        throw new Error('database down');
      }
      const n = Math.min(max, queues - next);
      return Array.from({ length: n }, () => {
        const key = `cus_${next++}`;
        return {
          ticket: BigInt(next),
          queueKey: key,
          customerId: key,
          events: [],
          tenant: null,
          state: null,
        };
      });
    },
    async processClaim(claim: ClaimedQueue): Promise<ProcessedQueue> {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => held.push(resolve));
      running -= 1;
      processed.push(claim.queueKey);
      return { kind: 'done', events: [] } as unknown as ProcessedQueue;
    },
    onAccepted: () => () => {},
  };
  return {
    pipeline,
    claimCalls,
    processed,
    running: () => running,
    peak: () => peak,
    release: (n = Infinity) => held.splice(0, n).forEach((go) => go()),
    failNextClaim: () => (failNextClaim = true),
  };
}

async function until(condition: () => boolean) {
  for (let i = 0; i < 500 && !condition(); i += 1) await tick();
  expect(condition()).toBe(true);
}

describe('webhook worker pool (one dispatcher)', () => {
  it('a pool of 16 claims its slots plus 2 ahead in one statement, starts a held claim as soon as a slot frees, never runs more than 16', async () => {
    const fake = fakePipeline(40);
    const pool = startWebhookWorkers(fake.pipeline, { concurrency: 16, pollIntervalMs: 5 });
    await until(() => fake.running() === 16);
    // One claim for 16 slots + 16 / 8 ahead.
    expect(fake.claimCalls[0]).toBe(18);
    fake.release(1);
    // The freed slot takes a claim already in hand; later claims only refill what is held ahead.
    await until(() => fake.running() === 16 && fake.processed.length === 1);
    expect(fake.claimCalls.slice(1).every((n) => n <= 2)).toBe(true);
    while (fake.processed.length < 40) {
      fake.release();
      await tick();
    }
    await pool.stop();
    expect(new Set(fake.processed).size).toBe(40);
    expect(fake.peak()).toBe(16);
  });

  it('stop(): no new claims; the claims in hand are processed, still at most `concurrency` at once', async () => {
    const fake = fakePipeline(100);
    const pool = startWebhookWorkers(fake.pipeline, { concurrency: 8, pollIntervalMs: 5 });
    await until(() => fake.running() === 8);
    const stopped = pool.stop();
    const claimsAtStop = fake.claimCalls.length;
    // 8 running + 1 held ahead, all taken before the stop: every one is processed, none beside the 8.
    while (fake.processed.length < 9) {
      fake.release();
      await tick();
      expect(fake.running()).toBeLessThanOrEqual(8);
    }
    await stopped;
    expect(fake.processed).toHaveLength(9);
    expect(fake.claimCalls).toHaveLength(claimsAtStop);
    expect(fake.peak()).toBe(8);
  });

  it('a claim that throws is reported and the pool carries on', async () => {
    const fake = fakePipeline(3);
    const errors: unknown[] = [];
    fake.failNextClaim();
    const pool = startWebhookWorkers(fake.pipeline, {
      concurrency: 2,
      pollIntervalMs: 5,
      onError: (error) => errors.push(error),
    });
    while (fake.processed.length < 3) {
      fake.release();
      await tick();
    }
    await pool.stop();
    expect(errors.map((e) => (e as Error).message)).toEqual(['database down']);
    expect(fake.processed.sort()).toEqual(['cus_0', 'cus_1', 'cus_2']);
  });

  it('a database outage is one whole error, a summary a minute, then one line when claims work again (not a stack per poll)', async () => {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const record = (level: string) => (fields: object, message: string) =>
      lines.push({ level, fields: fields as Record<string, unknown>, message });
    // Each failed poll advances a fake clock by 500 ms: 241 of them span two minutes of outage.
    let clock = 0;
    const log = repeatedErrorLog(
      { error: record('error'), warn: record('warn'), info: record('info') },
      WEBHOOK_CLAIM_MESSAGES,
      { now: () => clock },
    );
    let failures = 0;
    const pipeline = {
      async claimQueues(): Promise<ClaimedQueue[]> {
        await tick();
        if (failures === 241) return [];
        failures += 1;
        clock += 500;
        throw new Error('Connection terminated unexpectedly');
      },
      processClaim: async () => ({}) as ProcessedQueue,
      onAccepted: () => () => {},
    };
    const pool = startWebhookWorkers(pipeline, {
      concurrency: 1,
      pollIntervalMs: 1,
      onError: log.failed,
      onClaimed: log.succeeded,
    });
    // 242 real polls a millisecond apart: well past vi.waitFor's 1 s default on a loaded machine.
    await vi.waitFor(() => expect(lines.at(-1)?.level).toBe('info'), { timeout: 30_000 });
    await pool.stop();
    expect(lines.map((l) => `${l.level}: ${l.message}`)).toEqual([
      'error: webhook worker could not claim; retrying',
      'warn: webhook worker still cannot claim; retrying',
      'warn: webhook worker still cannot claim; retrying',
      'info: webhook worker claims again',
    ]);
    expect((lines[0]!.fields.err as Error).message).toBe('Connection terminated unexpectedly');
    expect(lines[1]!.fields).toEqual({
      failures: 120,
      failingForMs: 60_000,
      lastError: 'Connection terminated unexpectedly',
    });
    expect(lines[2]!.fields).toMatchObject({ failures: 120, failingForMs: 120_000 });
    expect(lines[3]!.fields).toEqual({ failures: 241, failedForMs: 120_000 });
  });
});
