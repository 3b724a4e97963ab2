import { randomUUID } from 'node:crypto';
import type { FastifyServerOptions } from 'fastify';
import type { LogLevel } from '../../io/config.js';

/**
 * Whatever could carry a credential, wherever a log line might hold it: request headers, a Stripe
 * SDK error's raw request, our own fields. pino replaces them with "[redacted]" before writing.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'headers.authorization',
  'headers["stripe-signature"]',
  '*.token',
  '*.secret',
  '*.apiKey',
  '*.password',
  'err.raw.headers',
  'err.headers',
];

export type LoggerSetting = boolean | LogLevel | Exclude<FastifyServerOptions['logger'], boolean | undefined>;

/**
 * One logger for the whole server: Fastify's pino, JSON lines with a request id (`reqId`, taken from an
 * incoming `x-request-id` when the caller sent one, else a UUID) on every line of a request.
 */
export function loggerOptions(
  setting: LoggerSetting,
): Pick<FastifyServerOptions, 'logger' | 'genReqId' | 'requestIdHeader'> {
  const base = { genReqId: () => randomUUID(), requestIdHeader: 'x-request-id' };
  if (setting === false) return { ...base, logger: false };
  const options =
    setting === true ? { level: 'info' } : typeof setting === 'string' ? { level: setting } : setting;
  return { ...base, logger: { ...options, redact: { paths: REDACT_PATHS, censor: '[redacted]' } } };
}
