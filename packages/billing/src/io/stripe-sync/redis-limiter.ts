import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { checkRate, createTokenBucket, defaultSleep, type TokenBucket } from './limiter.js';
import type { StripePriority } from './priority.js';

/**
 * One token bucket per Stripe account for the whole deployment, in Redis: every server and worker
 * process takes its tokens from the same bucket, so their sum stays within the budget.
 *
 * One atomic script per token, on Redis's own clock (TIME: no skew between hosts):
 * - `high` reserves: the bucket may go negative, the answer is how long to wait for the reserved
 *   token (one round trip, FIFO across processes);
 * - `low` only takes a token that is there now and no `high` reservation is pending (a marker each
 *   `high` take refreshes); otherwise it is told when to ask again. So webhook work is served first
 *   whenever it waits, in every process, and bulk work uses what is left.
 */
const TAKE_LUA = `
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local high = ARGV[3] == 'high'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local wait = 0
if high then
  tokens = tokens - 1
  if tokens < 0 then wait = math.ceil(-tokens * 1000 / rate) end
  redis.call('SET', KEYS[2], '1', 'PX', math.max(wait, 0) + math.ceil(1000 / rate) + 50)
elseif tokens >= 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  tokens = tokens - 1
else
  wait = -math.max(math.ceil((1 - tokens) * 1000 / rate), math.ceil(1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait`;

/**
 * The one command the bucket sends (an ioredis `Redis` or `Cluster` has it). Named structurally so
 * the declarations a host type-checks against do not pull in ioredis's own.
 */
export interface RedisEval {
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
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

export function createRedisTokenBucket(options: RedisTokenBucketOptions): TokenBucket {
  const rate = options.ratePerSecond;
  checkRate(rate);
  const capacity = Math.max(1, options.burst ?? Math.ceil(rate / 5));
  const sleep = options.sleep ?? defaultSleep;
  const timeoutMs = options.timeoutMs ?? 250;
  const keys = [options.key, `${options.key}:high`];
  let degraded = false;

  async function ask(priority: StripePriority): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`rate limiter: Redis did not answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const answer = await Promise.race([
        options.redis.eval(TAKE_LUA, 2, keys[0]!, keys[1]!, String(rate), String(capacity), priority),
        timeout,
      ]);
      return Number(answer);
    } finally {
      clearTimeout(timer);
    }
  }

  async function take(priority: StripePriority = 'high'): Promise<void> {
    for (;;) {
      let wait: number;
      try {
        wait = await ask(priority);
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
