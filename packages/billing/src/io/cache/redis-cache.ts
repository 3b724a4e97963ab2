import { Redis } from 'ioredis';
import type { CacheBus, KeyValueCache } from './key-value-cache.js';

export interface RedisCacheOptions {
  keyPrefix?: string;
  /** How long a command may wait for Redis before failing (callers fall back to the database). */
  commandTimeoutMs?: number;
}

const SET_IF_NEWER_LUA = `
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(%-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1`;

/**
 * SET_IF_NEWER_LUA for every key of the call: ARGV[1] the lifetime in seconds, then a version and a
 * value per key. Keys are handled in order, so a later entry for the same key wins only if newer.
 */
const SET_MANY_IF_NEWER_LUA = `
local results = {}
for i, key in ipairs(KEYS) do
  local version = ARGV[2 * i]
  local stored = 1
  local current = redis.call('GET', key)
  if current then
    local v = tonumber(string.match(current, '^(%-?%d+)|'))
    if v and v > tonumber(version) then stored = 0 end
  end
  if stored == 1 then redis.call('SET', key, version .. '|' .. ARGV[2 * i + 1], 'EX', ARGV[1]) end
  results[i] = stored
end
return results`;

/** The entry and its remaining lifetime in ms, atomically (a replace in between would pair them wrongly). */
const GET_WITH_TTL_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
return {raw, redis.call('PTTL', KEYS[1])}`;

/** The script defined as a command: the key count, the keys, then ARGV (ioredis prefixes the keys). */
type SetManyCommand = (...args: Array<string | number>) => Promise<number[]>;

/**
 * Redis as the shared cache tier, plus a pub/sub bus on a second connection (a subscribed
 * connection can issue no other command). Both connections report their state through
 * `available()`, so callers skip Redis the moment a connection drops instead of waiting for
 * command timeouts.
 */
export function createRedisCache(url: string, options: RedisCacheOptions = {}): KeyValueCache {
  const keyPrefix = options.keyPrefix ?? 'entitlements:';
  const connectionOptions = {
    // Commands wait for the connection at most commandTimeout, so a feature read never hangs on a dead cache.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 500,
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
  };
  const redis = new Redis(url, { ...connectionOptions, keyPrefix, enableAutoPipelining: true });
  // Sent as EVALSHA (the script's text once per connection), ioredis loading it again on NOSCRIPT.
  redis.defineCommand('setManyIfNewer', { lua: SET_MANY_IF_NEWER_LUA });
  const setMany = (redis as unknown as { setManyIfNewer: SetManyCommand }).setManyIfNewer.bind(redis);
  let subscriber: Redis | undefined;
  const handlers = new Map<string, (message: string) => void>();
  let generation = 0;
  const bump = () => {
    generation += 1;
  };
  // Connection errors surface on the commands; an unhandled 'error' event would crash the process.
  redis.on('error', () => {});
  redis.on('ready', bump);

  function ensureSubscriber(): Redis {
    if (subscriber) return subscriber;
    // Channels are not keys, so ioredis does not prefix them; the bus prefixes them itself.
    const sub = new Redis(url, connectionOptions);
    sub.on('error', () => {});
    sub.on('ready', bump);
    sub.on('message', (channel: string, message: string) => handlers.get(channel)?.(message));
    subscriber = sub;
    return sub;
  }

  const bus: CacheBus = {
    async publish(channel, message) {
      await redis.publish(`${keyPrefix}${channel}`, message);
    },
    async subscribe(channel, onMessage) {
      handlers.set(`${keyPrefix}${channel}`, onMessage);
      await ensureSubscriber().subscribe(`${keyPrefix}${channel}`);
    },
    get generation() {
      return generation;
    },
  };

  return {
    kind: 'redis',
    bus,
    available() {
      return redis.status === 'ready' && (subscriber === undefined || subscriber.status === 'ready');
    },
    async get(key) {
      return redis.get(key);
    },
    async getWithTtl(key) {
      const found = (await redis.eval(GET_WITH_TTL_LUA, 1, key)) as [string, number] | null;
      if (!found) return null;
      // PTTL is -1 for a key without expiry (-2, gone, cannot follow the GET inside one script).
      return { raw: found[0], ttlMs: found[1] >= 0 ? found[1] : null };
    },
    async set(key, value, ttlSeconds) {
      await redis.set(key, value, 'EX', Math.max(1, Math.round(ttlSeconds)));
    },
    async setIfNewer(key, version, value, ttlSeconds) {
      const result = await redis.eval(
        SET_IF_NEWER_LUA,
        1,
        key,
        String(version),
        value,
        String(Math.max(1, Math.round(ttlSeconds))),
      );
      return result === 1;
    },
    async setManyIfNewer(entries, ttlSeconds) {
      if (entries.length === 0) return [];
      const args: Array<string | number> = [entries.length];
      for (const e of entries) args.push(e.key);
      args.push(String(Math.max(1, Math.round(ttlSeconds))));
      for (const e of entries) args.push(String(e.version), e.value);
      const results = await setMany(...args);
      return results.map((r) => r === 1);
    },
    async del(...keys) {
      if (keys.length > 0) await redis.del(...keys);
    },
    async ping() {
      // The subscribed connection answers PING too: a bus whose connection stalled (a half-open
      // socket that never reconnects, so the generation never moves) fails here like a frozen Redis,
      // and the in-process copies its messages keep correct are no longer trusted.
      await Promise.all([redis.ping(), subscriber?.ping()]);
    },
    async close() {
      redis.disconnect();
      subscriber?.disconnect();
    },
  };
}
