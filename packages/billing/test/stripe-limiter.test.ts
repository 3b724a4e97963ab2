import { Redis } from 'ioredis';
import { parseBillingConfig } from '../src/io/config.js';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  createRedisTokenBucket,
  createTokenBucket,
  withStripePriority,
  currentStripePriority,
  type TokenBucket,
} from '../src/io/stripe-sync/index.js';

/** A clock that only moves when someone sleeps: the in-process bucket's order, without real waiting. */
function virtualClock() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms), elapsed: () => t };
}

describe('in-process bucket', () => {
  it('serves every high-priority waiter before any low one, FIFO within a priority', async () => {
    const clock = virtualClock();
    const bucket = createTokenBucket({ ratePerSecond: 10, burst: 1, ...clock });
    const order: string[] = [];
    const take = (name: string, priority: 'high' | 'low') =>
      bucket.take(priority).then(() => void order.push(name));
    await Promise.all([
      take('low1', 'low'),
      take('low2', 'low'),
      take('low3', 'low'),
      take('high1', 'high'),
      take('high2', 'high'),
    ]);
    // low1 got the burst token at once; then both highs, then the remaining lows in order.
    expect(order).toEqual(['low1', 'high1', 'high2', 'low2', 'low3']);
    expect(clock.elapsed()).toBeGreaterThanOrEqual(400);
  });

  it('withStripePriority marks every call made inside it, however deep', async () => {
    expect(currentStripePriority()).toBe('high');
    const seen = await withStripePriority('low', async () => {
      await new Promise((r) => setTimeout(r, 1));
      return currentStripePriority();
    });
    expect(seen).toBe('low');
    expect(currentStripePriority()).toBe('high');
  });
});

describe.skipIf(!process.env.REDIS_URL)('Redis bucket: one budget for every process', () => {
  const clients: Redis[] = [];
  const connect = () => {
    const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
    clients.push(redis);
    return redis;
  };
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });
  const key = () => `entitlements:test:stripe-budget:${process.pid}:${Math.random().toString(36).slice(2)}`;
  const instance = (redis: Redis, k: string, rate: number, fallback?: TokenBucket) =>
    createRedisTokenBucket({
      redis,
      key: k,
      ratePerSecond: rate,
      burst: 1,
      fallback: fallback ?? createTokenBucket({ ratePerSecond: rate, burst: 1 }),
    });

  it('two limiter instances (two connections) share one budget: 20 tokens at 20/s take about a second', async () => {
    const k = key();
    const a = instance(connect(), k, 20);
    const b = instance(connect(), k, 20);
    const started = performance.now();
    await Promise.all([
      ...Array.from({ length: 10 }, () => a.take()),
      ...Array.from({ length: 10 }, () => b.take()),
    ]);
    const elapsed = performance.now() - started;
    // 1 burst token + 19 at 20/s = 950 ms; two separate per-process buckets would need only 450 ms.
    expect(elapsed).toBeGreaterThanOrEqual(850);
    expect(elapsed).toBeLessThan(3000);
  });

  it('high-priority takes of one process go before low-priority takes of another', async () => {
    const k = key();
    // 2/s: the seven lows after the burst token need 3.5 s, so a machine that stalls for a second
    // between the first low and the highs' arrival still lets at most two lows through meanwhile.
    const bulk = instance(connect(), k, 2);
    const webhooks = instance(connect(), k, 2);
    const order: string[] = [];
    const lows = Array.from({ length: 8 }, (_, i) => bulk.take('low').then(() => void order.push(`low${i}`)));
    // The lows are waiting once the first has its token.
    await vi.waitFor(() => expect(order).toContain('low0'), { timeout: 10_000 });
    const highs = Array.from({ length: 4 }, (_, i) =>
      webhooks.take('high').then(() => void order.push(`high${i}`)),
    );
    await Promise.all([...lows, ...highs]);
    // Once the webhook process waits, no low take gets a token before its four highs are served.
    const lastHigh = Math.max(...[0, 1, 2, 3].map((i) => order.indexOf(`high${i}`)));
    const lowsBeforeLastHigh = order.slice(0, lastHigh).filter((n) => n.startsWith('low')).length;
    expect(lowsBeforeLastHigh).toBeLessThanOrEqual(3);
    expect(order).toHaveLength(12);
  });

  it('the takes waiting in one process share a round: 200 concurrent takes cost a few script calls, not 200', async () => {
    const redis = connect();
    let evals = 0;
    const counted = {
      eval: (...args: Parameters<Redis['eval']>) => {
        evals += 1;
        return redis.eval(...args);
      },
    };
    const bucket = createRedisTokenBucket({
      redis: counted,
      key: key(),
      ratePerSecond: 10_000,
      fallback: createTokenBucket({ ratePerSecond: 10_000 }),
    });
    await Promise.all(Array.from({ length: 200 }, () => bucket.take()));
    // The first take goes alone; the 199 made while it was in flight go together in the next round.
    expect(evals).toBeLessThanOrEqual(3);
  });

  it('a round names the script by its SHA-1, and sends the text again when Redis has forgotten it', async () => {
    const redis = connect();
    const sent: string[] = [];
    const counted = {
      eval: (...args: Parameters<Redis['eval']>) => {
        sent.push('eval');
        return redis.eval(...args);
      },
      evalsha: (...args: Parameters<Redis['evalsha']>) => {
        sent.push('evalsha');
        return redis.evalsha(...args);
      },
    };
    const bucket = createRedisTokenBucket({
      redis: counted,
      key: key(),
      ratePerSecond: 10_000,
      fallback: createTokenBucket({ ratePerSecond: 10_000 }),
      onFallback: (error) => {
        throw error;
      },
    });
    await bucket.take();
    await bucket.take();
    // A restarted Redis knows no script: the next round still takes its token from Redis.
    await redis.script('FLUSH');
    await bucket.take();
    await bucket.take();
    // Every round asked by SHA-1 first; the text went only after a NOSCRIPT (at most once per
    // flush: another process on this Redis may have cached the script again meanwhile).
    expect(sent.filter((c) => c === 'evalsha')).toHaveLength(4);
    expect(sent.filter((c) => c === 'eval').length).toBeLessThanOrEqual(2);
    sent.forEach((c, i) => c === 'eval' && expect(sent[i - 1]).toBe('evalsha'));
  });

  it('a round of high takes answers each caller its own wait: 30 takes at 20/s from one process take about 1.5 s', async () => {
    const bucket = instance(connect(), key(), 20);
    const started = performance.now();
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 30 }, () => bucket.take().then(() => void done.push(performance.now() - started))),
    );
    // 1 burst token + 29 at 20/s = 1,450 ms, spread over that time rather than all at once.
    expect(Math.max(...done)).toBeGreaterThanOrEqual(1_350);
    expect(done.filter((ms) => ms < 500).length).toBeLessThanOrEqual(12);
  });

  it('a Redis that does not answer: the take falls back to the local bucket within the timeout, never blocks', async () => {
    const dead = new Redis({ port: 1, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: false });
    dead.on('error', () => {});
    clients.push(dead);
    const fallbacks: unknown[] = [];
    const bucket = createRedisTokenBucket({
      redis: dead,
      key: key(),
      ratePerSecond: 50,
      burst: 5,
      fallback: createTokenBucket({ ratePerSecond: 50, burst: 5 }),
      timeoutMs: 100,
      onFallback: (error) => void fallbacks.push(error),
    });
    const started = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => bucket.take()));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(fallbacks).toHaveLength(1);
  });
});

describe('configuration', () => {
  const base = { STRIPE_SECRET_KEY: 'sk_test_x' };
  it.each([
    ['STRIPE_REQUESTS_PER_SECOND', 'fast'],
    ['STRIPE_REQUESTS_PER_SECOND', '0'],
    ['STRIPE_REQUESTS_PER_SECOND', '20000'],
    ['WEBHOOK_WORKERS', '-1'],
    ['WEBHOOK_WORKERS', '1000'],
    ['WEBHOOK_POLL_MS', '5'],
    ['WEBHOOK_MAX_ATTEMPTS', '0'],
  ])('%s=%s is a configuration error naming the variable', (name, value) => {
    expect(() => parseBillingConfig({ ...base, [name]: value })).toThrow(new RegExp(`${name} must be`));
  });

  it('defaults: 25 Stripe requests/s, workers sized to keep it busy (25), 250 ms polling, 8 tries', () => {
    expect(parseBillingConfig(base)).toMatchObject({
      STRIPE_REQUESTS_PER_SECOND: 25,
      WEBHOOK_WORKERS: 25,
      WEBHOOK_POLL_MS: 250,
      WEBHOOK_MAX_ATTEMPTS: 8,
    });
    expect(
      parseBillingConfig({ ...base, STRIPE_REQUESTS_PER_SECOND: '2.5', WEBHOOK_WORKERS: '0' }),
    ).toMatchObject({
      STRIPE_REQUESTS_PER_SECOND: 2.5,
      WEBHOOK_WORKERS: 0,
    });
    // Unset, the workers follow the budget: budget × 1 s, from 4 to 64.
    expect(parseBillingConfig({ ...base, STRIPE_REQUESTS_PER_SECOND: '40' }).WEBHOOK_WORKERS).toBe(40);
    expect(parseBillingConfig({ ...base, STRIPE_REQUESTS_PER_SECOND: '100' }).WEBHOOK_WORKERS).toBe(64);
    expect(parseBillingConfig({ ...base, STRIPE_REQUESTS_PER_SECOND: '2.5' }).WEBHOOK_WORKERS).toBe(4);
    expect(parseBillingConfig({ ...base, STRIPE_REQUESTS_PER_SECOND: '10000' }).WEBHOOK_WORKERS).toBe(64);
    expect(parseBillingConfig({ ...base, WEBHOOK_WORKERS: '7' }).WEBHOOK_WORKERS).toBe(7);
  });
});
