import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRequestBatcher } from '../request-batcher.js';
import { checkRate, createTokenBucket, defaultSleep, type TokenBucket } from './limiter.js';
import type { StripePriority } from './priority.js';

/**
 * One token bucket per Stripe account for the whole deployment, in Redis: every server and worker
 * process takes its tokens from the same bucket, so their sum stays within the budget.
 *
 * One atomic script per round, on Redis's own clock (TIME: no skew between hosts), for the `n` takes
 * of one priority that are waiting in this process:
 * - `high` reserves all `n`: the bucket may go negative, the answer is how long each caller waits
 *   for its reserved token (FIFO across processes), exactly what `n` single takes in a row would
 *   have answered;
 * - `low` only takes tokens that are there now and no `high` reservation is pending (a marker each
 *   `high` take refreshes); the answer grants the first `granted` callers and tells the others when
 *   to ask again. So webhook work is served first whenever it waits, in every process, and bulk
 *   work uses what is left.
 */
const TAKE_LUA = `
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local high = ARGV[3] == 'high'
local n = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local answer = {}
if high then
  local last = 0
  for i = 1, n do
    tokens = tokens - 1
    local wait = 0
    if tokens < 0 then wait = math.ceil(-tokens * 1000 / rate) end
    answer[i] = wait
    last = wait
  end
  redis.call('SET', KEYS[2], '1', 'PX', last + math.ceil(1000 / rate) + 50)
else
  local granted = 0
  if redis.call('EXISTS', KEYS[2]) == 0 then
    while granted < n and tokens >= 1 do
      tokens = tokens - 1
      granted = granted + 1
    end
  end
  local retry = -math.max(math.ceil((1 - tokens) * 1000 / rate), math.ceil(1000 / rate))
  for i = 1, n do
    if i <= granted then answer[i] = 0 else answer[i] = retry end
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return answer`;

/** The script's SHA-1, what EVALSHA names it by. */
const TAKE_SHA = createHash('sha1').update(TAKE_LUA).digest('hex');

/**
 * The commands the bucket sends (an ioredis `Redis` or `Cluster` has both). Named structurally so
 * the declarations a host type-checks against do not pull in ioredis's own. With `evalsha`, a round
 * sends the script's SHA-1 instead of its 1.4 KB of text, and the text only when Redis answers
 * NOSCRIPT (a restarted or flushed Redis); without it, every round sends the text.
 */
export interface RedisEval {
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
  evalsha?(sha1: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/** EVALSHA, and EVAL (which caches the script again) when Redis no longer knows it. */
async function runTakeScript(redis: RedisEval, args: string[]): Promise<unknown> {
  if (redis.evalsha) {
    try {
      return await redis.evalsha(TAKE_SHA, 2, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
    }
  }
  return redis.eval(TAKE_LUA, 2, ...args);
}

export interface RedisTokenBucketOptions {
  redis: RedisEval;
  /** The bucket's key; every process spending one Stripe account's budget must use the same one. */
  key: string;
  ratePerSecond: number;
  burst?: number;
  /** Used whenever Redis cannot answer in time: a limiter outage must never stop Stripe work. */
  fallback: TokenBucket;
  /** Longest a take may wait for Redis before using the fallback (default 250 ms). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called once per switch to the fallback (for a log line or a metric). */
  onFallback?: (error: unknown) => void;
}

/** Takes of one priority in one script round, at most. */
const MAX_TAKES_PER_ROUND = 256;

/**
 * Group commit for the takes: a take made while this process's round of its priority is in flight
 * waits for it, and the takes waiting when it returns go together in the next round (one Redis round
 * trip for all of them instead of one each). A lone take goes at once, so an idle process pays what
 * it paid before; under load (a worker pool's slots each reading Stripe) the round trips per Stripe
 * request shrink towards zero.
 */
export function createRedisTokenBucket(options: RedisTokenBucketOptions): TokenBucket {
  const rate = options.ratePerSecond;
  checkRate(rate);
  const capacity = Math.max(1, options.burst ?? Math.ceil(rate / 5));
  const sleep = options.sleep ?? defaultSleep;
  const timeoutMs = options.timeoutMs ?? 250;
  const keys = [options.key, `${options.key}:high`];
  let degraded = false;

  /** One round for `n` takes: each caller's wait (see TAKE_LUA; negative = ask again after −wait). */
  async function ask(priority: StripePriority, n: number): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`rate limiter: Redis did not answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const answer = await Promise.race([
        runTakeScript(options.redis, [
          keys[0]!,
          keys[1]!,
          String(rate),
          String(capacity),
          priority,
          String(n),
        ]),
        timeout,
      ]);
      if (!Array.isArray(answer) || answer.length !== n)
        throw new Error(`rate limiter: unexpected answer from Redis (${String(answer)})`);
      return answer.map(Number);
    } finally {
      clearTimeout(timer);
    }
  }

  const rounds = {
    high: createRequestBatcher<void, number>({
      run: (takes) => ask('high', takes.length),
      maxBatch: MAX_TAKES_PER_ROUND,
    }),
    low: createRequestBatcher<void, number>({
      run: (takes) => ask('low', takes.length),
      maxBatch: MAX_TAKES_PER_ROUND,
    }),
  };

  async function take(priority: StripePriority = 'high'): Promise<void> {
    for (;;) {
      let wait: number;
      try {
        wait = await rounds[priority].request();
        degraded = false;
      } catch (error) {
        if (!degraded) {
          degraded = true;
          options.onFallback?.(error);
        }
        return options.fallback.take(priority);
      }
      if (wait >= 0) {
        if (wait > 0) await sleep(wait);
        return;
      }
      // Low priority, refused for now: ask again when a token should be there.
      await sleep(-wait);
    }
  }

  return { ratePerSecond: rate, take };
}

export interface SharedLimiterOptions {
  ratePerSecond: number;
  burst?: number;
  /** Identifies the Stripe account whose budget is shared (hashed into the key; never stored). */
  account: string;
  onFallback?: (error: unknown) => void;
}

/**
 * The deployment-wide bucket on its own Redis connection (short command timeout, no offline queue
 * growth), with the in-process bucket as fallback. `close()` ends the connection.
 */
export function connectSharedStripeLimiter(
  url: string,
  options: SharedLimiterOptions,
): { limiter: TokenBucket; close(): Promise<void> } {
  const redis = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: 250,
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface on the commands (then the fallback bucket); an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  const account = createHash('sha256').update(options.account).digest('hex').slice(0, 16);
  const fallback = createTokenBucket({ ratePerSecond: options.ratePerSecond, burst: options.burst });
  const limiter = createRedisTokenBucket({
    redis,
    key: `entitlements:stripe-budget:${account}`,
    ratePerSecond: options.ratePerSecond,
    burst: options.burst,
    fallback,
    onFallback: options.onFallback,
  });
  return {
    limiter,
    async close() {
      redis.disconnect();
    },
  };
}
