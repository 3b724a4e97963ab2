import { parseBillingConfig, type BillingConfig, type ConfigRequirements } from '../../io/config.js';
import { createBillingContext, type BillingContext } from '../context.js';
import { messageOf } from '../../core/errors.js';
import type { WebhookLog } from '../../flows/webhooks/index.js';

/** The three levels the webhook handler logs at, as pino and Fastify's logger both offer them. */
export interface LineLogger {
  info(fields: object, line: string): void;
  warn(fields: object, line: string): void;
  error(fields: object, line: string): void;
  /** pino's: lets a line below the level cost nothing (the worker logs one per event at info). */
  isLevelEnabled?(level: string): boolean;
}

/**
 * A warning line when REDIS_URL is set but Redis does not answer within `timeoutMs`, else null.
 * Redis is a degraded dependency: the process starts and serves from PostgreSQL meanwhile, but an
 * operator should hear about it at start rather than find it in the readiness details later.
 */
export async function redisWarningAtStart(
  context: Pick<BillingContext, 'cache'>,
  timeoutMs = 1000,
): Promise<string | null> {
  const cache = context.cache;
  if (cache.kind !== 'redis' || !cache.ping) return null;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([cache.ping(), timeout]);
    return null;
  } catch (error) {
    return (
      `REDIS_URL: Redis is unreachable (${messageOf(error)}); running degraded: lookups go to ` +
      'PostgreSQL and the cache is used again once Redis answers'
    );
  } finally {
    clearTimeout(timer);
  }
}

export interface ProcessContext {
  config: BillingConfig;
  context: BillingContext;
  /** The handler is built before the process's logger exists; its lines go to `logger` from now on. */
  routeWebhookLogTo(logger: LineLogger): void;
}

/**
 * The start of every long-running process (`npm start`, `npm run worker`): configuration, then the
 * services. A configuration error prints one line naming the variable, sets exit code 1 and
 * returns null, never a stack trace.
 */
export async function openProcessContext(
  env: NodeJS.ProcessEnv,
  requirements: ConfigRequirements,
): Promise<ProcessContext | null> {
  let logger: LineLogger | undefined;
  const log: WebhookLog = (line, { level, eventId, ...fields }) => {
    const at = level === 'error' || level === 'warn' ? level : 'info';
    if (!logger || logger.isLevelEnabled?.(at) === false) return;
    const payload = { ...fields, ...(eventId !== undefined ? { stripeEventId: eventId } : {}) };
    logger[at](payload, line);
  };
  try {
    const config = parseBillingConfig(env, requirements);
    const context = await createBillingContext({ config, webhookOptions: { log } });
    return { config, context, routeWebhookLogTo: (next) => void (logger = next) };
  } catch (error) {
    console.error(`Configuration error: ${messageOf(error)}`);
    process.exitCode = 1;
    return null;
  }
}
